"""The lessons shipped in the package (``devmem_tui/lessons/NN-topic.scenario``), found with
importlib.resources so that an installed devmem-tui (``pipx install``, a wheel) has them as
well as a checkout.

A lesson's first two lines name it: ``# NN - Title`` and ``# one line on what it teaches``.
``devmem-tui lessons`` lists them, ``devmem-tui play --lesson N`` (or ``play N``) plays one,
and the TUI's palette opens one.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

from devmem_tui.engine.errors import DevmemError
from devmem_tui.files import read_text, split_lines

_HEAD = re.compile(r"^#\s*(\d+)\s*-\s*(.+?)\s*$")


class Lesson(NamedTuple):
    number: int
    title: str
    summary: str
    path: str

    @property
    def name(self) -> str:
        return Path(self.path).stem

    @property
    def label(self) -> str:
        """How every front end names a lesson: ``lesson 3: The first megabyte: ...``."""
        return f"lesson {self.number}: {self.title}"


def lesson_dir() -> Path:
    """The directory of the shipped lessons."""
    return Path(str(files("devmem_tui") / "lessons"))


def read_header(path: Path) -> tuple[str, str]:
    """(title, summary) from a lesson's first two lines; read through the file guard like
    every scenario (a lesson directory is a path on disk like any other)."""
    try:
        lines = split_lines(read_text(str(path), "scenario"))
    except DevmemError as e:
        return path.stem, str(e)
    first, second = (lines + ["", ""])[:2]
    m = _HEAD.match(first)
    title = m.group(2) if m else path.stem
    summary = second.lstrip("#").strip()
    return title, summary


def all_lessons() -> list[Lesson]:
    """Every lesson, in number order."""
    out = []
    for path in sorted(lesson_dir().glob("[0-9][0-9]-*.scenario")):
        title, summary = read_header(path)
        out.append(Lesson(int(path.name[:2]), title, summary, str(path)))
    return out


def lesson_at(path: str) -> Lesson | None:
    """The shipped lesson at ``path``, if it is one (``play --tui --lesson N`` is given the
    lesson's path), so that it is named as the palette names it."""
    try:
        target = Path(path).resolve()
    except (OSError, RuntimeError):  # a symlink loop: not a lesson
        return None
    return next((le for le in all_lessons() if Path(le.path).resolve() == target), None)


def find_lesson(which: str) -> Lesson:
    """A lesson by number (``3``, ``03``) or name (``03-first-megabyte``, ``first-megabyte``);
    DevmemError naming the lessons there are when none matches."""
    lessons = all_lessons()
    text = which.strip().removesuffix(".scenario")
    for lesson in lessons:
        if (text.isdigit() and int(text) == lesson.number) or text in (
            lesson.name,
            lesson.name[3:],
        ):
            return lesson
    span = f"1-{len(lessons)}" if lessons else "none installed"
    raise DevmemError(f"no lesson {which!r}; lessons are numbered {span} (devmem-tui lessons)")


def lessons_text(lessons: list[Lesson]) -> str:
    """``devmem-tui lessons``: number, title and one line each, then how to play one."""
    lines = []
    for lesson in lessons:
        lines.append(f"{lesson.number:>2}  {lesson.title}")
        if lesson.summary:
            lines.append(f"    {lesson.summary}")
    lines.append("")
    lines.append(
        "Play one with 'devmem-tui play --lesson N' (or 'play N'); add --tui to step "
        "through it, --quiz to predict each outcome first."
    )
    return "\n".join(lines)
