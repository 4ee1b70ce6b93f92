"""``devmem-tui play``: check every scenario file first, then play each in a fresh session and
print its transcript (or JSON Lines). The playing is ``scenario.player``'s; this module only
shows it.

Exit status: 0 when every ``expect`` holds, 1 when one fails, 2 when a file cannot be read or
checked or a command in it is a usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import IO

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.frontends.output import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    ansi,
    format_result,
    want_color,
)
from devmem_tui.scenario import player, script
from devmem_tui.scenario.script import Scenario, Step


def _transcript(
    out: IO[str], scenario: Scenario, step: Step, result: Result, trace: bool, color: bool
) -> None:
    def w(text: str, style: str = "") -> None:
        out.write((ansi(text, style) if color and style else text) + "\n")

    if step.name == "say":
        if step is not scenario.steps[0]:
            out.write("\n")  # narration opens a paragraph
        w(format_result(result, trace=False, color=color))
    elif step.name == "pause":
        return
    elif step.name == "expect":
        if result.expect_failed:
            w(f"{scenario.where(step)}: {result.message}", "bad")
        elif not result.ok:
            w(f"{scenario.where(step)}: {result.message}", "bad")
        else:
            w(f"  {step.text}: ok", "dim")
    else:
        w(f"> {step.text}", "bold")
        if not result.ok:
            w(f"{scenario.where(step)}: {result.message}", "bad")
        else:
            body = format_result(result, trace=trace, color=color)
            if body:
                out.write("\n".join("  " + ln for ln in body.splitlines()) + "\n")


def play_scenario(
    scenario: Scenario,
    session: Session,
    out: IO[str],
    *,
    trace: bool = False,
    as_json: bool = False,
    color: bool = False,
) -> tuple[int, int, int]:
    """Play every step, writing each result as it comes (a transcript, or JSON Lines);
    returns (commands run, expects failed, usage errors)."""
    tally = player.Tally()
    for step, result in player.play_steps(scenario, session):
        tally.count(result)
        if as_json:
            obj = {"file": scenario.path, **result.to_json(step.line)}
            out.write(json.dumps(obj) + "\n")
        else:
            _transcript(out, scenario, step, result, trace, color)
        out.flush()
    return tally.ran, tally.failed, tally.errors


def play_files(
    paths: Sequence[str],
    new_session: Callable[[], Session],
    out: IO[str],
    *,
    trace: bool = False,
    as_json: bool = False,
) -> int:
    """``devmem-tui play``: check every file first, then play each in a fresh session."""
    problems = script.check_files(paths)
    if problems:
        for p in problems:
            sys.stderr.write(p + "\n")
        return EXIT_USAGE
    color = not as_json and want_color(out)
    total_failed = total_errors = 0
    for path in paths:
        scenario = script.load_scenario(path)
        if not as_json:
            out.write(f"== {path}\n")
        ran, failed, errors = play_scenario(
            scenario, new_session(), out, trace=trace, as_json=as_json, color=color
        )
        total_failed += failed
        total_errors += errors
        if not as_json:
            verdict = (
                "ok"
                if not failed and not errors
                else f"{failed} expect(s) failed, {errors} error(s)"
            )
            out.write(f"== {path}: {ran} steps, {verdict}\n")
    if total_errors:
        return EXIT_USAGE
    return EXIT_FAIL if total_failed else EXIT_OK
