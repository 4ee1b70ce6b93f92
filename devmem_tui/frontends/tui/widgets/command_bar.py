"""The command bar: an Input that takes any command, with the REPL's completion
(devmem_tui.frontends.complete), Tab to complete, Up/Down for history, Esc to leave."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input

from devmem_tui.commands.grammar import START, advance, closure, split_commands, split_partial
from devmem_tui.commands.registry import CommandSpec, UsageError
from devmem_tui.commands.session import ALIASES, REGISTRY, Session, load_all, lookup
from devmem_tui.frontends.complete import complete
from devmem_tui.frontends.output import display, typed


def completions(text: str, session: Session | None) -> list[tuple[str, str]]:
    """(completed line, display) pairs for text with the cursor at its end."""
    try:
        sugg = complete(text, session)
    except Exception:  # completion must never break typing
        return []
    out = []
    for s in sugg:
        base = text[: len(text) + s.start] if s.start else text
        out.append((base + s.text, s.display or s.text))
    return out


class CompleterSuggester(Suggester):
    """Ghost text from the first completion (accept with Right or Tab)."""

    def __init__(self, session: Callable[[], Session]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._session = session

    async def get_suggestion(self, value: str) -> str | None:
        if not value.strip():
            return None
        opts = completions(value, self._session())
        if not opts:
            return None
        line = opts[0][0]
        return line if line.startswith(value) and line != value else None


def matching_usages(spec: CommandSpec[Session], args: list[str], typing: str = "") -> list[str]:
    """The usages of spec that the arguments typed so far fit, ``typing`` being the word
    under the cursor (all of them when none does): after ``vmem add`` (or ``vmem ad``)
    only the ``vmem add ...`` form is left."""
    out = []
    for usage, slots in zip(spec.usages, spec.usage_slots, strict=True):
        states = {START}
        for i, word in enumerate(args):
            states, _ = advance(slots, states, word, i)
            if not states:
                break
        if states and typing:
            nxt = [
                alt
                for st in closure(slots, states)
                if st.pos < len(slots)
                for alt in slots[st.pos].alts
            ]
            if not any(alt.literal is None or alt.literal.startswith(typing) for alt in nxt):
                continue
        if states:
            out.append(usage)
    return out or list(spec.usages)


REMINDER = "Enter runs · Tab completes · ↑↓ history · ; chains commands · Esc leaves"


def usage_hint(text: str) -> Text:
    """The usage of the command being typed (the forms that still fit what is typed after
    the last ';'), or a short reminder. Plain Text: usages keep their [brackets]."""
    load_all()
    words, partial, _ = split_partial(split_commands(text)[-1])
    if not words:
        if partial is None:
            return Text(REMINDER, style="dim")
        names = sorted(n for n in (*REGISTRY, *ALIASES) if n.startswith(partial.text))
        if partial.text not in names:
            if names:
                return Text("commands: " + "  ".join(names), style="dim")
            return Text(display(f"unknown command {partial.text!r}"), style="yellow")
        words, partial = [partial], None
    try:
        spec = lookup(words[0].text)
    except UsageError:
        return Text(display(f"unknown command {words[0].text!r}"), style="yellow")
    typing = partial.text if partial is not None else ""
    usages = matching_usages(spec, [w.text for w in words[1:]], typing)
    if len(usages) > 1:  # the forms are what matter here; `help` has the summary
        return Text(" | ".join(usages), style="dim")
    return Text(f"{usages[0]}  — {spec.form_summary(usages[0])}", style="dim")


class CommandBar(Input):
    BINDINGS = [
        Binding("tab", "complete", "Complete", show=False, id="bar.complete"),
        Binding("up", "history(-1)", "Previous", show=False, id="bar.history_prev"),
        Binding("down", "history(1)", "Next", show=False, id="bar.history_next"),
        Binding("escape", "leave", "Leave", show=False, id="bar.leave"),
    ]

    class Hint(Message):
        """Text for the hint line under the bar (usage, or the completion candidates)."""

        def __init__(self, text: Text) -> None:
            super().__init__()
            self.text = text

    class Leave(Message):
        pass

    class Focused(Message):
        def __init__(self, focused: bool) -> None:
            super().__init__()
            self.focused = focused

    def on_focus(self) -> None:
        self.post_message(self.Focused(True))

    def on_blur(self) -> None:
        self.post_message(self.Focused(False))

    def __init__(self, session: Callable[[], Session], **kw: Any) -> None:
        super().__init__(
            placeholder=": command (help lists them)", suggester=CompleterSuggester(session), **kw
        )
        self._session = session
        self.history: list[str] = []
        self._hpos = 0

    def replace(self, text: str, start: int, end: int) -> None:
        """Every insertion (a key, a paste, a completion) goes through here: control and
        separator characters never enter the line (``output.typed``)."""
        super().replace(typed(text), start, end)

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._hpos = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._hpos = max(0, min(len(self.history), self._hpos + step))
        self.value = self.history[self._hpos] if self._hpos < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        text = self.value[: self.cursor_position]
        opts = completions(text, self._session())
        if not opts:
            self.post_message(self.Hint(Text("no completions", style="dim")))
            return
        lines = [o[0] for o in opts]
        common = os.path.commonprefix(lines)
        if len(lines) == 1:
            common = lines[0] + ("" if lines[0].endswith(("/", "=")) else " ")
        if len(common) > len(text):
            self.value = common + self.value[self.cursor_position :]
            self.cursor_position = len(common)
        if len(lines) > 1:
            shown = "  ".join(o[1] for o in opts[:30])
            more = f"  (+{len(opts) - 30})" if len(opts) > 30 else ""
            self.post_message(self.Hint(Text(display(shown + more))))

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def on_input_changed(self, event: Input.Changed) -> None:
        self.post_message(self.Hint(usage_hint(event.value)))
