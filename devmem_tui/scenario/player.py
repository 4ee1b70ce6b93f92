"""The scenario player: ``devmem-tui play FILE...`` (DESIGN §3, §5).

A scenario is a text file of commands, one per line (``#`` starts a comment), plus the
scenario-only commands ``say TEXT``, ``expect OUTCOME``, ``expect output TEXT`` and ``pause``.
Every file is read and checked whole before anything runs: an unknown command word, an
``expect`` with an unknown outcome or with no command before it is reported as
``file:line: ...`` and nothing plays (exit 2).

Each file plays in a fresh session (the default preset and config, or those the command-line
options chose), so files never depend on the order they are given in. Relative file names
inside a scenario (``load iomem x.iomem``, ``open start.json``) are read relative to the
scenario's own directory.

Exit status: 0 when every ``expect`` holds, 1 when one fails, 2 when a file cannot be read or
checked or a command in it is a usage error.

The TUI steps through the same ``Scenario`` with ``run_step`` (``pause`` marks its stops).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from devmem_tui.commands.registry import Result, UsageError, lookup, split_line
from devmem_tui.commands.session import Session
from devmem_tui.engine.errors import DevmemError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Step:
    line: int  # 1-based line in the file
    text: str  # the line as written (stripped)
    name: str  # the command's registry name (aliases resolved)


@dataclass
class Scenario:
    path: str
    steps: list[Step] = field(default_factory=list)

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    def where(self, step: Step) -> str:
        return f"{self.path}:{step.line}"


class ScenarioError(DevmemError):
    """A scenario that cannot play; ``problems`` lists every ``file:line: ...``."""

    def __init__(self, problems: list[str]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
        self.problems = problems


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    """Check a whole scenario; ScenarioError lists every problem, file:line first."""
    from devmem_tui.commands.cmd_session import parse_expect

    scenario = Scenario(path)
    problems: list[str] = []
    seen_command = False
    for no, raw in enumerate(text.splitlines(), 1):
        words = split_line(raw)
        if not words:
            continue
        where = f"{path}:{no}"
        try:
            spec = lookup(words[0])
        except UsageError as e:
            problems.append(f"{where}: {e}")
            seen_command = True  # one problem per line: no "expect before any command" after
            continue
        if spec.name == "expect":
            try:
                parse_expect(words[1:])
            except UsageError as e:
                problems.append(f"{where}: {e}")
                continue
            if not seen_command:
                problems.append(f"{where}: expect before any command")
                continue
        elif spec.name not in ("say", "pause"):
            seen_command = True
        scenario.steps.append(Step(no, raw.strip(), spec.name))
    if problems:
        raise ScenarioError(problems)
    return scenario


def load_scenario(path: str) -> Scenario:
    """Read and check a scenario file (ScenarioError for unreadable files too)."""
    from devmem_tui.files import check_path

    try:
        check_path(path)  # never /dev/mem, /proc/kcore or a device node
    except DevmemError as e:
        raise ScenarioError([str(e)]) from None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ScenarioError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ScenarioError([f"{path}: is a directory"]) from None
    except UnicodeDecodeError:
        raise ScenarioError([f"{path}: not a text file (not UTF-8)"]) from None
    except OSError as e:
        raise ScenarioError([f"{path}: {e.strerror or e}"]) from None
    return parse_scenario(text, path)


def check_files(paths: Sequence[str]) -> list[str]:
    """Every problem in every file, before anything plays."""
    problems: list[str] = []
    for p in paths:
        try:
            load_scenario(p)
        except ScenarioError as e:
            problems.extend(e.problems)
    return problems


def run_step(session: Session, scenario: Scenario, step: Step) -> Result:
    """Execute one step, with relative file names read from the scenario's directory."""
    from devmem_tui.commands.cmd_session import relocate_paths

    session.source = scenario.path
    session.line_no = step.line
    text = relocate_paths(step.text, scenario.base_dir, os.getcwd())
    result = session.execute(text)
    assert result is not None  # steps are never blank
    result.command = step.text
    return result


# ----------------------------------------------------------------------------- transcript
def _transcript(
    out: IO[str], scenario: Scenario, step: Step, result: Result, trace: bool, color: bool
) -> None:
    from devmem_tui.frontends.cli import _ANSI, format_result

    def w(text: str, style: str = "") -> None:
        out.write((_ANSI[style] + text + _ANSI["reset"] if color and style else text) + "\n")

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
    """Play every step; returns (commands run, expects failed, usage errors)."""
    ran = failed = errors = 0
    for step in scenario.steps:
        result = run_step(session, scenario, step)
        ran += 1
        if result.expect_failed:
            failed += 1
        elif not result.ok:
            errors += 1
        if as_json:
            obj = {"file": scenario.path, **result.to_json(step.line)}
            out.write(json.dumps(obj) + "\n")
        else:
            _transcript(out, scenario, step, result, trace, color)
        out.flush()
        if result.data.get("exit"):
            break
    return ran, failed, errors


def play_files(
    paths: Sequence[str],
    make_session: Callable[[], Session],
    out: IO[str],
    *,
    trace: bool = False,
    as_json: bool = False,
) -> int:
    """``devmem-tui play``: check every file first, then play each in a fresh session."""
    import sys

    from devmem_tui.frontends.cli import want_color

    problems = check_files(paths)
    if problems:
        for p in problems:
            sys.stderr.write(p + "\n")
        return EXIT_USAGE
    color = not as_json and want_color(out)
    total_failed = total_errors = 0
    for path in paths:
        scenario = load_scenario(path)
        if not as_json:
            out.write(f"== {path}\n")
        ran, failed, errors = play_scenario(
            scenario, make_session(), out, trace=trace, as_json=as_json, color=color
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
