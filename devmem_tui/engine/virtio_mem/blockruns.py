"""Run-length set of block indices: the simulator's stand-in for QEMU's bitmap.

QEMU's virtio-mem keeps one bit per device block (``vmem->bitmap``). A 1 TiB
region of 2 MiB blocks is 524,288 bits; the simulator instead stores the set
bits as sorted, disjoint, non-adjacent half-open runs ``[start, end)`` so that
plug-all / unplug-all cost O(runs), not O(blocks).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.journal import Journal
from devmem_tui.engine.json_fields import want_int


def _check_range(first: int, count: int) -> tuple[int, int]:
    """Validate a (first, count) block range and return it as ``[a, b)``."""
    if first < 0:
        raise ValueError(f"block index {first} is negative")
    if count < 0:
        raise ValueError(f"block count {count} is negative")
    return first, first + count


class BlockRuns:
    """A set of non-negative block indices stored as sorted half-open runs.

    Invariant: ``_starts[k] < _ends[k] < _starts[k + 1]`` for every k, i.e.
    runs are sorted, non-empty, disjoint and never touch (adjacent runs are
    merged). ``_total`` caches the number of indices in the set.

    Every change goes through ``_splice``, which records its inverse in the machine's undo
    journal (``attach``, called by the device) and, while someone watches
    (``watch``), the block ranges whose state it flipped, so a view learns what changed in
    O(changes) instead of diffing every run (``changed``).
    """

    __slots__ = ("_starts", "_ends", "_total", "_journal", "_log")

    def __init__(self, runs: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._total: int = 0
        self._journal: Journal | None = None
        self._log: list[tuple[int, int]] | None = None  # flipped ranges since watch()
        for start, end in runs:
            self.set_range(start, end - start)

    def _splice(self, i: int, j: int, starts: list[int], ends: list[int]) -> None:
        """Replace runs i..j-1 by the given runs (the one mutation)."""
        old_s, old_e = self._starts[i:j], self._ends[i:j]
        delta = sum(e - s for s, e in zip(starts, ends, strict=True)) - sum(
            e - s for s, e in zip(old_s, old_e, strict=True)
        )
        journal = self._journal
        if journal is not None and journal.depth:
            journal.record(self._splice, i, i + len(starts), old_s, old_e)
        if self._log is not None:
            self._log += _xor([*zip(old_s, old_e, strict=True)], [*zip(starts, ends, strict=True)])
        self._starts[i:j] = starts
        self._ends[i:j] = ends
        self._total += delta

    def attach(self, journal: Journal | None) -> None:
        """Record every later change's inverse in journal (None: record nothing)."""
        self._journal = journal

    def watch(self) -> None:
        """Start (or restart) logging which blocks change state."""
        self._log = []

    def unwatch(self) -> None:
        """Stop logging."""
        self._log = None

    def changed(self) -> list[tuple[int, int]]:
        """The runs [a, b) of blocks whose state differs from when ``watch`` was called (a
        block set and cleared again is not among them); the log restarts."""
        log, self._log = self._log or [], []
        return _odd_cover(log)

    # --- mutation -----------------------------------------------------------

    def set_range(self, first: int, count: int) -> None:
        """Add blocks ``[first, first + count)`` (QEMU ``bitmap_set``)."""
        a, b = _check_range(first, count)
        if a == b:
            return
        starts, ends = self._starts, self._ends
        # Runs i..j-1 overlap or touch [a, b): end >= a and start <= b.
        i = bisect_left(ends, a)
        j = bisect_right(starts, b)
        new_start, new_end = a, b
        if i < j:
            new_start = min(a, starts[i])
            new_end = max(b, ends[j - 1])
        self._splice(i, j, [new_start], [new_end])

    def clear_range(self, first: int, count: int) -> None:
        """Remove blocks ``[first, first + count)`` (QEMU ``bitmap_clear``)."""
        a, b = _check_range(first, count)
        if a == b:
            return
        starts, ends = self._starts, self._ends
        # Runs i..j-1 overlap [a, b): end > a and start < b.
        i = bisect_right(ends, a)
        j = bisect_left(starts, b)
        if i >= j:
            return
        new_starts: list[int] = []
        new_ends: list[int] = []
        if starts[i] < a:  # left remainder of the first overlapping run
            new_starts.append(starts[i])
            new_ends.append(a)
        if ends[j - 1] > b:  # right remainder of the last overlapping run
            new_starts.append(b)
            new_ends.append(ends[j - 1])
        self._splice(i, j, new_starts, new_ends)

    def clear(self) -> None:
        """Remove every block (QEMU ``bitmap_clear`` over the whole bitmap)."""
        self._splice(0, len(self._starts), [], [])

    # --- queries ------------------------------------------------------------

    def is_set(self, i: int) -> bool:
        """True if block ``i`` is in the set (QEMU ``test_bit``)."""
        k = bisect_right(self._starts, i) - 1
        return k >= 0 and i < self._ends[k]

    def count_in(self, first: int, count: int) -> int:
        """Number of set blocks in ``[first, first + count)``."""
        a, b = _check_range(first, count)
        if a == b:
            return 0
        starts, ends = self._starts, self._ends
        i = bisect_right(ends, a)
        j = bisect_left(starts, b)
        return sum(min(ends[k], b) - max(starts[k], a) for k in range(i, j))

    def all_set(self, first: int, count: int) -> bool:
        """True if every block in the range is set (vacuously true if empty).

        Models QEMU ``virtio_mem_is_range_plugged``.
        """
        a, b = _check_range(first, count)
        if a == b:
            return True
        k = bisect_right(self._starts, a) - 1
        return k >= 0 and self._ends[k] >= b

    def none_set(self, first: int, count: int) -> bool:
        """True if no block in the range is set (vacuously true if empty).

        Models QEMU ``virtio_mem_is_range_unplugged``.
        """
        a, b = _check_range(first, count)
        if a == b:
            return True
        i = bisect_right(self._ends, a)
        return i == len(self._starts) or self._starts[i] >= b

    def total(self) -> int:
        """Number of set blocks, O(1)."""
        return self._total

    def runs(self) -> list[tuple[int, int]]:
        """All runs as ``(start, end_exclusive)`` tuples, ascending."""
        return list(zip(self._starts, self._ends, strict=True))

    def runs_in(self, first: int, count: int) -> list[tuple[int, int]]:
        """Runs intersecting ``[first, first + count)``, clipped to it."""
        a, b = _check_range(first, count)
        if a == b:
            return []
        starts, ends = self._starts, self._ends
        i = bisect_right(ends, a)
        j = bisect_left(starts, b)
        return [(max(starts[k], a), min(ends[k], b)) for k in range(i, j)]

    # --- dunder / serialisation ---------------------------------------------

    def __len__(self) -> int:
        """Number of runs (not blocks: use :meth:`total` for that)."""
        return len(self._starts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BlockRuns):
            return NotImplemented
        return self._starts == other._starts and self._ends == other._ends

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __repr__(self) -> str:
        return f"BlockRuns({self.runs()!r})"

    def copy(self) -> BlockRuns:
        """Independent copy."""
        new = BlockRuns()
        new._starts = list(self._starts)
        new._ends = list(self._ends)
        new._total = self._total
        return new

    def to_list(self) -> list[list[int]]:
        """JSON form: list of ``[start, end_exclusive]`` pairs."""
        return [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]

    @classmethod
    def from_list(cls, data: Any) -> BlockRuns:
        """Inverse of :meth:`to_list`; rejects anything not in canonical form.

        Strict on purpose: a saved state whose runs are unsorted, overlapping,
        adjacent or empty did not come from :meth:`to_list`.
        """
        new = cls()
        prev_end = -1
        if not isinstance(data, list):
            raise ValueError("blocks must be a list of [start, end] pairs")
        for item in data:
            if not isinstance(item, list) or len(item) != 2:
                raise ValueError(f"block run {item!r} is not a [start, end] pair")
            try:  # JSON integers only: 0.5 or true would be truncated to a block number
                start, end = want_int(item[0], "blocks"), want_int(item[1], "blocks")
            except DevmemError as e:
                raise ValueError(str(e)) from None
            if start < 0 or end <= start:
                raise ValueError(f"block run [{start}, {end}] is empty or negative")
            if start <= prev_end:
                raise ValueError(
                    f"block run [{start}, {end}] overlaps, touches or precedes the previous run"
                )
            new._starts.append(start)
            new._ends.append(end)
            new._total += end - start
            prev_end = end
        return new


def _xor(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The symmetric difference of two sorted lists of disjoint runs [s, e)."""
    return _odd_cover(a + b)


def _odd_cover(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The points covered by an odd number of the runs [s, e), as sorted merged runs."""
    edges: dict[int, int] = {}
    for s, e in runs:
        edges[s] = edges.get(s, 0) + 1
        edges[e] = edges.get(e, 0) + 1
    out: list[tuple[int, int]] = []
    inside = False
    start = 0
    for x in sorted(edges):
        if edges[x] % 2:  # an odd number of runs start or end here: the parity flips
            if inside:
                if out and out[-1][1] == start:
                    out[-1] = (out[-1][0], x)
                else:
                    out.append((start, x))
            else:
                start = x
            inside = not inside
    return out
