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

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

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

    def bounds(self) -> tuple[int, int] | None:
        """The first and the last edge (where values other than the outside one begin and
        end), or None when every value is the outside one."""
        self._settle()
        edges = self._edges
        return (edges[0], edges[-1]) if edges else None

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


def cut(
    lo: int, hi: int, *indexes: RunIndex | RunMap | tuple[RunIndex, int]
) -> list[tuple[int, int]]:
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


_ABSENT: Any = object()


class RunMap(Mapping[int, Any]):
    """A mapping of block ids to values kept as sorted runs [start, end) of one value
    (neighbouring runs of equal values merged): the MM's memory-block table, where a 4 TiB
    device plugged in one go is one run, not 32,768 entries. Reads like a dict; ``set`` and
    ``delete`` change one block in O(log runs); ``runs`` / ``run_end`` / ``bounds`` answer as
    ``RunIndex`` does (absent blocks are one value, None)."""

    __slots__ = ("_starts", "_ends", "_values", "_len")

    def __init__(self, runs: Iterable[tuple[int, int, Any]] = ()) -> None:
        """From (first, count, value) runs in ascending order, apart."""
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._values: list[Any] = []
        self._len = 0
        for first, n, v in runs:
            if self._starts and self._ends[-1] == first and self._values[-1] == v:
                self._ends[-1] = first + n
            else:
                self._starts.append(first)
                self._ends.append(first + n)
                self._values.append(v)
            self._len += n

    # ----------------------------------------------------------------- dict reading
    def _find(self, k: int) -> int:
        """Index of the run holding k, or -1."""
        i = bisect_right(self._starts, k) - 1
        return i if i >= 0 and k < self._ends[i] else -1

    def get(self, k: int, default: Any = None) -> Any:
        i = self._find(k)
        return default if i < 0 else self._values[i]

    def __getitem__(self, k: int) -> Any:
        i = self._find(k)
        if i < 0:
            raise KeyError(k)
        return self._values[i]

    def __contains__(self, k: object) -> bool:
        return isinstance(k, int) and self._find(k) >= 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[int]:
        for s, e in zip(self._starts, self._ends, strict=True):
            yield from range(s, e)

    def __repr__(self) -> str:
        return f"RunMap({list(self.value_runs())!r})"

    # ----------------------------------------------------------------- changes
    def set(self, k: int, v: Any) -> None:
        """Block k now has value v (``_ABSENT``: delete)."""
        starts, ends, values = self._starts, self._ends, self._values
        i = bisect_right(starts, k) - 1
        lo = max(i - 1, 0)  # the window: the run holding k (or before it) and its neighbours
        hi = min(i + 2, len(starts))
        pieces: list[tuple[int, int, Any]] = []
        had = False
        for j in range(lo, hi):
            s, e, val = starts[j], ends[j], values[j]
            if s <= k < e:
                had = True
                if s < k:
                    pieces.append((s, k, val))
                if v is not _ABSENT:
                    pieces.append((k, k + 1, v))
                if k + 1 < e:
                    pieces.append((k + 1, e, val))
            else:
                pieces.append((s, e, val))
        if not had:
            if v is _ABSENT:
                return
            pieces.append((k, k + 1, v))
            pieces.sort(key=_run_start)
        merged: list[tuple[int, int, Any]] = []
        for s, e, val in pieces:
            if merged and merged[-1][1] == s and merged[-1][2] == val:
                merged[-1] = (merged[-1][0], e, val)
            else:
                merged.append((s, e, val))
        starts[lo:hi] = [p[0] for p in merged]
        ends[lo:hi] = [p[1] for p in merged]
        values[lo:hi] = [p[2] for p in merged]
        self._len += (v is not _ABSENT) - had

    def delete(self, k: int) -> None:
        self.set(k, _ABSENT)

    # ----------------------------------------------------------------- runs
    def value_runs(
        self, lo: int | None = None, hi: int | None = None
    ) -> Iterator[tuple[int, int, Any]]:
        """The runs (a, b, value) of present blocks, clipped to [lo, hi)."""
        starts, ends, values = self._starts, self._ends, self._values
        i = 0 if lo is None else max(bisect_right(starts, lo) - 1, 0)
        for j in range(i, len(starts)):
            s, e = starts[j], ends[j]
            if hi is not None and s >= hi:
                break
            if lo is not None:
                if e <= lo:
                    continue
                s = max(s, lo)
            yield s, (e if hi is None else min(e, hi)), values[j]

    def runs(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """The stretches [a, b) of one value (absent blocks: None) covering [lo, hi)."""
        pos = lo
        for a, b, _v in self.value_runs(lo, hi):
            if a > pos:
                yield pos, a
            yield a, b
            pos = b
        if pos < hi:
            yield pos, hi

    def run_end(self, i: int) -> int | None:
        """One past the stretch of one value holding i (None: it never ends)."""
        j = bisect_right(self._starts, i) - 1
        if j >= 0 and i < self._ends[j]:
            return self._ends[j]
        return self._starts[j + 1] if j + 1 < len(self._starts) else None

    def bounds(self) -> tuple[int, int] | None:
        """The first present block and one past the last, or None."""
        return (self._starts[0], self._ends[-1]) if self._starts else None

    def check(self, lo: int = 0, hi: int = 0) -> None:
        """AssertionError unless the runs are sorted, non-empty, apart or of different
        values where they touch, and counted right."""
        runs = list(zip(self._starts, self._ends, self._values, strict=True))
        for (s, e, v), (s2, _e2, v2) in zip(runs, runs[1:], strict=False):
            assert s < e <= s2, "runs out of order or empty"
            assert e < s2 or v != v2, "touching runs of one value not merged"
        assert self._len == sum(e - s for s, e, _v in runs), "block count differs"


def _run_start(run: tuple[int, int, Any]) -> int:
    return run[0]
