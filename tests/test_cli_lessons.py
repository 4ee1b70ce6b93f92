"""The command line for learners and for terminals that are not there: `devmem-tui lessons`,
`play --lesson N` / `play N`, `play --quiz` (answers from a pipe), the --trace and --pager
settings, the help texts, and what the TUI and `run` say without a terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devmem_tui.commands.session import Session
from devmem_tui.frontends import cli
from devmem_tui.scenario.lessons import all_lessons


def main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----------------------------------------------------------------------------- lessons
def test_lessons_lists_number_title_and_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = main(capsys, "lessons")
    assert code == 0
    for lesson in all_lessons():
        assert f"{lesson.number:>2}  {lesson.title}\n    {lesson.summary}\n" in out
    assert " 3  The first megabyte: zeros for read, real RAM for mmap" in out
    assert "devmem-tui play --lesson N" in out


@pytest.mark.parametrize("argv", [["--lesson", "3"], ["3"], ["--lesson", "first-megabyte"]])
def test_play_a_lesson_by_number_or_name(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = main(capsys, "play", *argv)
    assert code == 0
    assert out.startswith("== ") and "03-first-megabyte.scenario" in out.splitlines()[0]
    assert out.rstrip().endswith("steps, ok")


def test_a_number_that_names_a_file_is_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "3").write_text("read 0x1000\nexpect ZEROS\n")
    code, out, _ = main(capsys, "play", "3")
    assert code == 0 and out.startswith("== 3\n")


def test_no_such_lesson_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = main(capsys, "play", "--lesson", "99")
    assert code == 2
    assert err == (
        f"devmem-tui: error: no lesson '99'; lessons are numbered 1-{len(all_lessons())} "
        "(devmem-tui lessons)\n"
    )


# ----------------------------------------------------------------------------- quiz
QUIZ = """\
say Low RAM: what does read() get?
read 0x1000
expect ZEROS
say devmem_is_allowed() says 2.

say And above 1 MiB?
read 0x100000
expect EPERM

say A set asks nothing: expect DONE has nothing to predict.
set iomem relaxed
expect DONE
"""


def test_quiz_reads_predictions_from_a_pipe_and_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "q.scenario"
    f.write_text(QUIZ)
    monkeypatch.setattr("sys.stdin", io.StringIO("zeros\nbogus\nOK\n"))
    code, out, _ = main(capsys, "play", "--quiz", str(f))
    assert code == 0  # the expects hold; answers do not change the status
    lines = out.splitlines()
    ask = lines.index("? read 0x1000")
    assert lines[ask - 1] == "Low RAM: what does read() get?"  # the question comes first
    assert lines[ask + 2] == "> read 0x1000"  # then the verdict, with its whole trace
    assert any("devmem_is_allowed(0x1)" in ln for ln in lines[ask:])
    assert "  ✓ you said ZEROS: right" in lines
    assert "  'bogus' is not an outcome word; try again" in lines
    assert "  ✗ you said OK; it is EPERM" in lines
    assert "? set iomem relaxed" not in lines
    assert lines[-1] == "== quiz: 1 of 2 right"


def test_quiz_goes_on_when_the_answers_run_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "q.scenario"
    f.write_text(QUIZ)
    monkeypatch.setattr("sys.stdin", io.StringIO("ZEROS\n"))
    code, out, _ = main(capsys, "play", "--quiz", str(f))
    assert code == 0
    assert "  (no answer) it is EPERM" in out
    assert out.splitlines()[-1] == "== quiz: 1 of 2 right, 1 not answered"


def test_quiz_a_lesson_through_a_real_pipe() -> None:
    """`devmem-tui play --quiz 2 < answers` as a learner would run it."""
    answers = "EPERM\n" * 40
    p = subprocess.run(
        [sys.executable, "-m", "devmem_tui.frontends.cli", "play", "--quiz", "--lesson", "2"],
        input=answers,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert p.returncode == 0, p.stderr
    assert "✓ you said EPERM: right" in p.stdout
    assert p.stdout.splitlines()[-1].startswith("== quiz: ")


# ----------------------------------------------------------------------------- settings
def test_trace_option_modes(capsys: pytest.CaptureFixture[str]) -> None:
    _, on, _ = main(capsys, "run", "-c", "read 0x100000")
    _, short, _ = main(capsys, "run", "--trace", "short", "-c", "read 0x100000")
    _, off, _ = main(capsys, "run", "--trace", "off", "-c", "read 0x100000")
    assert on.count("\n    ") == 3
    assert short.splitlines()[2:] == [
        "    devmem_is_allowed(0x100): System RAM (region_intersects() INTERSECTS) -> 0"
    ]
    assert len(off.splitlines()) == 2


def test_play_trace_takes_a_mode_or_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "t.scenario"
    f.write_text("read 0x100000\nexpect EPERM\n")
    _, plain, _ = main(capsys, "play", str(f))
    _, bare, _ = main(capsys, "play", "--trace", str(f))  # a bare --trace before FILE: on
    _, short, _ = main(capsys, "play", str(f), "--trace", "short")
    assert "valid_phys_addr_range" not in plain
    assert "valid_phys_addr_range" in bare
    assert "devmem_is_allowed" in short and "valid_phys_addr_range" not in short


def test_settings_options_reach_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = cli.build_parser().parse_args(["repl", "--trace", "short", "--pager", "off"])
    session = cli.make_session(ns)
    assert session.settings.trace == "short" and session.settings.pager == "off"
    assert "trace" not in session.config.to_dict() and "pager" not in session.config.to_dict()


def test_help_texts_say_it_right(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = main(capsys, "--help")
    assert ".scn" not in out and "devmem-tui play --lesson 1" in out
    assert out.count("the iomem= boot parameter") == 1
    assert "--trace [on|short|off]" in out and "--pager on|off" in out


# ----------------------------------------------------------------------------- no terminal
def test_the_tui_without_a_terminal_says_what_to_do() -> None:
    """`devmem-tui > out.txt` with no terminal: one line and exit 2, not a TUI spinning on a
    file."""
    p = subprocess.run(
        [sys.executable, "-m", "devmem_tui.frontends.cli"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 2
    assert p.stderr.startswith("devmem-tui: error: the TUI needs a terminal")
    assert "devmem-tui run -c COMMANDS" in p.stderr and p.stderr.count("\n") == 1


def test_run_on_a_terminal_says_it_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty("read 0x1000\n"))
    code, out, err = main(capsys, "run")
    assert code == 0 and "ZEROS" in out
    assert "reading commands from the terminal" in err and "devmem-tui repl" in err


def test_run_from_a_pipe_says_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("read 0x1000; read 0x100000\n"))
    code, out, err = main(capsys, "run")
    assert code == 0 and err == ""
    assert "> read 0x1000\n" in out and "> read 0x100000\n" in out  # ';' in a FILE line too


def test_make_session_builds_fresh_sessions() -> None:
    ns = cli.build_parser().parse_args(["--kernel", "5.15"])
    a, b = cli.make_session(ns), cli.make_session(ns)
    assert isinstance(a, Session) and a is not b and b.config.kernel == "5.15.0"
