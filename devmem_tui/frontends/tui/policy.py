"""What the policy map and the iomem tree's verdict badges show, as pure functions of sweeps
(``commands.sweeps``): the glyph and style of each outcome, the badges of a tree node, and the
lines of the policy map (one range each, before and after for a diff). No widget code here.

Colour is never the only sign: each outcome has its own glyph, so the strip and the badges
read the same under NO_COLOR.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from rich.text import Text

from devmem_tui.commands.sweeps import SweepJob, box_lines
from devmem_tui.engine.devmem.sweep import Row, overlay, phys_limit, sweep
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.units import fmt_size_approx
from devmem_tui.frontends.output import display, outcome_style

# outcome -> (strip glyph, badge glyph)
GLYPHS: dict[str, tuple[str, str]] = {
    "OK": ("█", "✓"),
    "ZEROS": ("▒", "0"),
    "DROPPED": ("▒", "0"),
    "SHORT": ("▞", "½"),
    "EPERM": ("╳", "✗"),
    "EFAULT": ("░", "!"),
    "EINVAL": ("≡", "≠"),
    "EAGAIN": ("≈", "↻"),
    "ENXIO": ("·", "∅"),
    "ENOSYS": ("?", "?"),
}
MIXED = "±"  # a badge over a node whose pages end differently
BADGE_OPS = ("read", "mmap")
STRIP = 6  # cells of the strip


def glyphs(outcome: str) -> tuple[str, str]:
    return GLYPHS.get(outcome, ("▪", "?"))


def style(outcome: str) -> str:
    return outcome_style(outcome)[1]


# ----------------------------------------------------------------------------- badges
def state_key(machine: Machine) -> tuple[object, ...]:
    """What read and mmap verdicts depend on, cheaply compared: the machine, its tree's
    generation (bumped by every change), the config as the rules read it, high_memory and the
    live mappings (their PAT memtypes: the table's version, bumped by every mapping made or
    removed, so the key costs the same with 10 or 100,000 of them). Equal keys mean the sweeps
    would be the same."""
    return (
        id(machine),
        machine.tree.generation,
        machine.config.switches,
        machine.high_memory,
        machine.mappings.version,
    )


class Badges:
    """The read and mmap sweeps of a machine, for the tree's badges: which outcomes the pages
    of a node's range get (one sweep per op, bisected per node)."""

    def __init__(self, machine: Machine) -> None:
        self.key = state_key(machine)
        # the tree shows resources past the physical address limit too (a saved map may)
        kids = machine.tree.root.children
        top = max(phys_limit(machine) - 1, kids[-1].end if kids else 0)
        self.rows = {op: sweep(machine, op, 0, top) for op in BADGE_OPS}
        self._starts = {op: [r.start for r in rows] for op, rows in self.rows.items()}

    def outcomes(self, op: str, start: int, end: int) -> list[str]:
        """The outcomes of the rows overlapping [start, end], in address order, once each."""
        rows, starts = self.rows[op], self._starts[op]
        i = max(0, bisect_right(starts, start) - 1)
        out: dict[str, None] = {}
        while i < len(rows) and rows[i].start <= end:
            out[rows[i].outcome.value] = None
            i += 1
        return list(out)

    def text(self, start: int, end: int) -> Text:
        """`` r✓ m✗``: per op its outcome's badge, ``±`` when the pages end differently."""
        t = Text()
        for op in BADGE_OPS:
            found = self.outcomes(op, start, end)
            t.append(f" {op[0]}")
            if len(found) == 1:
                t.append(glyphs(found[0])[1], style=style(found[0]))
            else:
                t.append(MIXED, style="bold")
        return t


def badge_legend() -> str:
    """The tree pane's subtitle while badges show."""
    shown = ("OK", "ZEROS", "EPERM", "EFAULT", "EINVAL", "EAGAIN")
    return "r/m: " + " ".join(f"{glyphs(o)[1]} {o}" for o in shown) + f" {MIXED} mixed"


# ----------------------------------------------------------------------------- the map
@dataclass(frozen=True)
class MapLine:
    """One range of the policy map: a sweep row, or a piece of a diff (both rows)."""

    start: int
    end: int
    old: Row
    new: Row | None = None

    @property
    def changed(self) -> bool:
        return self.new is not None and self.new.outcome != self.old.outcome

    @property
    def size(self) -> int:
        return self.end - self.start + 1


def map_lines(job: SweepJob) -> list[MapLine]:
    """The ranges the map shows: the sweep's rows, or for a diff every piece where either
    side changes (both rows)."""
    if job.other is None:
        return [MapLine(r.start, r.end, r) for r in job.rows]
    return [MapLine(lo, hi, a, b) for lo, hi, a, b in overlay(job.rows, job.other_rows)]


def _strip(row: Row) -> tuple[str, str]:
    word = row.outcome.value
    return glyphs(word)[0] * STRIP, style(word)


def line_text(line: MapLine) -> Text:
    """A range as the map draws it: the strip (two for a diff, before and after), as many
    lines high as ``box_lines`` says (three for a change), beside it the range, size and
    outcome, and the deciding check (both, for a change; on the first line when the range
    has only one)."""
    side = [line.old] if line.new is None else [line.old, line.new]
    word = line.old.outcome.value
    label = f"{line.start:#018x}-{line.end:#018x}  {fmt_size_approx(line.size):>9}  "
    if line.changed:
        assert line.new is not None
        label += f"{word} -> {line.new.outcome.value}"
        details = [
            display(f"before: {line.old.decided_by}"),
            display(f"after:  {line.new.decided_by}"),
        ]
    else:
        label += word
        details = [display(line.old.decided_by)] if line.new is None else []
    height = max(box_lines(line.size), 1 + len(details) if line.changed else 1)
    t = Text(no_wrap=True, overflow="ellipsis")
    for k in range(height):
        if k:
            t.append("\n")
        for r in side:
            glyph, st = _strip(r)
            t.append(glyph, style=st)
            t.append(" ")
        if line.new is not None:
            t.append("◆ " if line.changed and k == 0 else "  ", style="bold")
        if k == 0:
            t.append(label, style="bold" if line.changed else "")
            if height == 1 and details:
                t.append(f"  {details[0]}", style="dim")
        elif k - 1 < len(details):
            t.append(details[k - 1], style="dim")
    return t


def legend(lines: list[MapLine]) -> Text:
    """The outcomes present, with their glyphs; ◆ for a changed range in a diff."""
    seen: dict[str, None] = {}
    for ln in lines:
        seen[ln.old.outcome.value] = None
        if ln.new is not None:
            seen[ln.new.outcome.value] = None
    t = Text()
    for word in seen:
        t.append(glyphs(word)[0] * 2, style=style(word))
        t.append(f" {word}  ")
    if any(ln.changed for ln in lines):
        t.append("◆ changed", style="bold")
    return t
