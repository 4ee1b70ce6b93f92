"""Sorted lists of inclusive ranges, changed and searched by bisection.

A range list is a plain ``list[tuple[int, int]]`` of inclusive ``(start, end)`` ranges, sorted,
disjoint and never touching (touching ranges are merged), as ``units.merge_ranges`` returns
it: the pinned pages of a machine and the zapped pages of a mapping. Every operation here
bisects to the ranges it concerns and replaces only that slice, so it costs O(log n + the
ranges it changes), and records the inverse of the change in the machine's journal (when one
is given and a transaction is open).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import itemgetter

from devmem_tui.engine.journal import Journal

Ranges = list[tuple[int, int]]

_START = itemgetter(0)
_END = itemgetter(1)


def _restore(ranges: Ranges, i: int, n_new: int, old: Ranges) -> None:
    ranges[i : i + n_new] = old


def _replace(ranges: Ranges, i: int, j: int, new: Ranges, journal: Journal | None) -> None:
    """ranges[i:j] = new, recording the inverse."""
    if journal is not None and journal.depth:
        journal.record(_restore, ranges, i, len(new), ranges[i:j])
    ranges[i:j] = new


def add(ranges: Ranges, a: int, b: int, journal: Journal | None = None) -> None:
    """Add [a, b], merging it with the ranges it overlaps or touches."""
    i = bisect_left(ranges, a - 1, key=_END)  # first range ending at or after a - 1
    j = bisect_right(ranges, b + 1, key=_START)  # past the last starting at or before b + 1
    if i < j:
        a = min(a, ranges[i][0])
        b = max(b, ranges[j - 1][1])
    _replace(ranges, i, j, [(a, b)], journal)


def remove(ranges: Ranges, a: int, b: int, journal: Journal | None = None) -> int:
    """Take [a, b] out (splitting ranges it cuts); returns how many addresses were covered."""
    i = bisect_left(ranges, a, key=_END)  # first range ending at or after a
    j = bisect_right(ranges, b, key=_START)  # past the last starting at or before b
    if i >= j:
        return 0
    freed = sum(min(e, b) - max(s, a) + 1 for s, e in ranges[i:j])
    keep: Ranges = []
    if ranges[i][0] < a:
        keep.append((ranges[i][0], a - 1))
    if ranges[j - 1][1] > b:
        keep.append((b + 1, ranges[j - 1][1]))
    _replace(ranges, i, j, keep, journal)
    return freed


def first_in(ranges: Ranges, a: int, b: int) -> int | None:
    """The lowest covered address in [a, b], or None."""
    i = bisect_left(ranges, a, key=_END)
    if i < len(ranges) and ranges[i][0] <= b:
        return max(a, ranges[i][0])
    return None


def covers(ranges: Ranges, x: int) -> bool:
    """Whether x lies in one of the ranges."""
    i = bisect_right(ranges, x, key=_START) - 1
    return i >= 0 and ranges[i][1] >= x


def in_span(ranges: Ranges, a: int, b: int) -> Ranges:
    """The ranges that overlap [a, b] (not clipped)."""
    i = bisect_left(ranges, a, key=_END)
    j = bisect_right(ranges, b, key=_START)
    return ranges[i:j]
