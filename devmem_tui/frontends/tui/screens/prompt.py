"""Small modal prompts: go to an address, find a resource by name or address."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from devmem_tui.commands.numbers import parse_number
from devmem_tui.engine.errors import DevmemError
from devmem_tui.frontends.tui import model


class GotoScreen(ModalScreen[str | None]):
    """Ask for an address; returns the text typed (the app parses it), None on Esc."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto.cancel")]

    def __init__(self, title: str = "Go to address (0x..., decimal, or 4G)") -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt-box"):
            yield Label(Text(self.title_text))
            yield Input(placeholder="0x140000000", id="goto-input")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FindScreen(ModalScreen[int | None]):
    """Find a resource by name (substring) or by address; returns the start address of the
    chosen resource (or the address typed), None on Esc."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="find.cancel")]

    def __init__(self, search: Callable[[str], list[model.Entry]]) -> None:
        super().__init__()
        self.search = search
        self.hits: list[model.Entry] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt-box"):
            yield Label(Text("Find a resource by name or address (Enter picks the first)"))
            yield Input(placeholder="System RAM, virtio, 0xfed00000 ...", id="find-input")
            yield OptionList(id="find-hits")

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        text = event.value.strip()
        self.hits = self.search(text)[:200] if text else []
        ol.add_options(
            Option(Text(f"{model.fmt_range(e.start, e.end)} : {e.name}")) for e in self.hits
        )

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.hits:
            self.dismiss(self.hits[0].start)
            return
        try:
            self.dismiss(parse_number(text, "address"))
        except DevmemError:
            self.query_one(Label).update(Text(f"nothing named or at {text!r}", style="red"))

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.hits[event.option_index].start)

    def action_cancel(self) -> None:
        self.dismiss(None)
