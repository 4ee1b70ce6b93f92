"""The help screen: the keys (with the user's keymap applied) and every command, built from
the same registry as the REPL's `help` and the command palette."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from devmem_tui.commands.render import CONFIG_LETTERS
from devmem_tui.commands.session import all_specs
from devmem_tui.frontends.tui.styles import text_without_color


def commands_text() -> Text:
    t = Text()
    group = None
    for spec in all_specs():
        if spec.group != group:
            group = spec.group
            t.append(f"\n{group}\n", style="bold underline")
        t.append(f"  {spec.usages[0]:<38}", style="bold")
        t.append(f" {spec.summary}\n")
        for extra in spec.usages[1:]:
            t.append(f"  {extra}\n", style="bold")
    return t


def keys_text(rows: list[tuple[str, str]]) -> Text:
    t = Text()
    for key, desc in rows:
        t.append(f"  {key:<14}", style="bold")
        t.append(f" {desc}\n")
    return t


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
        body = Text()
        body.append("devmem-tui help", style="bold")
        body.append("   (Esc closes; Ctrl+P opens the command palette)\n\n", style="dim")
        body.append("Keys\n", style="bold underline")
        body.append_text(keys_text(self.key_rows))
        body.append("\nMoving around (tree and block map)\n", style="bold underline")
        body.append_text(keys_text(self.nav_rows))
        body.append("\nCommands (type them after ':')", style="bold underline")
        body.append_text(commands_text())
        body.append(
            "\nNumbers: 0x1000, 4096, 128M.  Ranges: START-END (inclusive) or START+SIZE.\n"
            "';' runs several commands from one line: set iomem relaxed; read 0xfec00000\n"
            f"{CONFIG_LETTERS}\n"
            "Block map labels: 'm40 online' (or on a narrower pane 'm40 on'; off, add =\n"
            "added with unplugged parts, plg = plugged but not added) name memory block 40.\n"
            "Log: t unfolds long traces; 'set trace short' keeps only the deciding check.\n",
            style="dim",
        )
        if self.app.no_color:
            body = text_without_color(body)
        with VerticalScroll(id="help-box"):
            yield Static(body, id="help-body")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
