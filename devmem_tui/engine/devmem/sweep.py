"""The whole address space at once: the verdict of a one-page access, range by range.

``sweep(machine, op, lo, hi)`` cuts [lo, hi] at the addresses where the verdict of a one-page
``read``, ``write``, ``mmap`` or ``kcore`` can change (``edges.verdict_edges``), decides the
first page of each run with the very function the single access calls (``rw.read_mem``,
``rw.write_mem``, ``mmap.mmap_mem`` with ``dry_run``, ``kcore.read_kcore``), and merges
neighbouring runs that end the same way for the same reason. So the number of verdicts, and the
cost, grow with the number of resources, never with the size of memory, and a row always agrees
with the access it summarises: the row holding an address has the outcome that a 4 KiB access
of the page holding it gets.

Each row names the deciding check as the verdict does (``Verdict.decider``): the kernel function,
the reason with the page's own numbers written ``<page>`` (so that a row of many pages says it
once), and the resource that check (or the one that fed it) named.

``diff(old, new)`` overlays two sweeps of the same range and keeps the pieces whose outcome
differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devmem_tui.engine.devmem import kcore, mmap, rw
from devmem_tui.engine.devmem.edges import OPS, phys_limit, verdict_edges
from devmem_tui.engine.devmem.verdict import Line, Outcome, Verdict, render
from devmem_tui.engine.units import PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

__all__ = [
    "OPS",
    "DiffRow",
    "Row",
    "access",
    "diff",
    "overlay",
    "phys_limit",
    "sweep",
    "totals",
]

_PAGE_MASK = PAGE_SIZE - 1


def _read(m: MachineLike, page: int) -> Verdict:
    return rw.read_mem(m, page, PAGE_SIZE)


def _write(m: MachineLike, page: int) -> Verdict:
    return rw.write_mem(m, page, PAGE_SIZE)


def _mmap(m: MachineLike, page: int) -> Verdict:
    return mmap.mmap_mem(m, page, PAGE_SIZE, dry_run=True)


def _kcore(m: MachineLike, page: int) -> Verdict:
    return kcore.read_kcore(m, page, PAGE_SIZE)


_ACCESS: dict[str, Callable[[MachineLike, int], Verdict]] = {
    "read": _read,
    "write": _write,
    "mmap": _mmap,
    "kcore": _kcore,
}


def access(machine: MachineLike, op: str, addr: int) -> Verdict:
    """The one-page access the sweep decides at ``addr``'s page: ``read ADDR 4096``,
    ``write ADDR 4096``, ``mmap ADDR 4096`` (decided, not created) or ``kcore ADDR 4096``."""
    return _ACCESS[op](machine, addr & ~_PAGE_MASK)


# ----------------------------------------------------------------------------- the deciding check
# `func(args) [tag]: rest` - how every trace line starts
_CALL = re.compile(r"(\w+)\(([^()]*)\)(?: \[([^\]]*)\])?: ")
# a resource as trace lines name it ('name' 0xstart-0xend; repr() quoting)
_QUOTED = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_LABEL = re.compile(_QUOTED + r" 0x[0-9a-f]+-0x[0-9a-f]+")
# What a reason may hold that is never the page's own number, kept as it is: a resource's
# label, a range, a value after "=" (``__pa(high_memory - 1) = 0x13fffffff``), a negative
# number; then any other hex number, which is the page's own when it equals one of them.
_TOKEN = re.compile(
    rf"({_QUOTED} 0x[0-9a-f]+-0x[0-9a-f]+|0x[0-9a-f]+-0x[0-9a-f]+|= 0x[0-9a-f]+|-0x[0-9a-f]+)"
    r"|0x[0-9a-f]+"
)


def _split(text: str, page: int) -> tuple[str, str]:
    """(kernel function, reason) of a deciding trace line, the page's own numbers in the
    reason written ``<page>`` (its address or pfn: the two are the same number for page 0),
    ``<page>+0xfff`` and ``<page>+0x1000``, so that every page of a run says the same."""
    m = _CALL.match(text)
    if m is None:
        fn, _, rest = text.partition(":")
        return fn.strip(), rest.strip()
    rest = text[m.end() :]
    if m.group(3):
        rest = f"[{m.group(3)}] {rest}"
    own = {
        hex(page + PAGE_SIZE): "<page>+0x1000",
        hex(page + _PAGE_MASK): "<page>+0xfff",
        hex(page >> PAGE_SHIFT): "<page>",
        hex(page): "<page>",
    }

    def sub(t: re.Match[str]) -> str:
        if t.group(1):
            return t.group(0)  # a resource's label is kept as it is
        return own.get(t.group(0), t.group(0))

    return m.group(1), _TOKEN.sub(sub, rest)


def _line_before(trace: list[Line], decider: Line) -> Line | None:
    """The trace line just before the deciding one: the check whose answer it used."""
    for i in range(len(trace) - 1, 0, -1):
        if trace[i] is decider:
            return trace[i - 1]
    text = render(decider)  # kcore's trace holds the line with its page run appended
    for i in range(len(trace) - 1, 0, -1):
        if render(trace[i]).startswith(text):
            return trace[i - 1]
    return None


def decision(v: Verdict, page: int) -> tuple[Outcome, str, str, str | None]:
    """(outcome, check, reason, resource) of a one-page verdict at ``page``. The resource is
    the first one the deciding line names, else the first the line before it names (the check
    whose answer it used: region_intersects() for devmem_is_allowed(), page_is_ram() for
    kcore), else None."""
    trace, dec = v.raw_lines
    text = render(dec)
    check, reason = _split(text, page)
    found = _LABEL.search(text)
    if found is None:
        before = _line_before(trace, dec)
        if before is not None:
            found = _LABEL.search(render(before))
    return v.outcome, check, reason, found.group(0) if found else None


# ----------------------------------------------------------------------------- rows
@dataclass(frozen=True, slots=True)
class Row:
    """Addresses [start, end] (inclusive) over which a one-page access ends the same way."""

    start: int
    end: int
    outcome: Outcome
    check: str  # the kernel function that decided
    reason: str  # what it said, the page's own numbers written <page>
    resource: str | None  # the resource the deciding check named, as trace lines write it

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def key(self) -> tuple[Outcome, str, str, str | None]:
        return self.outcome, self.check, self.reason, self.resource

    @property
    def decided_by(self) -> str:
        """``check: reason`` and the resource, as the tables print it."""
        text = f"{self.check}: {self.reason}"
        return f"{text}  {self.resource}" if self.resource else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "outcome": self.outcome.value,
            "check": self.check,
            "reason": self.reason,
            "resource": self.resource,
        }


def sweep(machine: MachineLike, op: str, lo: int, hi: int) -> list[Row]:
    """Rows covering [lo, hi] without gaps, in address order; see the module docstring. Each
    row's outcome is that of a 4 KiB ``op`` of any page in it (``access``)."""
    if op not in _ACCESS:
        raise ValueError(f"unknown op {op!r}; ops: {', '.join(OPS)}")
    if lo > hi:
        raise ValueError(f"empty range {lo:#x}-{hi:#x}")
    fn = _ACCESS[op]
    starts = [lo, *verdict_edges(machine, op, lo, hi)]
    out: list[list[Any]] = []  # [start, end, key], merged as they come
    last = len(starts) - 1
    for i, s in enumerate(starts):
        e = starts[i + 1] - 1 if i < last else hi
        page = s & ~_PAGE_MASK
        key = decision(fn(machine, page), page)
        if out and out[-1][2] == key:
            out[-1][1] = e
        else:
            out.append([s, e, key])
    return [Row(s, e, *key) for s, e, key in out]


