"""A live ``/dev/mem`` mapping: what ``mmap_mem()`` installed, and what revocation took away;
and ``MappingTable``, the machine's live mappings with an interval index over them.

The kernel finds the mappings of a physical range through interval trees (the PAT memtype
rbtree of arch/x86/mm/pat/memtype_interval.c, the ``i_mmap`` tree ``unmap_mapping_range()``
walks); ``MappingTable.overlapping`` answers the same question in O(log n + the mappings
found), so mmap, claims and revocation cost the same with 10 or 100,000 live mappings.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field

from sortedcontainers import SortedList

from devmem_tui.engine.journal import Journal
from devmem_tui.engine.units import PAGE_SHIFT


@dataclass
class Mapping:
    """A live /dev/mem mmap: [start, start+length), and the page ranges revocation zapped
    (inclusive, sorted and merged: ``engine/ranges.py`` keeps them so)."""

    id: str
    start: int
    length: int
    private: bool = False
    zapped: list[tuple[int, int]] = field(default_factory=list)  # inclusive byte ranges
    sync: bool = False  # opened O_SYNC: asked for UC- instead of WB (x86), Normal-NC (arm64)
    # the memory type the page tables got (memtype.py): x86 PAT WB or UC- (a WB request on
    # MMIO the MTRRs mark uncached gets UC-), arm64 WB, NC or Device-nGnRnE; "" in sessions
    # saved before it was recorded (then UC- if sync, else WB)
    memtype: str = ""

    @property
    def cache_type(self) -> str:
        return self.memtype or ("UC-" if self.sync else "WB")

    @property
    def end(self) -> int:
        return self.start + self.length - 1


def _size_class(length: int) -> int:
    """Mappings are indexed by the bit length of their page count: within one class a
    mapping is at most twice as long as any other, so a range query bisects each class by
    start and looks at no mapping that ends more than a class length before the range."""
    return max(length >> PAGE_SHIFT, 1).bit_length()


class MappingTable(MutableMapping[str, Mapping]):
    """The live mappings by id, in the order they were made (``dict`` semantics), indexed by
    address. Every change records its inverse in the machine's journal; an undone removal
    puts the mapping back at its old place in the order."""

    def __init__(self, journal: Journal | None = None) -> None:
        self._journal = journal
        # id -> (its place in the order, the mapping). A removal that is undone comes back
        # with its old place, so iteration sorts by place (nearly sorted: O(n) for timsort).
        self._items: dict[str, tuple[int, Mapping]] = {}
        self._next = 0
        self._in_order = True  # no undone removal since the last sort
        # size class -> SortedList of (start, place, id); see _size_class
        self._classes: dict[int, SortedList] = {}
        # bumped by every mapping made or removed (and set back when that is undone): views
        # that depend on the live mappings compare it instead of the mappings themselves
        self.version = 0

    # ----------------------------------------------------------------- dict interface
    def __getitem__(self, key: str) -> Mapping:
        return self._items[key][1]

    def get(self, key: str, default: Mapping | None = None) -> Mapping | None:  # type: ignore[override]
        item = self._items.get(key)
        return default if item is None else item[1]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def _ordered(self) -> list[tuple[str, tuple[int, Mapping]]]:
        items = list(self._items.items())
        if not self._in_order:
            items.sort(key=_place)
            self._items = dict(items)  # the dict's own order is right again
            self._in_order = True
        return items

    def __iter__(self) -> Iterator[str]:
        return (key for key, _item in self._ordered())

    def values(self) -> Iterator[Mapping]:  # type: ignore[override]
        return (m for _key, (_seq, m) in self._ordered())

    def __setitem__(self, key: str, value: Mapping) -> None:
        if key in self._items:
            del self[key]  # replacing: drop the old entry first (a new place in the order)
        self._put(key, value, self._next)
        self._next += 1
        self._bump()
        if self._journal is not None and self._journal.depth:
            self._journal.record(self._take, key)

    def __delitem__(self, key: str) -> None:
        seq = self._items[key][0]
        m = self._take(key)
        self._bump()
        if self._journal is not None and self._journal.depth:
            self._journal.record(self._put, key, m, seq)

    def _bump(self) -> None:
        if self._journal is not None and self._journal.depth:
            self._journal.record(self._set_version, self.version)
        self.version += 1

    def _set_version(self, version: int) -> None:
        self.version = version

    def _put(self, key: str, m: Mapping, seq: int) -> None:
        items = self._items
        if items and seq < next(reversed(items.values()))[0]:
            self._in_order = False  # an undone removal: its place is inside the order
        self._items[key] = (seq, m)
        c = _size_class(m.length)
        sl = self._classes.get(c)
        if sl is None:
            sl = self._classes[c] = SortedList()
        sl.add((m.start, seq, key))

    def _take(self, key: str) -> Mapping:
        seq, m = self._items.pop(key)
        c = _size_class(m.length)
        sl = self._classes[c]
        sl.remove((m.start, seq, key))
        if not sl:
            del self._classes[c]
        return m

    # ----------------------------------------------------------------- the index
    def overlapping(self, start: int, end: int) -> list[Mapping]:
        """The mappings that overlap inclusive [start, end], in the table's order."""
        found: list[tuple[int, Mapping]] = []
        items = self._items
        for c, sl in self._classes.items():
            longest = ((1 << c) - 1) << PAGE_SHIFT  # no mapping of the class is longer
            for _s, seq, key in sl.irange((start - longest + 1,), (end, float("inf"))):
                m = items[key][1]
                if m.start + m.length > start:
                    found.append((seq, m))
        found.sort(key=_first)
        return [m for _seq, m in found]

    def check(self) -> None:
        """AssertionError unless the index holds exactly the table's mappings."""
        indexed = sorted((s, k) for sl in self._classes.values() for _st, s, k in sl)
        assert indexed == sorted((s, k) for k, (s, _m) in self._items.items())
        for sl in self._classes.values():
            for start, _s, k in sl:
                assert self._items[k][1].start == start


def _place(item: tuple[str, tuple[int, Mapping]]) -> int:
    return item[1][0]


def _first(pair: tuple[int, Mapping]) -> int:
    return pair[0]
