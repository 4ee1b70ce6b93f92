"""The scenario stepped in the TUI (``devmem-tui play --tui FILE``): its steps grouped for
stepping (``player.group_steps``), how far it has got, what its ``expect``s said, and the
text of the scenario panel. The app runs each line through its one way in
(``DevmemApp.run_command``) and owns the auto-play timer; this module holds the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rich.text import Text

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.frontends.output import outcome_style
from devmem_tui.scenario import player
from devmem_tui.scenario.player import StepGroup
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

    @classmethod
    def load(cls, path: str) -> Stepper:
        try:
            scenario = load_scenario(path)
        except ScenarioError as e:
            return cls(path, error=str(e))
        return cls(path, scenario, player.group_steps(scenario.steps))

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps)

    def run_step(self, session: Session, step: Step) -> Result:
        assert self.scenario is not None  # only a loaded scenario has steps
        return player.run_step(session, self.scenario, step)

    def start_group(self) -> StepGroup:
        """The next group to play (the caller runs its items); its report starts empty."""
        group = self.steps[self.index]
        self.index += 1
        self.report = []
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

    def panel_text(self, autoplay: bool, changes: list[str]) -> Text:
        """Progress, the last group's expects and changes, then the next step or the end."""
        t = Text()
        name = os.path.basename(self.path)
        t.append(
            f"▶ {name}  step {min(self.index, len(self.steps))}/{len(self.steps)}",
            style="bold",
        )
        auto = "on" if autoplay else "off"
        t.append(f"   space/enter: next step · a: auto-play ({auto})\n", style="dim")
        for msg, ok in self.report:
            glyph, style = outcome_style("OK" if ok else "EPERM")
            t.append(f"  {glyph} {msg}\n", style=style)
        summary = changes if self.index else []
        if summary:
            t.append("  changed: " + "; ".join(summary[:4]), style="cyan")
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
        else:
            nxt = self.steps[self.index]
            for s in nxt.say:
                t.append(f"  {s}\n", style="italic")
            if nxt.command is not None:
                t.append(f"  next: {nxt.command.text}", style="bold")
        return t
