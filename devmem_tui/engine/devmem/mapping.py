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

from sortedcontainers import SortedDict, SortedList

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
    sync: bool = False  # opened O_SYNC: PAT memtype UC- instead of WB (x86 PAT conflicts)

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
        self._seq: dict[str, int] = {}  # id -> its place in the order
        self._order: SortedDict = SortedDict()  # place -> (id, Mapping)
        self._next = 0
        # size class -> SortedList of (start, place, id); see _size_class
        self._classes: dict[int, SortedList] = {}

    # ----------------------------------------------------------------- dict interface
    def __getitem__(self, key: str) -> Mapping:
        m: Mapping = self._order[self._seq[key]][1]
        return m

    def get(self, key: str, default: Mapping | None = None) -> Mapping | None:  # type: ignore[override]
        seq = self._seq.get(key)
        if seq is None:
            return default
        m: Mapping = self._order[seq][1]
        return m

    def __contains__(self, key: object) -> bool:
        return key in self._seq

    def __len__(self) -> int:
        return len(self._seq)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _m in self._order.values())

    def values(self) -> Iterator[Mapping]:  # type: ignore[override]
        return (m for _key, m in self._order.values())

    def __setitem__(self, key: str, value: Mapping) -> None:
        if key in self._seq:
            del self[key]  # replacing: drop the old entry first (a new place in the order)
        self._put(key, value, self._next)
        self._next += 1
        if self._journal is not None and self._journal.depth:
            self._journal.record(self._take, key)

    def __delitem__(self, key: str) -> None:
        seq = self._seq[key]
        m = self._take(key)
        if self._journal is not None and self._journal.depth:
            self._journal.record(self._put, key, m, seq)

    def _put(self, key: str, m: Mapping, seq: int) -> None:
        self._seq[key] = seq
        self._order[seq] = (key, m)
        c = _size_class(m.length)
        sl = self._classes.get(c)
        if sl is None:
            sl = self._classes[c] = SortedList()
        sl.add((m.start, seq, key))

    def _take(self, key: str) -> Mapping:
        seq = self._seq.pop(key)
        m: Mapping = self._order.pop(seq)[1]
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
        order = self._order
        for c, sl in self._classes.items():
            longest = ((1 << c) - 1) << PAGE_SHIFT  # no mapping of the class is longer
            for _s, seq, _key in sl.irange((start - longest + 1,), (end, float("inf"))):
                m: Mapping = order[seq][1]
                if m.start + m.length > start:
                    found.append((seq, m))
        found.sort(key=_first)
        return [m for _seq, m in found]

    def check(self) -> None:
        """AssertionError unless the index holds exactly the table's mappings."""
        assert len(self._order) == len(self._seq)
        indexed = sorted((s, k) for sl in self._classes.values() for _st, s, k in sl)
        assert indexed == sorted((s, k) for k, s in self._seq.items())
        assert all(self._order[s][0] == k for k, s in self._seq.items())


def _first(pair: tuple[int, Mapping]) -> int:
    return pair[0]
