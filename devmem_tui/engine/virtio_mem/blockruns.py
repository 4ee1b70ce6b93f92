"""Run-length set of block indices: the simulator's stand-in for QEMU's bitmap.

QEMU's virtio-mem keeps one bit per device block (``vmem->bitmap``). A 1 TiB
region of 2 MiB blocks is 524,288 bits; the simulator instead stores the set
bits as sorted, disjoint, non-adjacent half-open runs ``[start, end)`` so that
plug-all / unplug-all cost O(runs), not O(blocks).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence


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
    """

    __slots__ = ("_starts", "_ends", "_total")

    def __init__(self, runs: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._total: int = 0
        for start, end in runs:
            self.set_range(start, end - start)

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
        removed = 0
        if i < j:
            new_start = min(a, starts[i])
            new_end = max(b, ends[j - 1])
            removed = sum(ends[k] - starts[k] for k in range(i, j))
        starts[i:j] = [new_start]
        ends[i:j] = [new_end]
        self._total += (new_end - new_start) - removed

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
        removed = sum(min(ends[k], b) - max(starts[k], a) for k in range(i, j))
        new_starts: list[int] = []
        new_ends: list[int] = []
        if starts[i] < a:  # left remainder of the first overlapping run
            new_starts.append(starts[i])
            new_ends.append(a)
        if ends[j - 1] > b:  # right remainder of the last overlapping run
            new_starts.append(b)
            new_ends.append(ends[j - 1])
        starts[i:j] = new_starts
        ends[i:j] = new_ends
        self._total -= removed

    def clear(self) -> None:
        """Remove every block (QEMU ``bitmap_clear`` over the whole bitmap)."""
        self._starts.clear()
        self._ends.clear()
        self._total = 0

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
    def from_list(cls, data: Sequence[Sequence[int]]) -> BlockRuns:
        """Inverse of :meth:`to_list`; rejects anything not in canonical form.

        Strict on purpose: a saved state whose runs are unsorted, overlapping,
        adjacent or empty did not come from :meth:`to_list`.
        """
        new = cls()
        prev_end = -1
        for item in data:
            if len(item) != 2:
                raise ValueError(f"block run {list(item)!r} is not a [start, end] pair")
            start, end = int(item[0]), int(item[1])
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
