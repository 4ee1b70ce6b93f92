"""Playing a scenario: run its steps in a session, count what the ``expect``s said, and hand
every result to the caller, which shows it (``devmem-tui play`` prints a transcript, the TUI
logs each step). Nothing here prints.

Relative file names inside a scenario (``load iomem x.iomem``, ``open start.json``) are read
relative to the scenario's own directory. The TUI steps through a scenario in ``StepGroup``s:
the narration, one command and the expects that check it, with ``pause`` marking its stops.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from devmem_tui.commands.grammar import split_line
from devmem_tui.commands.recorder import relocate_paths
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.scenario.script import Scenario, Step


def run_step(session: Session, scenario: Scenario, step: Step) -> Result:
    """Execute one step, with relative file names read from the scenario's directory."""
    session.source = scenario.path
    session.line_no = step.line
    text = relocate_paths(step.text, scenario.base_dir, os.getcwd())
    result = session.execute(text)
    assert result is not None  # steps are never blank
    result.command = step.text
    return result


def play_steps(
    scenario: Scenario, session: Session, steps: Iterable[Step] | None = None
) -> Iterator[tuple[Step, Result]]:
    """Run every step in order (``steps``, read as they play: ``script.stream_steps``; else
    the scenario's list), yielding each with its result as it runs; an ``exit`` step is the
    last."""
    for step in scenario.steps if steps is None else steps:
        result = run_step(session, scenario, step)
        yield step, result
        if result.data.get("exit"):
            break


@dataclass
class Tally:
    """Steps played, ``expect``s that failed, and commands that were usage errors."""

    ran: int = 0
    failed: int = 0
    errors: int = 0

    def count(self, result: Result) -> None:
        self.ran += 1
        if result.expect_failed:
            self.failed += 1
        elif not result.ok:
            self.errors += 1


# ----------------------------------------------------------------------------- stepping
@dataclass
class StepGroup:
    """What one press of "next step" plays: the ``say`` lines (narration shown before it
    runs), one command, the ``expect`` lines that check it, and the ``say`` lines written
    right under them (no blank line between: they explain the result), in file order.
    ``stop`` marks a ``pause`` before it (auto-play stops there)."""

    items: list[Step] = field(default_factory=list)
    stop: bool = False

    def _says(self, before: bool) -> list[str]:
        cmd = self.command
        at = self.items.index(cmd) if cmd is not None else len(self.items)
        part = self.items[:at] if before else self.items[at:]
        return [" ".join(split_line(i.text)[1:]) for i in part if i.name == "say"]

    @property
    def say(self) -> list[str]:
        """The narration before the command (for the TUI's "next step" panel)."""
        return self._says(before=True)

    @property
    def after(self) -> list[str]:
        """The narration that explains the command's result, shown after it ran."""
        return self._says(before=False)

    @property
    def command(self) -> Step | None:
        return next((i for i in self.items if not i.scenario_only), None)

    @property
    def expects(self) -> list[Step]:
        return [i for i in self.items if i.name == "expect"]


def group_steps(items: Iterable[Step]) -> list[StepGroup]:
    """Group a parsed scenario's steps for stepping (see ``StepGroup``)."""
    groups: list[StepGroup] = []
    cur = StepGroup()

    def close() -> None:
        nonlocal cur
        if cur.items:
            groups.append(cur)
            cur = StepGroup()

    for item in items:
        if item.name == "pause":
            close()
            cur.stop = True
        elif item.name == "say":
            prev = cur.items[-1] if cur.items else None
            explains = (
                cur.command is not None
                and prev is not None
                and prev is not cur.command
                and item.line == prev.line + 1
            )
            if not explains and (cur.command is not None or cur.expects):
                close()
            cur.items.append(item)
        elif item.name == "expect":
            cur.items.append(item)
        else:
            if cur.command is not None:
                close()
            cur.items.append(item)
    close()
    return groups
