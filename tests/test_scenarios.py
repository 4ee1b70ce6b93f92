"""Play every lesson shipped in the package (devmem_tui/lessons/) with the real player and
check the lessons' shape, the quiz questions they ask, and the scenarios/ links a checkout
keeps for them.

Each lesson runs from a fresh session on the default preset; the player exits 0 only when
every ``expect`` in the file holds.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from devmem_tui.frontends import cli
from devmem_tui.scenario import quiz
from devmem_tui.scenario.lessons import all_lessons, find_lesson, lesson_dir
from devmem_tui.scenario.script import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(lesson_dir().glob("*.scenario"))
NAME = re.compile(r"^\d\d-[a-z0-9]+(-[a-z0-9]+)*\.scenario$")


def play(*args: str) -> tuple[int, str]:
    """Run ``devmem-tui play ARGS`` in-process; return (exit code, transcript)."""
    out = io.StringIO()
    code: int | None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = cli.main(["play", *args])
        except SystemExit as e:  # argparse / sys.exit paths
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    return (0 if code is None else code), out.getvalue()


def test_there_are_at_least_twelve_lessons() -> None:
    assert len(SCENARIOS) >= 12
    numbers = [int(p.name[:2]) for p in SCENARIOS]
    assert numbers == list(range(1, len(SCENARIOS) + 1)), "lessons are numbered 01, 02, ..."


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_lesson_shape(path: Path) -> None:
    assert NAME.match(path.name), f"{path.name}: name must be NN-topic.scenario"
    lines = path.read_text().splitlines()
    assert 20 <= len(lines) <= 100, f"{path.name}: {len(lines)} lines (want 20-100)"
    words = [ln.split()[0] for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    assert "say" in words, f"{path.name}: no say narration"
    assert "expect" in words, f"{path.name}: no expect"
    assert lines[0].startswith("#"), f"{path.name}: start with a # header"
    assert lines[1].startswith("# ") and len(lines[1]) > 20, f"{path.name}: line 2 is its summary"
    assert "pause" in words, f"{path.name}: no pause for auto-play to stop at"


def test_the_lessons_ask_questions_in_quiz_mode() -> None:
    """Predict, then see: nearly every lesson has outcomes to predict (lesson 10 is a lesson
    of `compare` tables, which simply run)."""
    asked = {p.name[:2]: len(quiz.questions(load_scenario(str(p)))) for p in SCENARIOS}
    assert sum(asked.values()) >= 100, asked
    assert [n for n, count in asked.items() if count == 0] == ["10"], asked


def test_every_lesson_is_listed_and_found() -> None:
    lessons = all_lessons()
    assert [lesson.path for lesson in lessons] == [str(p) for p in SCENARIOS]
    assert all(lesson.title and lesson.summary for lesson in lessons)
    assert find_lesson("3").name == "03-first-megabyte"
    assert find_lesson("first-megabyte").number == 3
    with pytest.raises(Exception, match="no lesson '99'; lessons are numbered 1-"):
        find_lesson("99")


def test_the_checkout_links_every_lesson_and_copies_none() -> None:
    """scenarios/ keeps `devmem-tui play scenarios/*.scenario` working from a checkout with
    one symbolic link per lesson (and the README), never a second copy of a lesson."""
    links = sorted((ROOT / "scenarios").iterdir())
    assert sorted(p.name for p in links) == sorted([*(p.name for p in SCENARIOS), "README.md"])
    for link in links:
        assert link.is_symlink(), f"{link} is a copy, not a link"
        assert link.resolve() == (lesson_dir() / link.name).resolve()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_lesson_plays_green(path: Path) -> None:
    code, transcript = play(str(path))
    assert code == 0, f"{path.name} failed (exit {code}):\n{transcript[-3000:]}"


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The player (and so the tests above) can fail: a lesson with a false expect exits 1."""
    bad = tmp_path / "99-wrong.scenario"
    bad.write_text(
        "say System RAM above 1 MiB is never readable with STRICT_DEVMEM\n"
        "read 0x100000\nexpect OK\n"
    )
    code, transcript = play(str(bad))
    assert code == 1, transcript
    assert "99-wrong.scenario:3" in transcript
