"""The iomem resource tree, modelled on the kernel's ``struct resource`` (kernel/resource.c).

Resources nest like the kernel's parent/child/sibling lists; each parent keeps its children
sorted by start address. An ``intervaltree.IntervalTree`` indexes every resource at every depth
for point and range queries. Every mutation goes through this module, so the index can never
drift from the tree (``check()`` proves it in tests).
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntFlag

from intervaltree import Interval, IntervalTree

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.units import ADDR_MAX

_START = operator.attrgetter("start")  # bisect key: a resource's start address


class F(IntFlag):
    """IORESOURCE_* flag bits (include/linux/ioport.h)."""

    MEM = 0x00000200
    READONLY = 0x00004000
    SYSRAM = 0x01000000
    SYSRAM_DRIVER_MANAGED = 0x02000000
    SYSRAM_MERGEABLE = 0x04000000
    EXCLUSIVE = 0x08000000
    BUSY = 0x80000000


SYSTEM_RAM = F.MEM | F.SYSRAM
NO_FLAGS = F(0)

# Flag names as written in a `[busy exclusive ...]` annotation, in print order.
FLAG_WORDS: dict[str, F] = {
    "mem": F.MEM,
    "busy": F.BUSY,
    "exclusive": F.EXCLUSIVE,
    "sysram": F.SYSRAM,
    "driver_managed": F.SYSRAM_DRIVER_MANAGED,
    "mergeable": F.SYSRAM_MERGEABLE,
    "readonly": F.READONLY,
}

# IORES_DESC_* values that matter here (include/linux/ioport.h).
DESCS = (
    "none",
    "acpi_tables",
    "acpi_nv_storage",
    "persistent_memory",
    "persistent_memory_legacy",
    "reserved",
    "soft_reserved",
    "cxl",
)


class ResourceConflict(DevmemError):
    """A request that the kernel would refuse with -EBUSY."""


def flags_words(flags: F) -> list[str]:
    return [w for w, bit in FLAG_WORDS.items() if flags & bit]


@dataclass(eq=False, slots=True)
class Resource:
    """One ``struct resource``: inclusive [start, end], name, flags, desc, children by start."""

    start: int
    end: int
    name: str
    flags: F = F.MEM
    desc: str = "none"
    parent: Resource | None = field(default=None, repr=False)
    children: list[Resource] = field(default_factory=list, repr=False)
    # (tree stamp, child start addresses): ResourceTree.child_starts' cache.
    _starts: tuple[tuple[int, int], list[int]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def busy(self) -> bool:
        return bool(self.flags & F.BUSY)

    def is_system_ram(self) -> bool:
        return (self.flags & SYSTEM_RAM) == SYSTEM_RAM

    def contains(self, start: int, end: int) -> bool:
        return self.start <= start and end <= self.end

    def overlaps(self, start: int, end: int) -> bool:
        return self.start <= end and start <= self.end

    @property
    def depth(self) -> int:
        d, p = -1, self.parent
        while p is not None:
            d, p = d + 1, p.parent
        return d

    def chain(self) -> list[Resource]:
        """This resource and its ancestors below the root, outermost first."""
        out: list[Resource] = []
        r: Resource | None = self
        while r is not None and r.parent is not None:
            out.append(r)
            r = r.parent
        return out[::-1]

    def label(self) -> str:
        return f"{self.start:08x}-{self.end:08x} : {self.name}"

    def child_index_at(self, addr: int) -> int:
        """Index of the last child starting at or before addr (-1 if none)."""
        # attrgetter instead of a lambda: no closure per call and a C-level key (chain_at on
        # the 1k benchmark map 3.7 -> 1.6 us; docs/performance.md).
        return bisect.bisect_right(self.children, addr, key=_START) - 1


Observer = Callable[[str, Resource], None]


class ResourceTree:
    """The iomem resource tree with an interval index over every resource."""

    def __init__(self) -> None:
        self.root = Resource(0, ADDR_MAX, "iomem", F.MEM)
        self.index = IntervalTree()
        self.generation = 0  # bumped on every mutation; caches key on it
        self.observers: list[Observer] = []

    # ----------------------------------------------------------------- index upkeep
    def _notify(self, what: str, res: Resource) -> None:
        self.generation += 1
        for obs in self.observers:
            obs(what, res)

    def _index_add(self, res: Resource) -> None:
        self.index.add(Interval(res.start, res.end + 1, res))

    def _index_remove(self, res: Resource) -> None:
        self.index.remove(Interval(res.start, res.end + 1, res))

    def _index_subtree(self, res: Resource, add: bool) -> None:
        for r in self.walk_from(res):
            if add:
                self._index_add(r)
            else:
                self._index_remove(r)

    def _set_range(self, res: Resource, start: int, end: int) -> None:
        self._index_remove(res)
        res.start, res.end = start, end
        self._index_add(res)
        self._notify("change", res)

    def set_flags(self, res: Resource, flags: F) -> None:
        """Change a resource's flags in place (e.g. virtio-mem clearing BUSY on its parent
        right after ``__request_mem_region``), bumping the generation for caches and views."""
        res.flags = F(flags)
        self._notify("change", res)

    # ----------------------------------------------------------------- walking
    def walk(self) -> Iterator[tuple[int, Resource]]:
        """Every resource below the root in /proc/iomem order, with its depth (0 = top)."""
        stack: list[tuple[int, Resource]] = [(0, c) for c in reversed(self.root.children)]
        while stack:
            depth, r = stack.pop()
            yield depth, r
            stack.extend((depth + 1, c) for c in reversed(r.children))

    def walk_from(self, res: Resource) -> Iterator[Resource]:
        stack = [res]
        while stack:
            r = stack.pop()
            yield r
            stack.extend(reversed(r.children))

    def __len__(self) -> int:
        return len(self.index)

    def resources(self) -> list[Resource]:
        return [r for _, r in self.walk()]

    # ----------------------------------------------------------------- queries
    def child_starts(self, node: Resource) -> list[int]:
        """Start addresses of node's children, for key-free bisection on the hot path. Cached
        on the node and stamped with the tree's generation, which every mutation bumps, so a
        stale list can never be used."""
        stamp = (id(self), self.generation)
        got = node._starts
        if got is None or got[0] != stamp:
            got = (stamp, list(map(_START, node.children)))
            node._starts = got
        return got[1]

    def chain_at(self, addr: int) -> list[Resource]:
        """Resources containing addr, outermost first (descends by bisect at each level)."""
        out: list[Resource] = []
        node = self.root
        stamp = (id(self), self.generation)
        while node.children:
            got = node._starts  # child_starts(), inlined: this is the per-page hot path
            if got is None or got[0] != stamp:
                got = node._starts = (stamp, list(map(_START, node.children)))
            i = bisect.bisect_right(got[1], addr) - 1
            if i < 0:
                break
            c = node.children[i]
            if c.end < addr:
                break
            out.append(c)
            node = c
        return out

    def overlapping(self, start: int, end: int) -> list[Resource]:
        """Every resource at any depth overlapping inclusive [start, end], in iomem order."""
        hits = [iv.data for iv in self.index.overlap(start, end + 1)]
        hits.sort(key=lambda r: (r.start, -r.end, r.depth))
        return hits

    def top_level_overlapping(self, start: int, end: int) -> list[Resource]:
        return self.children_overlapping(self.root, start, end)

    def children_overlapping(self, parent: Resource, start: int, end: int) -> list[Resource]:
        """Direct children of parent overlapping inclusive [start, end], by bisection."""
        kids = parent.children
        if not kids:
            return []
        i = bisect.bisect_right(self.child_starts(parent), start) - 1
        if i < 0:
            i = 0
        out = []
        n = len(kids)
        while i < n:
            c = kids[i]
            if c.start > end:
                break
            if c.end >= start:
                out.append(c)
            i += 1
        return out

    def find(self, name: str) -> list[Resource]:
        return [r for _, r in self.walk() if r.name == name]

    # ----------------------------------------------------------------- low-level insert
    def add_child(self, parent: Resource, res: Resource) -> Resource:
        """Link res under parent at its sorted place; it must fit and not overlap siblings.

        This is the loader's primitive (a parsed /proc/iomem is already nested); kernel-style
        requests use ``request_resource``, ``insert_resource`` and ``request_region``.
        """
        if res.end < res.start:
            raise DevmemError(f"{res.label()}: end before start")
        if not parent.contains(res.start, res.end):
            raise DevmemError(f"{res.label()} does not fit inside its parent {parent.label()}")
        clash = self.children_overlapping(parent, res.start, res.end)
        if clash:
            raise ResourceConflict(f"{res.label()} overlaps its sibling {clash[0].label()}")
        i = parent.child_index_at(res.start) + 1
        parent.children.insert(i, res)
        res.parent = parent
        self._index_subtree(res, add=True)
        self._notify("add", res)
        return res

    def _unlink(self, res: Resource, keep_children: bool) -> None:
        parent = res.parent
        assert parent is not None
        i = parent.children.index(res)
        if keep_children and res.children:
            self._index_remove(res)
            for c in res.children:
                c.parent = parent
            parent.children[i : i + 1] = res.children
            res.children = []
        else:
            self._index_subtree(res, add=False)
            del parent.children[i]
        res.parent = None
        self._notify("remove", res)

    # ----------------------------------------------------------------- kernel operations
    def request_resource(self, res: Resource, parent: Resource | None = None) -> Resource:
        """``request_resource()``: place res directly under parent, or fail on any overlap."""
        return self.add_child(parent or self.root, res)

    def insert_resource(self, res: Resource, parent: Resource | None = None) -> Resource:
        """``insert_resource()`` (``__insert_resource``): nest res as deep as it fits and adopt
        the existing siblings it fully covers. Fails when it partially overlaps something."""
        node = parent or self.root
        if not node.contains(res.start, res.end):
            raise ResourceConflict(f"{res.label()} does not fit inside {node.label()}")
        while True:
            clash = self.children_overlapping(node, res.start, res.end)
            if not clash:
                return self.add_child(node, res)
            first = clash[0]
            identical = first.start == res.start and first.end == res.end
            if len(clash) == 1 and first.contains(res.start, res.end) and not identical:
                node = first  # descend into the resource that covers the new one
                continue
            if all(res.contains(c.start, c.end) for c in clash):
                i = node.children.index(first)
                for c in clash:
                    self._index_subtree(c, add=False)
                del node.children[i : i + len(clash)]
                res.parent = node
                res.children = list(clash)
                for c in clash:
                    c.parent = res
                node.children.insert(i, res)
                self._index_add(res)
                for c in clash:
                    self._index_subtree(c, add=True)
                self._notify("add", res)
                return res
            raise ResourceConflict(f"{res.label()} partially overlaps {first.label()}")

    def request_region(
        self, start: int, size: int, name: str, flags: F = F.MEM, exclusive: bool = False
    ) -> Resource:
        """``__request_region()`` on iomem_resource: the new resource is always BUSY; it
        descends into a conflicting resource that is not busy and fully contains it, and fails
        (-EBUSY) on a busy conflict or a partial overlap."""
        if size <= 0:
            raise DevmemError("region size must be positive")
        end = start + size - 1
        if end > ADDR_MAX:
            raise DevmemError(f"region {start:#x}+{size:#x} ends past 2^64")
        fl = F(flags) | F.BUSY | (F.EXCLUSIVE if exclusive else NO_FLAGS)
        res = Resource(start, end, name, fl)
        parent = self.root
        while True:
            clash = self.children_overlapping(parent, start, end)
            if not clash:
                res.desc = parent.desc  # __request_region_locked: res->desc = parent->desc
                return self.add_child(parent, res)
            conflict = clash[0]
            if len(clash) > 1 or not conflict.contains(start, end):
                raise ResourceConflict(
                    f"request {res.label()} partially overlaps {conflict.label()} -> -EBUSY"
                )
            if conflict.busy:
                raise ResourceConflict(
                    f"request {res.label()} conflicts with busy {conflict.label()} -> -EBUSY"
                )
            parent = conflict

    def release(self, res: Resource) -> None:
        """``release_resource()``: unlink res together with its subtree."""
        self._unlink(res, keep_children=False)

    def remove_resource(self, res: Resource) -> None:
        """``remove_resource()``: unlink res; its children move up to its parent."""
        self._unlink(res, keep_children=True)

    def release_region(self, start: int, size: int) -> Resource:
        """``__release_region()``: free the busy resource with exactly this range (any depth)."""
        end = start + size - 1
        node = self.root
        while True:
            clash = self.children_overlapping(node, start, end)
            cand = [c for c in clash if c.contains(start, end)]
            if not cand:
                raise DevmemError(f"trying to free nonexistent resource <{start:#x}-{end:#x}>")
            c = cand[0]
            if c.busy and not (c.start == start and c.end == end):
                # __release_region descends only into resources that are not busy
                raise DevmemError(f"trying to free nonexistent resource <{start:#x}-{end:#x}>")
            if c.start == start and c.end == end and c.busy:
                if c.children:
                    raise DevmemError(f"{c.label()} still has children")
                self.release(c)
                return c
            node = c

    def release_mem_region_adjustable(self, start: int, size: int) -> None:
        """``release_mem_region_adjustable()`` (memory hot-remove): find the busy MEM resource
        that contains [start, start+size) descending through non-busy ones, then free it, trim
        its start or end, or split it in two (the lower part keeps the children)."""
        end = start + size - 1
        node = self.root
        while True:
            target = next(
                (c for c in self.children_overlapping(node, start, end) if c.contains(start, end)),
                None,
            )
            if target is None or not (target.flags & F.MEM):
                raise DevmemError(f"no busy memory resource covers {start:#x}-{end:#x}")
            if not target.busy:
                node = target
                continue
            break
        whole = target.start == start and target.end == end
        # What remains of target (a split keeps the lower part): __adjust_resource() refuses
        # to leave a child outside it, so the kernel WARNs and changes nothing.
        keep = (end + 1, target.end) if target.start == start else (target.start, start - 1)
        if not whole and any(c.start < keep[0] or c.end > keep[1] for c in target.children):
            raise DevmemError(
                f"cannot release {start:#x}-{end:#x} from {target.label()}: "
                "a child resource would fall outside it"
            )
        if target.start == start and target.end == end:
            self.release(target)
        elif target.start == start:
            self._set_range(target, end + 1, target.end)
        elif target.end == end:
            self._set_range(target, target.start, start - 1)
        else:
            upper = Resource(end + 1, target.end, target.name, target.flags, target.desc)
            self._set_range(target, target.start, start - 1)
            assert target.parent is not None
            self.add_child(target.parent, upper)

    @staticmethod
    def mergeable(r1: Resource, r2: Resource) -> bool:
        """``system_ram_resources_mergeable()``: same flags, name and desc, adjacent, childless."""
        return (
            r1.flags == r2.flags
            and r1.end + 1 == r2.start
            and r1.name == r2.name
            and r1.desc == r2.desc
            and not r1.children
            and not r2.children
        )

    def merge_system_ram_resource(self, res: Resource) -> Resource:
        """``merge_system_ram_resource()``: mark res mergeable and merge it with its next and
        previous siblings where they are mergeable. Returns the surviving resource."""
        res.flags |= F.SYSRAM_MERGEABLE
        parent = res.parent
        assert parent is not None
        i = parent.children.index(res)
        if i + 1 < len(parent.children):
            nxt = parent.children[i + 1]
            if self.mergeable(res, nxt):
                new_end = nxt.end
                self.release(nxt)
                self._set_range(res, res.start, new_end)
        if i > 0:
            prev = parent.children[i - 1]
            if self.mergeable(prev, res):
                new_end = res.end
                self.release(res)
                self._set_range(prev, prev.start, new_end)
                return prev
        return res

    # ----------------------------------------------------------------- consistency
    def check(self) -> None:
        """Raise AssertionError unless the tree is well nested and the index matches it."""
        seen = 0
        for _, r in self.walk():
            seen += 1
            p = r.parent
            assert p is not None and p.contains(r.start, r.end), f"{r.label()} escapes parent"
            assert r.start <= r.end
        for _depth, r in [(0, self.root), *self.walk()]:
            for a, b in zip(r.children, r.children[1:], strict=False):
                assert a.end < b.start, f"siblings {a.label()} and {b.label()} overlap"
            for c in r.children:
                assert c.parent is r
        assert seen == len(self.index), "index size differs from tree"
        for _, r in self.walk():
            assert Interval(r.start, r.end + 1, r) in self.index, f"{r.label()} not indexed"

    def copy(self) -> ResourceTree:
        new = ResourceTree()

        def clone(src: Resource, dst_parent: Resource) -> None:
            for c in src.children:
                n = Resource(c.start, c.end, c.name, c.flags, c.desc)
                new.add_child(dst_parent, n)
                clone(c, n)

        clone(self.root, new.root)
        new.generation = 0
        return new
