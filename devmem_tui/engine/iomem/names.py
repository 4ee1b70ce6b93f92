"""The resource tree's name index: name -> the resources of that name, and the distinct names
(all, and those of busy resources) in sorted order for prefix searches.

``release NAME`` and a virtio-mem probe look resources up by name, and completion lists the
names starting with what was typed; walking every resource for that cost milliseconds per
keystroke on a 100,000-resource map. ``ResourceTree`` keeps this index current in the same
place it links and unlinks resources and changes their flags.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sortedcontainers import SortedList

from devmem_tui.engine.iomem.resource import F, Resource

_LAST = "\U0010ffff"  # sorts after every character: the end of a prefix range


def _key(name: str) -> tuple[str, str]:
    return name.lower(), name


def _put(index: dict[str, dict[Resource, None]], r: Resource) -> bool:
    """Add r under its name; True if the name is new."""
    got = index.get(r.name)
    if got is None:
        index[r.name] = {r: None}
        return True
    got[r] = None
    return False


def _take(index: dict[str, dict[Resource, None]], r: Resource) -> bool:
    """Remove r from under its name; True if the name is gone."""
    got = index[r.name]
    del got[r]
    if not got:
        del index[r.name]
        return True
    return False


class NameIndex:
    """Resources by name, plus the sorted distinct names and busy names."""

    __slots__ = ("_by_name", "_busy", "_sorted", "_sorted_busy")

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_name: dict[str, dict[Resource, None]] = {}  # an ordered set per name
        self._busy: dict[str, dict[Resource, None]] = {}  # the busy ones, the same way
        for r in resources:
            _put(self._by_name, r)
            if r.flags & F.BUSY:
                _put(self._busy, r)
        self._sorted = SortedList(map(_key, self._by_name))
        self._sorted_busy = SortedList(map(_key, self._busy))

    def add(self, r: Resource) -> None:
        if _put(self._by_name, r):
            self._sorted.add(_key(r.name))
        if r.flags & F.BUSY:
            self.busy_changed(r, True)

    def remove(self, r: Resource) -> None:
        if _take(self._by_name, r):
            self._sorted.remove(_key(r.name))
        if r.flags & F.BUSY:
            self.busy_changed(r, False)

    def busy_changed(self, r: Resource, busy: bool) -> None:
        """r became busy (or stopped being busy)."""
        if busy:
            if _put(self._busy, r):
                self._sorted_busy.add(_key(r.name))
        elif _take(self._busy, r):
            self._sorted_busy.remove(_key(r.name))

    def get(self, name: str) -> list[Resource]:
        return list(self._by_name.get(name, ()))

    def any(self, name: str) -> Resource | None:
        """One resource of that name (the first indexed), or None."""
        got = self._by_name.get(name)
        return next(iter(got)) if got else None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def busy(self, name: str) -> list[Resource]:
        """The busy resources of that name."""
        return list(self._busy.get(name, ()))

    def busy_count(self, name: str) -> int:
        return len(self._busy.get(name, ()))

    def starting(self, prefix: str, busy: bool = False) -> Iterator[str]:
        """Distinct names starting with prefix (any case), alphabetically (case folded);
        ``busy``: only names some busy resource carries. O(log n + the names yielded)."""
        low = prefix.lower()
        sl = self._sorted_busy if busy else self._sorted
        for _low, name in sl.irange((low,), (low + _LAST,)):
            yield name

    def check(self, resources: Iterable[Resource]) -> None:
        """AssertionError unless the index describes exactly these resources."""
        again = NameIndex(resources)
        assert {k: set(v) for k, v in again._by_name.items()} == {
            k: set(v) for k, v in self._by_name.items()
        }, "name index differs from the tree"
        assert {k: set(v) for k, v in again._busy.items()} == {
            k: set(v) for k, v in self._busy.items()
        }, "busy names differ from the tree"
        assert list(again._sorted) == list(self._sorted)
        assert list(again._sorted_busy) == list(self._sorted_busy)
