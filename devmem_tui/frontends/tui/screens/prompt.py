"""Small modal prompts: go to an address, find a resource by name or address, and the quiz's
"what will it give?" question."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from devmem_tui.commands.numbers import parse_number
from devmem_tui.engine.errors import DevmemError
from devmem_tui.frontends.output import display
from devmem_tui.frontends.tui import model


class GotoScreen(ModalScreen[str | None]):
    """Ask for an address; returns the text typed (the app parses it), None on Esc."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto.cancel")]

    def __init__(
        self, title: str = "Go to address (0x..., decimal, or 4G)", placeholder: str = "0x140000000"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt-box"):
            yield Label(Text(self.title_text))
            yield Input(placeholder=self.placeholder, id="goto-input")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FindScreen(ModalScreen[model.Entry | int | None]):
    """Find a resource by name (substring) or by address; returns the chosen resource's
    entry (so a parent and its child that start at the same address are told apart), or
    the address typed, None on Esc. Down moves from the input into the results."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="find.cancel"),
        Binding("down", "results", "Results", show=False, id="find.results"),
    ]

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
            Option(
                Text(
                    f"{'  ' * (len(e.key) - 1)}{model.fmt_range(e.start, e.end)} : "
                    + display(e.name)
                )
            )
            for e in self.hits
        )

    def action_results(self) -> None:
        ol = self.query_one(OptionList)
        if self.focused is not ol and self.hits:
            ol.focus()
            ol.highlighted = 0

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.hits:
            self.dismiss(self.hits[0])
            return
        try:
            self.dismiss(parse_number(text, "address"))
        except DevmemError:
            self.query_one(Label).update(
                Text(f"nothing named or at {display(repr(text))}", style="red")
            )

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.hits[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class QuizScreen(ModalScreen[str | None]):
    """Predict, then see: ask which outcome a command will get. Returns the outcome word
    (typed, completed with Tab or picked from the list), or None on Esc (no answer)."""

    BINDINGS = [
        Binding("escape", "cancel", "No answer", id="quiz.cancel"),
        Binding("down", "words", "Words", show=False, id="quiz.words"),
        Binding("tab", "complete_word", "Complete", show=False, id="quiz.complete"),
    ]

    def __init__(self, command: str, words: tuple[str, ...]) -> None:
        super().__init__()
        self.command = command
        self.words = words

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt-box"):
            yield Label(Text.assemble(("What will ", ""), (self.command, "bold"), (" give?", "")))
            yield Label(
                Text(
                    "Type an outcome word (Tab completes) or pick one; Esc: no answer", style="dim"
                ),
                id="quiz-help",
            )
            yield Input(
                placeholder="OK, EPERM, ZEROS ...",
                id="quiz-input",
                suggester=SuggestFromList(self.words, case_sensitive=False),
            )
            yield OptionList(*(Option(w, id=w) for w in self.words), id="quiz-words")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _options(self, text: str) -> list[str]:
        return [w for w in self.words if w.startswith(text.strip().upper())]

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        ol.add_options(Option(w, id=w) for w in self._options(event.value))

    def action_complete_word(self) -> None:
        inp = self.query_one(Input)
        if self.focused is inp:
            options = self._options(inp.value)
            if options:
                inp.value = options[0]
                inp.cursor_position = len(inp.value)

    def action_words(self) -> None:
        ol = self.query_one(OptionList)
        if self.focused is not ol and ol.option_count:
            ol.focus()
            ol.highlighted = 0

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        word = event.value.strip().upper()
        if word in self.words:
            self.dismiss(word)
            return
        options = self._options(word)
        if len(options) == 1:
            self.dismiss(options[0])
            return
        self.query_one("#quiz-help", Label).update(
            Text(f"{event.value.strip()!r} is not an outcome word", style="red")
        )

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoiceScreen(ModalScreen[str]):
    """Ask a question answered by one key: ``choices`` are (key, label, value); Esc picks
    the last one (the safe answer). Returns the value of the choice."""

    def __init__(self, question: str, choices: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt-box"):
            # Static, not Label: a long question wraps inside the box instead of being cut
            yield Static(Text(display(self.question)), classes="choice-question")
            keys = "  ·  ".join(f"{key}: {label}" for key, label, _ in self.choices)
            yield Static(Text(keys + "  ·  esc: " + self.choices[-1][1], style="dim"))

    def on_key(self, event: Any) -> None:
        event.stop()
        if event.key == "escape":
            self.dismiss(self.choices[-1][2])
            return
        for key, _label, value in self.choices:
            if event.key == key:
                self.dismiss(value)
                return
