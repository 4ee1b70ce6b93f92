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

from devmem_tui.commands.grammar import split_line
from devmem_tui.commands.registry import UsageError
from devmem_tui.commands.session import Session, lookup
from devmem_tui.frontends.complete import complete


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


def usage_hint(text: str) -> Text:
    """The usage of the command being typed, or a short reminder."""
    words = split_line(text)
    if not words:
        return Text("Enter runs · Tab completes · ↑↓ history · Esc leaves", style="dim")
    try:
        spec = lookup(words[0])
    except UsageError:
        return Text(f"unknown command {words[0]!r}", style="yellow")
    return Text(" | ".join(spec.usages) + f"  — {spec.summary}", style="dim")


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
            self.post_message(self.Hint(Text(shown + more)))

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def on_input_changed(self, event: Input.Changed) -> None:
        self.post_message(self.Hint(usage_hint(event.value)))
