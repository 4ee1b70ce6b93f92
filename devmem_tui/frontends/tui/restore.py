"""The TUI's reliability glue: the input driver that survives bytes that are not UTF-8, the
autosave journal (frontends/autosave.py) started when the app mounts with a one-key offer to
restore a session that a crash left behind, and the question a destructive command asks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

from textual.driver import Driver

from devmem_tui.commands.session import Session
from devmem_tui.engine.errors import DevmemError
from devmem_tui.frontends import autosave
from devmem_tui.frontends.output import display
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.screens.prompt import ChoiceScreen


class Host(Protocol):
    """What of the app this module uses (the app satisfies it; no import of the app)."""

    session: Session
    autosave: autosave.Autosave | None
    stepper: Any

    def note(self, text: str, style: str = "") -> None: ...
    def push_screen(self, screen: Any, callback: Callable[[Any], None]) -> Any: ...
    def refresh_views(self, ch: model.Changes | None = None) -> None: ...
    def machine_replaced(self) -> None: ...
    def run_command(self, line: str) -> Any: ...


def input_safe(cls: type[Driver]) -> type[Driver]:
    """Textual's driver, except on Linux terminals: ours decodes input bytes that are not
    UTF-8 as U+FFFD instead of ending the app (frontends/tui/driver.py)."""
    if cls.__name__ == "LinuxDriver":
        # imported here: it needs termios, which only Unix has
        from devmem_tui.frontends.tui.driver import ReplacingLinuxDriver

        return ReplacingLinuxDriver
    return cls


def confirm_then_run(app: Host, question: str, line: str) -> None:
    """A command that would destroy something (``record`` over a file) asks first: on yes,
    run the line that allows it (``ConfirmNeeded``)."""

    def done(answer: str | None) -> None:
        if answer == "yes":
            app.run_command(line)

    app.push_screen(ChoiceScreen(question, [("y", "yes", "yes"), ("n", "no", "no")]), done)


CHOICES = [("r", "restore it", "restore"), ("d", "discard it", "discard"), ("l", "later", "later")]


def start_autosave(app: Host) -> None:
    """Start this session's journal; when a session that did not end cleanly is found (and
    no scenario is being stepped), ask what to do with it. Nothing is restored silently."""
    journal = app.autosave
    if journal is None:
        return
    journal.begin(app.session)
    if journal.problem:
        app.note(f"· {journal.problem}", "dim")
    if app.stepper is not None:
        return  # stepping a scenario: its own session, nothing to restore into
    found = autosave.leftovers(journal.directory)
    if not found:
        return
    lo = found[0]
    question = (
        f"devmem-tui did not exit cleanly: a session autosaved at {lo.started} "
        f"(machine {lo.machine}, {lo.commands} commands) can be restored."
    )
    app.push_screen(ChoiceScreen(question, CHOICES), lambda answer: _answer(app, lo, answer))


def end_autosave(journal: autosave.Autosave, clean: bool) -> None:
    """After the app: a clean exit removes the journal; otherwise say where it is."""
    if clean:
        journal.remove()
    elif journal.active:
        print(
            display(
                f"devmem-tui: the session is autosaved in {journal.path}; "
                "start devmem-tui again to restore it"
            ),
            file=sys.stderr,
        )


def _answer(app: Host, lo: autosave.Leftover, answer: str | None) -> None:
    if answer == "discard":
        autosave.discard(lo)
        app.note(f"· discarded the autosave {lo.path}", "dim")
        return
    if answer != "restore":
        return  # later: offered again at the next start
    before = app.session.machine
    try:
        report = autosave.restore(app.session, lo)
    except DevmemError as e:
        app.note(f"✗ {e}", "bold red")
        return
    autosave.discard(lo)
    app.note(f"✓ {report}", "green")
    if app.autosave is not None:
        app.autosave.begin(app.session)
    ch = model.changes_from(app.session.machine.drain_events(), {})
    ch.machine_replaced = app.session.machine is not before
    app.machine_replaced()
    app.refresh_views(ch)
