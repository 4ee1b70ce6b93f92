"""Runs of equal per-block values, found without visiting every block.

The MM's memory-block table and the virtio-mem driver keep one value per memory block (a zone,
a state byte, a sub-block mask), as the kernel does. Views and the session file want them as
runs of equal values (the ``blocks`` table merges neighbouring blocks, a saved file stores
run lengths, zone spans are the ends of the zone's runs): a 4 TiB device has 32,768 memory
blocks but, plugged in one go, a handful of runs.

``RunIndex`` keeps the positions where the value changes from the one before (its *edges*), so
the runs inside [lo, hi) cost O(log n + runs there). The owner calls ``touch(i)`` whenever the
value at i changes (its undo included); the edges around touched positions are settled on the
next query, so a change costs one set insertion and the work is paid once per changed block.
The index is derived data: it is not journaled, because every change to the values it reads,
and every undo of one, touches it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from sortedcontainers import SortedList

_SETTLE_AT = 256


class RunIndex:
    """The edges (positions i with ``value(i) != value(i - 1)``) of a per-block value."""

    __slots__ = ("_value", "_edges", "_dirty")

    def __init__(self, value: Callable[[int], object], edges: Iterable[int] = ()) -> None:
        self._value = value
        self._edges = SortedList(edges)
        self._dirty: set[int] = set()

    def touch(self, i: int) -> None:
        """The value at i changed."""
        dirty = self._dirty
        dirty.add(i)
        if len(dirty) > _SETTLE_AT:  # keep the pending set small (memory), same total work
            self._settle()

    def reset(self, edges: Iterable[int] = ()) -> None:
        """Every value changed: the edges are these (a bulk load)."""
        self._edges = SortedList(edges)
        self._dirty.clear()

    def save(self) -> SortedList:
        """The edges as they are now, for ``load`` (an undo of ``reset``)."""
        self._settle()
        return self._edges

    def load(self, edges: SortedList) -> None:
        self._edges = edges
        self._dirty.clear()

    def _settle(self) -> None:
        dirty = self._dirty
        if not dirty:
            return
        value, edges = self._value, self._edges
        for i in sorted(dirty | {i + 1 for i in dirty}):
            edge = value(i) != value(i - 1)
            if edge != (i in edges):
                if edge:
                    edges.add(i)
                else:
                    edges.remove(i)
        dirty.clear()

    def check(self, lo: int, hi: int) -> None:
        """AssertionError unless the edges in [lo, hi] are exactly where the value changes
        (visits every position: for tests)."""
        self._settle()
        value = self._value
        want = [i for i in range(lo, hi + 1) if value(i) != value(i - 1)]
        assert list(self._edges.irange(lo, hi)) == want, "run index differs from the values"

    def run_end(self, i: int) -> int | None:
        """One past the last position of the run holding i (None: the run never ends)."""
        self._settle()
        edges = self._edges
        k = edges.bisect_right(i)
        return edges[k] if k < len(edges) else None

    def runs(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """The runs [a, b) of equal values that cover [lo, hi), in order."""
        if lo >= hi:
            return
        self._settle()
        a = lo
        for e in self._edges.irange(lo + 1, hi - 1):
            yield a, e
            a = e
        yield a, hi


def cut(lo: int, hi: int, *indexes: RunIndex | tuple[RunIndex, int]) -> list[tuple[int, int]]:
    """[lo, hi) cut wherever any of the indexes has an edge. An index given as (index, scale)
    counts in units of ``scale`` positions of [lo, hi) (big blocks cutting memory blocks)."""
    edges = {lo, hi}
    for item in indexes:
        index, scale = item if isinstance(item, tuple) else (item, 1)
        edges.update(a * scale for a, _b in index.runs(lo // scale, -(-hi // scale)))
    pts = sorted(e for e in edges if lo <= e <= hi)
    return list(zip(pts, pts[1:], strict=False))


def edges_of_runs(runs: Iterable[tuple[int, int, object]], before: object = None) -> list[int]:
    """The edges of values given as consecutive runs (first, count, value), each starting
    where the previous one ended (a gap between runs holds ``before``, the value outside)."""
    out: list[int] = []
    prev, pos = before, None
    for first, n, v in runs:
        if pos is not None and first != pos:  # a gap: the outside value in between
            if prev != before:
                out.append(pos)
            prev = before
        if v != prev:
            out.append(first)
        prev, pos = v, first + n
    if pos is not None and prev != before:
        out.append(pos)
    return out