def totals(rows: list[Row]) -> dict[str, int]:
    """Bytes per outcome word, largest first."""
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r.outcome.value] = sizes.get(r.outcome.value, 0) + r.size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


# ----------------------------------------------------------------------------- diff
@dataclass(frozen=True, slots=True)
class DiffRow:
    """Addresses [start, end] where the outcome differs: ``old`` and ``new`` are the rows of
    each sweep that hold them (their own start and end may reach further)."""

    start: int
    end: int
    old: Row
    new: Row

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def change(self) -> str:
        return f"{self.old.outcome.value} -> {self.new.outcome.value}"

    def to_dict(self) -> dict[str, Any]:
        def side(r: Row) -> dict[str, Any]:
            return {k: v for k, v in r.to_dict().items() if k not in ("start", "end")}

        return {"start": self.start, "end": self.end, "old": side(self.old), "new": side(self.new)}


def overlay(old: list[Row], new: list[Row]) -> Iterator[tuple[int, int, Row, Row]]:
    """Two sweeps of the same range cut where either changes: (start, end, old row, new row)
    for every piece, in address order."""
    if old and new and (old[0].start, old[-1].end) != (new[0].start, new[-1].end):
        raise ValueError("two sweeps of different ranges cannot be compared")
    i = j = 0
    while i < len(old) and j < len(new):
        a, b = old[i], new[j]
        hi = min(a.end, b.end)
        yield max(a.start, b.start), hi, a, b
        if a.end == hi:
            i += 1
        if b.end == hi:
            j += 1


def diff(old: list[Row], new: list[Row]) -> list[DiffRow]:
    """The pieces of the range where the two sweeps (of the same range) give different
    outcomes, in address order: one per pair of overlapping rows (the sweeps already merged
    what ends alike, so two neighbouring pieces always differ on one side)."""
    return [DiffRow(lo, hi, a, b) for lo, hi, a, b in overlay(old, new) if a.outcome != b.outcome]


def diff_totals(rows: list[DiffRow]) -> dict[str, int]:
    """Bytes per change ("EPERM -> OK"), largest first."""
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r.change] = sizes.get(r.change, 0) + r.size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))
