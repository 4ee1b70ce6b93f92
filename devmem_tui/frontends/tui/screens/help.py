"""The help screen: the keys (with the user's keymap applied) and every command, built from
the same registry as the REPL's `help` and the command palette."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen

from devmem_tui.commands.render import CONFIG_LETTERS
from devmem_tui.commands.session import all_specs
from devmem_tui.frontends.tui.widgets.text_pane import TextPane
from devmem_tui.frontends.tui.widgets.wrapping import Para, paras

KEY_WIDTH = 14  # the key column of the key rows
USAGE_WIDTH = 38  # the usage column of the command rows
SUMMARY_MIN = 40  # narrower than this beside the usages, summaries go on lines of their own
OWN_LINE = 6  # where a summary on its own line starts


def _row(left: str, width: int, right: str, own_line: bool = False) -> list[Para]:
    """A bold left column and its text; a wrapped row continues under the text, not at
    column 1. The text goes on a line of its own when ``own_line``, or when ``left`` is
    wider than its column."""
    head = Text(f"  {left:<{width}}", style="bold")
    if own_line or len(left) > width:
        head.rstrip()
        return [Para(head, hang=4), Para(Text(f"{' ' * OWN_LINE}{right}"), hang=OWN_LINE)]
    head.append(f" {right}", style="not bold")
    return [Para(head, hang=width + 3)]


def commands_text(width: int = 0) -> list[Para]:
    """Every command by group, each of its forms with what that form does; in a pane
    ``width`` cells wide that leaves the summaries too little room beside the usages, each
    summary on a line of its own under its usage."""
    own_line = 0 < width < USAGE_WIDTH + 3 + SUMMARY_MIN
    out: list[Para] = []
    group = None
    for spec in all_specs():
        if spec.group != group:
            group = spec.group
            out += _heading(group)
        for usage in spec.usages:
            out += _row(usage, USAGE_WIDTH, spec.form_summary(usage), own_line)
    return out


def keys_text(rows: list[tuple[str, str]]) -> list[Para]:
    return [p for key, desc in rows for p in _row(key, KEY_WIDTH, desc)]


def _heading(text: str) -> list[Para]:
    return [Para(Text()), Para(Text(text, style="bold underline"))]


class HelpText(TextPane, can_focus=True):
    """The help's text, wrapped like the panes (hanging indents) and laid out again for a
    new width (``build(width)``); focused, so the arrow and page keys scroll it."""

    def __init__(self, build: Callable[[int], list[Para]], **kw: Any) -> None:
        super().__init__(build(0), **kw)
        self._build = build
        self._built_for = 0

    def _wrap(self) -> None:
        width = self.scrollable_content_region.width
        if width > 0 and width != self._built_for:
            self._built_for = width
            self._content = self._build(width)
        super()._wrap()


class HelpScreen(ModalScreen[None]):
    """Keys and commands; Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, key_rows: list[tuple[str, str]], nav_rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.key_rows = key_rows
        self.nav_rows = nav_rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):  # the pane drops colours itself under NO_COLOR
            yield HelpText(self.body, id="help-body")

    def body(self, width: int) -> list[Para]:
        title = Text("devmem-tui help", style="bold")
        title.append("   (Esc closes; Ctrl+P opens the command palette)", style="dim")
        out = [Para(title), *_heading("Keys"), *keys_text(self.key_rows)]
        out += _heading("Moving around (tree and block map)")
        out += keys_text(self.nav_rows)
        out += _heading("Commands (type them after ':')")
        out += commands_text(width)
        notes = Text(
            "\nNumbers: 0x1000, 4096, 128M.  Ranges: START-END (inclusive) or START+SIZE.\n"
            "';' runs several commands from one line: set iomem relaxed; read 0xfec00000\n"
            f"{CONFIG_LETTERS}\n"
            "Block map labels: 'm40 online' (or on a narrower pane 'm40 on'; off, add =\n"
            "added with unplugged parts, plg = plugged but not added) name memory block 40.\n"
            "Log: t unfolds long traces; 'set trace short' keeps only the deciding check.",
            style="dim",
        )
        return out + paras(notes)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
