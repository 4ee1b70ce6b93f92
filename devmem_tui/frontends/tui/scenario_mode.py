"""Scenario stepping in the TUI: the actions behind space (next step), ``b`` (step back),
``R`` (restart), ``a`` (auto-play) and ``[`` / ``]`` (slower / faster), the quiz question
before a step, and opening a lesson from the palette.

``DevmemApp``'s base class: it runs every line through the app's one way in
(``run_command``) and keeps its state in ``app.stepper`` (``stepper.Stepper``). Restart and
step back start over on a fresh session (``app.new_session()``, built from the same options
as the first) and replay the steps before the one to go back to, without logging them: the
machine has no undo, and replaying from the start is what makes "back" exact.

Being the base class, it also formats the title bar for NO_COLOR (``format_title``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import App
from textual.content import Content
from textual.timer import Timer

from devmem_tui.commands.cmd_session import OUTCOME_WORDS
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.commands.settings import AUTOPLAY_MAX, AUTOPLAY_MIN
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.screens.prompt import QuizScreen
from devmem_tui.frontends.tui.stepper import Stepper
from devmem_tui.frontends.tui.styles import text_without_color
from devmem_tui.frontends.tui.widgets.panels import ScenarioPanel

if TYPE_CHECKING:
    from devmem_tui.scenario.script import Step

SPEEDS = (0.25, 0.5, 1.0, 1.5, 2.5, 4.0, 8.0)  # auto-play intervals `[` and `]` step through


class ScenarioApp(App[int]):
    """Scenario actions for DevmemApp, its base class (see the module docstring)."""

    session: Session
    stepper: Stepper | None
    new_session: Callable[[], Session]
    _auto: Timer | None
    last_changes: model.Changes
    quiz: bool

    # DevmemApp's: its one way in, its log, and switching the session it shows
    def run_command(
        self, line: str, step: Step | None = None, merge: bool = False
    ) -> Result | None:
        raise NotImplementedError

    def note(self, text: str, style: str = "") -> None:
        raise NotImplementedError

    def replace_session(self, session: Session) -> None:
        raise NotImplementedError

    def format_title(self, title: str, sub_title: str) -> Content:
        """The title bar. Textual dims the subtitle, which NO_COLOR's greys make dark grey on
        dark grey: there the title is bold and the subtitle in the normal foreground."""
        if not self.no_color or not sub_title:
            return super().format_title(title, sub_title)
        return Content.assemble((title, "bold"), " — ", sub_title)

    # ------------------------------------------------------------------ stepping
    def action_step(self) -> None:
        """Run the next step (narration, command, expects); in quiz mode ask first."""
        st = self.stepper
        if st is None or st.done:
            self._stop_autoplay()
            self._update_scenario()
            return
        q = st.question()
        if q is None:
            self._play_group(None, asked=False)
            return
        self._stop_autoplay()  # a question waits for the learner
        self.push_screen(
            QuizScreen(q.command.text, OUTCOME_WORDS),
            lambda guess: self._play_group(guess, asked=True),
        )

    def _play_group(self, guess: str | None, asked: bool) -> None:
        st = self.stepper
        if st is None or st.done:
            return
        group = st.start_group()
        command_result: Result | None = None
        for n, item in enumerate(group.items):
            result = self.run_command(item.text, step=item, merge=n > 0)
            if item is group.command:
                command_result = result
            if result is not None and item.name == "expect" and st.check(item, result):
                self._stop_autoplay()
        if asked:
            st.score(guess, command_result)
            self.note(f"? {st.verdict}", "bold")
        self._update_scenario()

    def _replay(self, count: int) -> None:
        """A fresh session with the first ``count`` groups played, silently."""
        st = self.stepper
        assert st is not None
        session = self.new_session()
        session.settings = self.session.settings
        st.restart()
        for _ in range(count):
            group = st.start_group()
            for item in group.items:
                result = st.run_step(session, item)
                if item.name == "expect":
                    st.check(item, result)
        st.report, st.explained = [], []
        session.machine.drain_events()
        self.replace_session(session)

    def action_step_back(self) -> None:
        st = self.stepper
        if st is None or st.index == 0:
            return
        self._stop_autoplay()
        target = st.index - 1
        self._replay(target)
        self.note(
            f"◀ back to step {target + 1} of {len(st.steps)} (a fresh machine, "
            f"steps 1-{target} replayed)"
            if target
            else "◀ back to the start (a fresh machine)",
            "bold",
        )
        self._update_scenario()

    def action_restart(self) -> None:
        st = self.stepper
        if st is None:
            return
        self._stop_autoplay()
        self._replay(0)
        self.note("↺ restarted on a fresh machine", "bold")
        self._update_scenario()

    # ------------------------------------------------------------------ auto-play
    def action_autoplay(self) -> None:
        if self._auto is not None:
            self._stop_autoplay()
        else:
            self._start_autoplay()
        self._update_scenario()

    def _start_autoplay(self) -> None:
        self._auto = self.set_interval(self.session.settings.autoplay_delay, self._auto_tick)

    def _stop_autoplay(self) -> None:
        if self._auto is not None:
            self._auto.stop()
            self._auto = None

    def action_speed(self, step: int) -> None:
        """``[`` slower, ``]`` faster: the next interval in SPEEDS (the ``autoplay_delay``
        setting, which ``set autoplay_delay 3s`` also sets)."""
        delay = self.session.settings.autoplay_delay
        if step > 0:  # faster: a shorter interval
            delay = max([s for s in SPEEDS if s < delay] or [AUTOPLAY_MIN])
        else:
            delay = min([s for s in SPEEDS if s > delay] or [AUTOPLAY_MAX])
        self.session.settings.autoplay_delay = delay
        if self._auto is not None:
            self._stop_autoplay()
            self._start_autoplay()
        self._update_scenario()

    def _auto_tick(self) -> None:
        if self._auto is None:
            return  # a tick queued before auto-play stopped (a loaded event loop) plays nothing
        st = self.stepper
        if st is None or st.done:
            self._stop_autoplay()
            self._update_scenario()
            return
        if st.should_pause():
            self._stop_autoplay()  # a `pause` line: there is something to read
            self._update_scenario()
            return
        self.action_step()

    # ------------------------------------------------------------------ panel, lessons
    def open_lesson(self, path: str, title: str) -> None:
        """Step through a lesson (the palette's "lesson N" entries) on a fresh machine."""
        st = Stepper.load(path, title=title, quiz=self.quiz)
        if st.error is not None:
            self.note(f"✗ {st.error}", "bold red")
            return
        self._stop_autoplay()
        self.stepper = st
        self._replay(0)
        panel = self.query_one("#scenario", ScenarioPanel)
        panel.display = True
        self.note(f"▶ {title}: on a fresh machine; space steps through it", "bold")
        self.refresh_bindings()  # the footer now offers the scenario keys
        self._update_scenario()

    def _update_scenario(self) -> None:
        st = self.stepper
        if st is None or not st.steps:
            return
        text = st.panel_text(
            self._auto is not None,
            self.last_changes.summary(),
            self.session.settings.autoplay_delay,
        )
        panel = self.query_one("#scenario", ScenarioPanel)
        panel.border_title = Text(st.heading)  # a Text: a str title would be parsed as markup
        panel.update(text_without_color(text) if self.no_color else text)
