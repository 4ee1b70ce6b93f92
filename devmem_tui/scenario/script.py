"""Scenario files: reading one and checking it whole before anything plays.

A scenario is a text file of commands, one per line (``#`` starts a comment), plus the
scenario-only commands ``say TEXT``, ``expect OUTCOME``, ``expect output TEXT`` and ``pause``
(``CommandSpec.scenario_only``). A ``;`` outside quotes in a command line is an error here (in
``say`` and ``expect output`` text it is text): a scenario step is one line, one command, so
that ``file:line`` names it. Every file is read and checked whole before anything runs:
an unknown command word, an ``expect`` with an unknown outcome or with no command before it
is reported as ``file:line: ...`` and nothing plays.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from devmem_tui.commands.cmd_session import parse_expect
from devmem_tui.commands.grammar import has_separator, split_line
from devmem_tui.commands.registry import UsageError, expect_args
from devmem_tui.commands.session import lookup
from devmem_tui.engine.errors import DevmemError
from devmem_tui.files import FileError, iter_lines, read_text


@dataclass(frozen=True, slots=True)
class Step:
    line: int  # 1-based line in the file
    text: str  # the line as written (stripped)
    name: str  # the command's registry name (aliases resolved)
    scenario_only: bool = False  # say, expect, pause


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


def scan(text: str, path: str = "<scenario>") -> Iterator[Step | str]:
    """Each step of a scenario text in order, or in its place the problem of its line
    (``file:line: ...``), one line at a time (nothing is kept: a long script is checked and
    played without holding its steps)."""
    seen_command = False
    for no, raw in enumerate(iter_lines(text), 1):
        words = split_line(raw)
        if not words:
            continue
        where = f"{path}:{no}"
        try:
            spec = lookup(words[0])
        except UsageError as e:
            yield f"{where}: {e}"
            seen_command = True  # one problem per line: no "expect before any command" after
            continue
        text_line = spec.name == "say" or words[1:2] == ["output"]  # free text: ';' is text
        if not text_line and has_separator(raw):
            yield (
                f"{where}: one command per line in a scenario (';' chains commands only "
                "where they are typed: the REPL, the TUI's command bar and 'run')"
            )
            seen_command = True
            continue
        if spec.name == "expect":
            try:
                parse_expect(words[1:])
            except UsageError as e:
                yield f"{where}: {e}"
                continue
            if not seen_command:
                yield f"{where}: expect before any command"
                continue
        elif spec.name == "pause" and len(words) > 1:
            try:
                expect_args(spec, words[1:], 0)
            except UsageError as e:
                yield f"{where}: {e}"
                continue
        elif not spec.scenario_only:
            seen_command = True
        yield Step(no, raw.strip(), spec.name, spec.scenario_only)


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    """Check a whole scenario; ScenarioError lists every problem, file:line first."""
    scenario = Scenario(path)
    problems: list[str] = []
    for item in scan(text, path):
        if isinstance(item, str):
            problems.append(item)
        else:
            scenario.steps.append(item)
    if problems:
        raise ScenarioError(problems)
    return scenario


def read_scenario(path: str) -> str:
    """A scenario file's text (ScenarioError for files that cannot be read)."""
    try:
        return read_text(path, "scenario")  # never /dev/mem, a FIFO, procfs or a device node
    except FileError as e:
        msg = str(e)
        for prefix in (f"cannot open {path}: ", f"cannot read {path}: "):
            msg = msg.replace(prefix, f"{path}: ", 1) if msg.startswith(prefix) else msg
        if msg == f"{path} is not a text scenario (not UTF-8)":
            msg = f"{path}: not a text file (not UTF-8)"
        raise ScenarioError([msg]) from None


def load_scenario(path: str) -> Scenario:
    """Read and check a scenario file (ScenarioError for unreadable files too)."""
    return parse_scenario(read_scenario(path), path)


def stream_steps(path: str) -> Iterator[Step]:
    """The steps of a scenario file one at a time, for playing a file ``check_files`` passed
    (a problem found now, the file having changed since, raises ScenarioError)."""
    for item in scan(read_scenario(path), path):
        if isinstance(item, str):
            raise ScenarioError([item])
        yield item


def check_files(paths: Sequence[str]) -> list[str]:
    """Every problem in every file, before anything plays."""
    problems: list[str] = []
    for p in paths:
        try:
            problems.extend(item for item in scan(read_scenario(p), p) if isinstance(item, str))
        except ScenarioError as e:
            problems.extend(e.problems)
    return problems
