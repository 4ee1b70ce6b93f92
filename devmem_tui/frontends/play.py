"""``devmem-tui play``: check every scenario file first, then play each in a fresh session and
print its transcript (or JSON Lines). The playing is ``scenario.player``'s; this module only
shows it, and in quiz mode (``play --quiz``) asks for each predicted outcome first.

Exit status: 0 when every ``expect`` holds, 1 when one fails, 2 when a file cannot be read or
checked or a command in it is a usage error. Quiz answers do not change it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO

from devmem_tui.commands.cmd_session import OUTCOME_WORDS
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.frontends.output import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    ansi,
    display,
    format_result,
    isatty,
    want_color,
)
from devmem_tui.scenario import player, quiz, script
from devmem_tui.scenario.script import Scenario, Step

Ask = Callable[[str], str | None]  # a prompt -> the learner's line, None at end of input


def _transcript(
    out: IO[str],
    scenario: Scenario,
    step: Step,
    result: Result,
    trace: str,
    color: bool,
    first: bool = False,
) -> None:
    def w(text: str, style: str = "") -> None:
        out.write((ansi(text, style) if color and style else text) + "\n")

    if step.name == "say":
        if not first:
            out.write("\n")  # narration opens a paragraph
        w(format_result(result, trace="off", color=color))
    elif step.name == "pause":
        if not result.ok:  # counted as an error: say which
            w(display(f"{scenario.where(step)}: {result.message}"), "bad")
    elif step.name == "expect":
        if result.expect_failed:
            w(display(f"{scenario.where(step)}: {result.message}"), "bad")
        elif not result.ok:
            w(display(f"{scenario.where(step)}: {result.message}"), "bad")
        else:
            w(display(f"  {step.text}: ok"), "dim")
    else:
        w(display(f"> {step.text}"), "bold")
        if not result.ok:
            w(display(f"{scenario.where(step)}: {result.message}"), "bad")
        else:
            body = format_result(result, trace=trace, color=color)
            if body:
                out.write("\n".join("  " + ln for ln in body.splitlines()) + "\n")


class Quiz:
    """Asks for a predicted outcome before each question's command and scores the answers."""

    def __init__(self, ask: Ask, out: IO[str], color: bool) -> None:
        self.ask = ask
        self.out = out
        self.color = color
        self.right = self.asked = self.unanswered = 0
        self.ended = False  # input ran out: play on without asking

    def prompt(self, q: quiz.Question) -> str | None:
        """The learner's outcome word for q (None: no answer)."""
        if self.ended:
            return None
        self.out.write(
            f"? {display(q.command.text)}\n  what will it give? ({' '.join(OUTCOME_WORDS)})\n"
        )
        self.out.flush()
        while True:
            line = self.ask("  your prediction> ")
            if line is None:
                self.ended = True
                return None
            if not line.strip():
                return None
            word = quiz.parse_answer(line)
            if word is not None:
                return word
            self.out.write(f"  {display(repr(line.strip()))} is not an outcome word; try again\n")

    def score(self, guess: str | None, result: Result) -> None:
        self.asked += 1
        got = result.outcome or "an error"
        if guess is None:
            self.unanswered += 1
            text, style = f"  (no answer) it is {got}", "dim"
        elif guess == got:
            self.right += 1
            text, style = f"  ✓ you said {guess}: right", "good"
        else:
            text, style = f"  ✗ you said {guess}; it is {got}", "bad"
        self.out.write((ansi(text, style) if self.color else text) + "\n")

    def summary(self) -> str:
        return quiz.score_line(self.right, self.asked, self.unanswered)


