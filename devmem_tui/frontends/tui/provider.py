"""Command palette provider: every command of the registry (the same list as the REPL's
`help`), every key action of the app, and every shipped lesson.

Choosing a command that needs arguments puts it in the command bar to finish; one that
needs none runs at once. Choosing an action runs it as its key would; choosing a lesson
steps through it on a fresh machine.

The palette parses its texts as Textual markup, in which ``[LEN]`` is a style tag (and
``textual.markup.escape`` only escapes tags that start lowercase): every text here is
escaped (``escape_markup``) or passed as plain ``Content``, so usages keep their brackets.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, cast

from textual import on
from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content
from textual.widgets import Button, Input

from devmem_tui.commands.session import all_specs
from devmem_tui.frontends.output import display
from devmem_tui.scenario.lessons import all_lessons


class PaletteHost(Protocol):
    """What the palette needs of the app (``DevmemApp``): its key actions, and ways to run
    a command, put one in the command bar, or run an action."""

    def action_entries(self) -> list[tuple[str, str, str, str]]: ...

    def prefill(self, text: str) -> None: ...

    def run_command(self, line: str) -> Any: ...

    async def run_action(self, action: str) -> Any: ...

    def open_lesson(self, path: str, title: str) -> None: ...


def escape_markup(text: str) -> str:
    """Text for a place that reads Textual markup, shown as written (any ``[``)."""
    return text.replace("[", "\\[")


def highlight(matcher: Matcher, text: str) -> Content:
    """``Matcher.highlight`` without parsing ``text`` as markup."""
    content = Content(text)
    _, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def palette_entries(app: PaletteHost) -> list[tuple[str, str, Callable[[], object]]]:
    """(text, help, callback) for every command and action, commands first."""
    out: list[tuple[str, str, Callable[[], object]]] = []
    for spec in all_specs():
        if spec.needs_args:
            cb: Callable[[], object] = partial(app.prefill, spec.name + " ")
        else:
            cb = partial(app.run_command, spec.name)
        out.append((spec.usages[0], spec.summary, cb))
    for key, action, title, tip in app.action_entries():
        out.append((f"action: {title} ({key})", tip or title, partial(app.run_action, action)))
    for lesson in all_lessons():
        text = display(lesson.label)  # titles are file data
        out.append((text, display(lesson.summary), partial(app.open_lesson, lesson.path, text)))
    return out


class DevmemCommands(Provider):
    async def discover(self) -> Hits:
        app = cast(PaletteHost, self.app)
        for text, help_text, cb in palette_entries(app):
            yield DiscoveryHit(Content(text), cb, text=text, help=escape_markup(help_text))

    async def search(self, query: str) -> Hits:
        app = cast(PaletteHost, self.app)
        matcher = self.matcher(query)
        for text, help_text, cb in palette_entries(app):
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score, highlight(matcher, text), cb, text=text, help=escape_markup(help_text)
                )


class GuardedCommandPalette(CommandPalette):
    """Textual's command palette, but an Enter that arrives while it is already closing does
    nothing. In Textual 8.2 a second Enter before the palette is gone dismisses it again and
    the app dies with ScreenStackError ("Can't pop screen"); the random key fuzz of the real
    TUI found it (tests/test_terminal.py)."""

    _dismissing = False  # not `_closing`: MessagePump uses that name for its own shutdown

    @on(Input.Submitted)
    @on(Button.Pressed)
    def _ignore_while_closing(self, event: Input.Submitted | Button.Pressed) -> None:
        if self._dismissing:
            event.prevent_default()  # the palette's own handler (a base class) is skipped
            event.stop()

    def _select_or_command(self, event: Input.Submitted | Button.Pressed | None = None) -> None:
        if self._dismissing:
            return
        super()._select_or_command(event)

    def dismiss(self, result: Any = None) -> Any:
        self._dismissing = True
        return super().dismiss(result)
