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


class NameIndex:
    """Resources by name, plus the sorted distinct names and busy names."""

    __slots__ = ("_by_name", "_busy", "_sorted", "_sorted_busy")

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_name: dict[str, dict[Resource, None]] = {}  # an ordered set per name
        self._busy: dict[str, int] = {}  # name -> how many busy resources carry it
        for r in resources:
            got = self._by_name.get(r.name)
            if got is None:
                self._by_name[r.name] = {r: None}
            else:
                got[r] = None
            if r.flags & F.BUSY:
                self._busy[r.name] = self._busy.get(r.name, 0) + 1
        self._sorted = SortedList(map(_key, self._by_name))
        self._sorted_busy = SortedList(map(_key, self._busy))

    def add(self, r: Resource) -> None:
        got = self._by_name.get(r.name)
        if got is None:
            self._by_name[r.name] = {r: None}
            self._sorted.add(_key(r.name))
        else:
            got[r] = None
        if r.flags & F.BUSY:
            self.busy_changed(r.name, +1)

    def remove(self, r: Resource) -> None:
        got = self._by_name[r.name]
        del got[r]
        if not got:
            del self._by_name[r.name]
            self._sorted.remove(_key(r.name))
        if r.flags & F.BUSY:
            self.busy_changed(r.name, -1)

    def busy_changed(self, name: str, delta: int) -> None:
        """One more (+1) or one fewer (-1) busy resource is named ``name``."""
        n = self._busy.get(name, 0) + delta
        if n:
            if name not in self._busy:
                self._sorted_busy.add(_key(name))
            self._busy[name] = n
        else:
            del self._busy[name]
            self._sorted_busy.remove(_key(name))

    def get(self, name: str) -> list[Resource]:
        return list(self._by_name.get(name, ()))

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def busy_count(self, name: str) -> int:
        return self._busy.get(name, 0)

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
        assert again._busy == self._busy, "busy-name counts differ from the tree"
        assert list(again._sorted) == list(self._sorted)
        assert list(again._sorted_busy) == list(self._sorted_busy)
