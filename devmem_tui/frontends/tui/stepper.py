"""The scenario stepped in the TUI (``devmem-tui play --tui FILE``, or a lesson opened from
the palette): its steps grouped for stepping (``player.group_steps``), how far it has got,
what its ``expect``s said, the quiz score, and the text of the scenario panel. The app runs
each line through its one way in (``DevmemApp.run_command``) and owns the auto-play timer and
the fresh sessions that restart and step back need; this module holds the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rich.text import Text

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.frontends.output import display, outcome_style
from devmem_tui.scenario import player
from devmem_tui.scenario.lessons import lesson_at
from devmem_tui.scenario.player import StepGroup
from devmem_tui.scenario.quiz import Question, question_for
from devmem_tui.scenario.script import Scenario, ScenarioError, Step, load_scenario


@dataclass
class Stepper:
    path: str
    scenario: Scenario | None = None
    steps: list[StepGroup] = field(default_factory=list)
    index: int = 0  # the next group to play
    report: list[tuple[str, bool]] = field(default_factory=list)  # the last group's expects
    failures: int = 0
    passes: int = 0
    error: str | None = None  # why the scenario cannot play
    title: str = ""  # a lesson's number and title (Lesson.label), for the panel
    quiz: bool = False  # predict-then-see: ask for each expected outcome first
    asked: int = 0
    right: int = 0
    verdict: str = ""  # the last quiz answer's verdict line
    paused_at: set[int] = field(default_factory=set)  # `pause` stops auto-play already made
    explained: list[str] = field(default_factory=list)  # the last group's closing narration

    @classmethod
    def load(cls, path: str, title: str = "", quiz: bool = False) -> Stepper:
        """The scenario at ``path``; a shipped lesson is titled as the palette titles it,
        however it was opened (the palette, or ``play --tui --lesson N``)."""
        if not title:
            lesson = lesson_at(path)
            title = lesson.label if lesson is not None else ""
        try:
            scenario = load_scenario(path)
        except ScenarioError as e:
            return cls(path, error=str(e), title=title, quiz=quiz)
        return cls(path, scenario, player.group_steps(scenario.steps), title=title, quiz=quiz)

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps)

    def restart(self) -> None:
        """Back to the first step, with the counts cleared (the app brings a fresh session)."""
        self.index = 0
        self.report = []
        self.explained = []
        self.failures = self.passes = self.asked = self.right = 0
        self.verdict = ""
        self.paused_at = set()

    def question(self) -> Question | None:
        """The quiz question of the next group, when quizzing and it has one."""
        if not self.quiz or self.done:
            return None
        return question_for(self.steps[self.index])

    def score(self, guess: str | None, result: Result | None) -> None:
        """Count a quiz answer against the command's real outcome."""
        self.asked += 1
        got = result.outcome if result is not None and result.outcome else "an error"
        if guess and guess == got:
            self.right += 1
            self.verdict = f"you said {guess}: right"
        else:
            said = f"you said {guess}" if guess else "no answer"
            self.verdict = f"{said}; it is {got}"

    def should_pause(self) -> bool:
        """Auto-play stops before a group that a ``pause`` line precedes (once each)."""
        if self.done or not self.steps[self.index].stop or self.index == 0:
            return False
        if self.index in self.paused_at:
            return False
        self.paused_at.add(self.index)
        return True

    def run_step(self, session: Session, step: Step) -> Result:
        assert self.scenario is not None  # only a loaded scenario has steps
        return player.run_step(session, self.scenario, step)

    def start_group(self) -> StepGroup:
        """The next group to play (the caller runs its items); its report starts empty."""
        group = self.steps[self.index]
        self.index += 1
        self.report = []
        self.explained = group.after
        return group

    def check(self, item: Step, result: Result) -> bool:
        """Count an ``expect`` step's result into the report; True when it failed."""
        if result.ok and not result.expect_failed:
            self.passes += 1
            self.report.append((item.text, True))
            return False
        self.failures += 1
        first = result.message.strip().splitlines()[0] if result.message else ""
        assert self.scenario is not None
        self.report.append((f"{self.scenario.where(item)}: {first}", False))
        return True

    @property
    def heading(self) -> str:
        """The panel's title: a lesson's number and title, else the scenario's file name
        (file data, so shown through ``display``)."""
        return display(self.title or f"scenario: {os.path.basename(self.path)}")

    def keys_text(self, autoplay: bool, delay: float) -> str:
        auto = f"on, {delay:g}s" if autoplay else "off"
        return f"space next · b back · R restart · a auto ({auto}) · [ ] speed"

    def panel_text(self, autoplay: bool, changes: list[str], delay: float = 1.5) -> Text:
        """Progress and the keys on one line that fits a 120-column panel (the name is the
        panel's title, ``heading``, which a narrow border cuts short instead of wrapping),
        the last group's expects and changes, then the next step or the end."""
        t = Text()
        t.append(f"▶ step {min(self.index, len(self.steps))}/{len(self.steps)}", style="bold")
        if self.quiz:
            t.append(f"  quiz {self.right}/{self.asked}", style="bold")
        t.append(f"   {self.keys_text(autoplay, delay)}\n", style="dim")
        if self.verdict:
            good = self.verdict.endswith(": right")
            glyph, style = outcome_style("OK" if good else "EPERM")
            t.append(f"  {glyph} {display(self.verdict)}\n", style=style)
        for msg, ok in self.report:
            glyph, style = outcome_style("OK" if ok else "EPERM")
            t.append(f"  {glyph} {display(msg)}\n", style=style)
        for line in self.explained:
            t.append(f"  » {display(line)}\n", style="italic")
        summary = changes if self.index else []
        if summary:
            t.append(display("  changed: " + "; ".join(summary[:4])), style="cyan")
            if len(summary) > 4:
                t.append(f"; +{len(summary) - 4} more", style="cyan")
            t.append("\n")
        if self.done:
            verdict = (
                "all expects hold" if not self.failures else f"{self.failures} expect(s) FAILED"
            )
            t.append(
                f"■ end of scenario: {self.passes} passed, {verdict}",
                style="bold green" if not self.failures else "bold red",
            )
            if self.quiz:
                t.append(f"; quiz: {self.right} of {self.asked} right", style="bold")
        else:
            nxt = self.steps[self.index]
            for s in nxt.say:
                t.append(f"  {display(s)}\n", style="italic")
            if nxt.command is not None:
                ask = self.question() is not None
                t.append(
                    f"  next: {display(nxt.command.text)}"
                    + ("   (predict its outcome)" if ask else ""),
                    style="bold",
                )
        return t
