"""Predict, then see: the questions a scenario asks in quiz mode (``play --quiz``, and the
TUI's quiz stepping).

Every command that an ``expect OUTCOME`` line checks is a question: before it runs, the learner
names the outcome word they predict; then the real verdict and its trace are shown, and the
answer is scored against the outcome the command really got. ``expect output`` lines check
text, not an outcome, and ``expect DONE`` (a command that simply ran: ``set``, ``compare``)
has nothing to predict: they ask nothing. Nothing here prints or reads input: the front ends
ask.
"""

from __future__ import annotations

from typing import NamedTuple

from devmem_tui.commands.cmd_session import OUTCOME_WORDS, parse_expect
from devmem_tui.commands.grammar import split_line
from devmem_tui.scenario.player import StepGroup
from devmem_tui.scenario.script import Scenario, Step


class Question(NamedTuple):
    command: Step  # the command whose outcome is asked for
    expected: str  # the outcome word its first `expect OUTCOME` names


def _expected(step: Step) -> str | None:
    if step.name != "expect":
        return None
    kind, want = parse_expect(split_line(step.text)[1:])
    return want if kind == "outcome" and want != "DONE" else None


def question_for(group: StepGroup) -> Question | None:
    """The question of one TUI step group: its command and its first expected outcome."""
    if group.command is None:
        return None
    for item in group.expects:
        want = _expected(item)
        if want is not None:
            return Question(group.command, want)
    return None


def questions(scenario: Scenario) -> dict[int, Question]:
    """Questions by the line of the command they ask about, in file order."""
    out: dict[int, Question] = {}
    command: Step | None = None
    for step in scenario.steps:
        if not step.scenario_only:
            command = step
            continue
        want = _expected(step)
        if want is not None and command is not None and command.line not in out:
            out[command.line] = Question(command, want)
    return out


def parse_answer(text: str) -> str | None:
    """An answer as an outcome word (any case, surrounding space ignored); None when it is
    not one."""
    word = text.strip().upper()
    return word if word in OUTCOME_WORDS else None


def score_line(right: int, asked: int, unanswered: int = 0) -> str:
    skipped = f", {unanswered} not answered" if unanswered else ""
    return f"quiz: {right} of {asked} right{skipped}"
