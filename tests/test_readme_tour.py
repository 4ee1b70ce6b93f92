"""The README's tour is exact, wherever a newcomer pastes it: every `devmem-tui run -c '...'`
block's output is what `run` prints, what the REPL prints for the same line typed at its
prompt (pipe input), and what the TUI's command bar runs (its results, rendered as `run`
renders them). A line that is only ``...`` in a README block stands for lines left out."""

from __future__ import annotations

import io
import os
import re
import threading
import time
from pathlib import Path

import pytest

os.environ["TEXTUAL_ANIMATIONS"] = "none"

from prompt_toolkit.history import InMemoryHistory  # noqa: E402
from prompt_toolkit.input import create_pipe_input  # noqa: E402
from prompt_toolkit.output import DummyOutput  # noqa: E402

from devmem_tui.commands.grammar import split_commands  # noqa: E402
from devmem_tui.commands.session import Session  # noqa: E402
from devmem_tui.frontends import cli  # noqa: E402
from devmem_tui.frontends.output import format_result  # noqa: E402
from devmem_tui.frontends.repl import Repl  # noqa: E402
from devmem_tui.frontends.tui.app import DevmemApp  # noqa: E402
from devmem_tui.frontends.tui.widgets.command_bar import CommandBar  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```\n\$ devmem-tui run -c '([^']*)'\n(.*?)```", re.S)
TOUR = [(line, out.rstrip("\n").split("\n")) for line, out in BLOCK.findall(README.read_text())]


def fits(expected: list[str], got: list[str]) -> bool:
    """got is expected, where an expected line that is only '...' matches any lines."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if ln.strip() == "..." else re.escape(ln) + r"\n" for ln in expected
    )
    return re.fullmatch(pattern, "\n".join(got) + "\n") is not None


def echo_free(expected: list[str], line: str) -> list[str]:
    """What a prompt shows for a line of one command: the output without `run`'s echo (the
    typed line is on screen already)."""
    pieces = [p for p in split_commands(line) if p.strip()]
    return expected[1:] if len(pieces) == 1 and expected[0] == f"> {line}" else expected


def test_the_tour_has_its_blocks() -> None:
    assert len(TOUR) >= 4
    assert any(";" in line for line, _ in TOUR)


@pytest.mark.parametrize("line, expected", TOUR, ids=[t[0][:40] for t in TOUR])
def test_run_prints_the_readme_block(
    line: str,
    expected: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    cli.main(["run", "-c", line])
    got = capsys.readouterr().out.rstrip("\n").split("\n")
    assert fits(expected, got), "\n".join(got)


@pytest.mark.parametrize("line, expected", TOUR, ids=[t[0][:40] for t in TOUR])
def test_the_repl_prints_the_readme_block(
    line: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("DEVMEM_TUI_NO_PAGER", "1")
    out = io.StringIO()
    with create_pipe_input() as inp:
        repl = Repl(
            Session.new(), input=inp, output=DummyOutput(), history=InMemoryHistory(), out=out
        )

        def typist() -> None:
            inp.send_text(line + "\r")
            end = time.monotonic() + 10
            while not out.getvalue() and time.monotonic() < end:
                time.sleep(0.01)
            inp.send_text("\x04")

        th = threading.Thread(target=typist, daemon=True)
        th.start()
        repl.run()
        th.join(10)
    got = out.getvalue().rstrip("\n").split("\n")
    assert fits(echo_free(expected, line), got), "\n".join(got)


@pytest.mark.parametrize("line, expected", TOUR, ids=[t[0][:40] for t in TOUR])
async def test_the_tui_bar_runs_the_readme_block(line: str, expected: list[str]) -> None:
    app = DevmemApp(Session.new(), keymap={})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("colon")
        bar = app.query_one(CommandBar)
        bar.value = line
        await pilot.press("enter")
        await pilot.pause()
        got: list[str] = []
        for result in app.results:
            got.append(f"> {result.command}")
            got.extend(format_result(result).split("\n") if format_result(result) else [])
        assert fits(expected, got), "\n".join(got)
        # and the log shows each command of the line, in order
        echoed = [ln for ln in app.transcript if ln.startswith("> ")]
        assert echoed == [f"> {p.strip()}" for p in split_commands(line) if p.strip()]