def play_scenario(
    scenario: Scenario,
    session: Session,
    out: IO[str],
    *,
    as_json: bool = False,
    color: bool = False,
    ask: Quiz | None = None,
    steps: Iterable[Step] | None = None,
) -> tuple[int, int, int]:
    """Play every step (``steps`` as they are read, else the scenario's list), writing each
    result as it comes (a transcript, or JSON Lines); with a quiz, ask before every
    question's command. Returns (commands run, expects failed, usage errors). Events are
    dropped as they come: nothing here redraws a view, so a long script does not keep them."""
    tally = player.Tally()
    questions = quiz.questions(scenario) if ask is not None else {}
    first = True
    for step, result in player.play_steps(scenario, session, steps):
        session.machine.drain_events()
        tally.count(result)
        if as_json:
            obj = {"file": scenario.path, **result.to_json(step.line)}
            out.write(json.dumps(obj) + "\n")
            out.flush()
            continue
        trace = session.settings.trace
        q = questions.get(step.line)
        if ask is not None and q is not None:
            # The step has run already (play_steps yields after running it), but nothing of
            # it is shown yet: ask, then show the verdict with its whole trace.
            guess = ask.prompt(q)
            shown = "on" if trace == "off" else trace
            _transcript(out, scenario, step, result, shown, color, first)
            if result.ok:
                ask.score(guess, result)
        else:
            _transcript(out, scenario, step, result, trace, color, first)
        first = False
        out.flush()
    return tally.ran, tally.failed, tally.errors


def _line_reader(stream: IO[str]) -> Ask:
    """Answers from a stream (a pipe, a file): one line each, None at its end."""

    def ask(prompt: str) -> str | None:
        line = stream.readline()
        return line.rstrip("\n") if line else None

    return ask


def _terminal_reader() -> Ask:
    """Answers at a terminal: a prompt whose completion offers the outcome words."""
    from prompt_toolkit import PromptSession  # lazy: only a quiz at a terminal prompts
    from prompt_toolkit.completion import WordCompleter

    prompt_session: PromptSession[str] = PromptSession(
        completer=WordCompleter(list(OUTCOME_WORDS), ignore_case=True),
        complete_while_typing=True,
    )

    def ask(prompt: str) -> str | None:
        try:
            return prompt_session.prompt(prompt)
        except EOFError:
            return None

    return ask


def play_files(
    paths: Sequence[str],
    new_session: Callable[[], Session],
    out: IO[str],
    *,
    trace: str | bool = "off",
    as_json: bool = False,
    quiz_input: IO[str] | None = None,
) -> int:
    """``devmem-tui play``: check every file first, then play each in a fresh session whose
    ``trace`` setting starts as given (on, short, off; True is on); with ``quiz_input``, ask
    for predictions read from it (a prompt with completion when it is a terminal)."""
    mode = ("on" if trace else "off") if isinstance(trace, bool) else trace
    problems = script.check_files(paths)
    if problems:
        for p in problems:
            sys.stderr.write(display(p) + "\n")
        return EXIT_USAGE
    color = not as_json and want_color(out)
    ask: Quiz | None = None
    if quiz_input is not None:
        reader = _terminal_reader() if isatty(quiz_input) else _line_reader(quiz_input)
        ask = Quiz(reader, out, color)
    total_failed = total_errors = 0
    for path in paths:
        # a quiz needs every question up front; a plain play reads the steps as they play
        scenario = script.load_scenario(path) if ask is not None else Scenario(path)
        steps = None if ask is not None else script.stream_steps(path)
        if not as_json:
            out.write(display(f"== {path}") + "\n")
        session = new_session()
        session.settings.set("trace", mode)
        ran, failed, errors = play_scenario(
            scenario, session, out, as_json=as_json, color=color, ask=ask, steps=steps
        )
        total_failed += failed
        total_errors += errors
        if not as_json:
            verdict = (
                "ok"
                if not failed and not errors
                else f"{failed} expect(s) failed, {errors} error(s)"
            )
            out.write(display(f"== {path}: {ran} steps, {verdict}") + "\n")
    if ask is not None:
        line = f"== {ask.summary()}"
        out.write((ansi(line, "bold") if color else line) + "\n")
    if total_errors:
        return EXIT_USAGE
    return EXIT_FAIL if total_failed else EXIT_OK
