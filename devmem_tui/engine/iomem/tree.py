"""The iomem resource tree, modelled on the kernel's ``iomem_resource`` and the operations of
kernel/resource.c on it.

Resources nest like the kernel's parent/child/sibling lists; each parent keeps its children
sorted by start address. ``ResourceTree`` is the one place that links and unlinks resources:
its kernel operations (``request_resource``, ``insert_resource``, ``__request_region``, ...)
and ``TreeBuilder``, which makes a whole tree in one pass (a parsed /proc/iomem, a saved
session). It inherits the read-only walks from walk.py; every mutation bumps ``generation``,
keeps the cached child start lists current, drops the walks' other caches, records its inverse
in the machine's undo journal (journal.py) and tells the observers.

Two indexes are built on first use and kept current by every mutation after that: the name
index (``find``: name -> resources, for claims, releases, device probes and completion) and an
``intervaltree.IntervalTree`` over every resource at every depth (``index``); ``check()``
proves both match the tree.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

from intervaltree import Interval, IntervalTree

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem.names import NameIndex
from devmem_tui.engine.iomem.resource import (
    DESCS,
    FLAG_WORDS,
    MAX_DEPTH,
    NO_FLAGS,
    START,
    SYSTEM_RAM,
    F,
    Resource,
    flags_words,
    subtree_height,
    too_deep,
)
from devmem_tui.engine.iomem.walk import TreeWalker
from devmem_tui.engine.journal import Journal
from devmem_tui.engine.units import ADDR_MAX

# Resource and the flag names are defined in resource.py (below walk.py, which reads them) and
# exported here too: this module is where the rest of the program takes its iomem types from.
__all__ = [
    "DESCS",
    "FLAG_WORDS",
    "MAX_DEPTH",
    "NO_FLAGS",
    "SYSTEM_RAM",
    "F",
    "Observer",
    "Resource",
    "ResourceConflict",
    "ResourceTree",
    "TreeBuilder",
    "flags_words",
    "too_deep",
]


def _walk_key(r: Resource) -> tuple[int, int]:
    """/proc/iomem order: by start, an ancestor before the descendants that share it."""
    return r.start, r.depth


class ResourceConflict(DevmemError):
    """A request that the kernel would refuse with -EBUSY."""


Observer = Callable[[str, Resource], None]


class ResourceTree(TreeWalker):
    """The iomem resource tree: its kernel operations, on top of the walks it inherits."""

    def __init__(self) -> None:
        super().__init__(Resource(0, ADDR_MAX, "iomem", F.MEM))
        self.generation = 0  # bumped on every mutation; views and caches key on it
        self.observers: list[Observer] = []
        self._size = 0  # resources below the root
        # A tree grown one resource at a time keeps its (empty) index current from the start;
        # TreeBuilder leaves it None, to be built on first use.
        self._index: IntervalTree | None = IntervalTree()
        # name -> resources, and the sorted distinct names (names.py), built on first use
        self._names: NameIndex | None = None
        # The machine's undo journal (journal.py): every mutation records its inverse.
        self.journal: Journal | None = None

    # ----------------------------------------------------------------- upkeep
    def _notify(self, what: str, res: Resource) -> None:
        self.generation += 1
        self.changed()
        for obs in self.observers:
            obs(what, res)

    def _record(self, undo: Callable[..., object], *args: object) -> None:
        j = self.journal
        if j is not None and j.depth:
            j.record(undo, *args)

    @property
    def index(self) -> IntervalTree:
        """Every resource at every depth as ``Interval(start, end + 1, resource)``.

        Made on first use with the public constructor (over a second for 100,000 resources,
        which a parse must not pay: nothing on the verdict path needs it) and kept current by
        every mutation after that."""
        if self._index is None:
            self._index = IntervalTree(Interval(r.start, r.end + 1, r) for _, r in self.walk())
        return self._index

    def _index_add(self, res: Resource) -> None:
        if self._index is not None:
            self._index.add(Interval(res.start, res.end + 1, res))
        if self._names is not None:
            self._names.add(res)

    def _index_remove(self, res: Resource) -> None:
        if self._index is not None:
            self._index.remove(Interval(res.start, res.end + 1, res))
        if self._names is not None:
            self._names.remove(res)

    def _count_subtree(self, res: Resource, add: bool) -> None:
        """Count (and index, once there is an index) res and its descendants in or out."""
        starts = self._starts
        for r in self.walk_from(res):
            self._size += 1 if add else -1
            if add:
                self._index_add(r)
            else:
                self._index_remove(r)
                starts.pop(r, None)  # its child starts, if cached: it is out of the tree

    def _set_range(self, res: Resource, start: int, end: int) -> None:
        old_start, old_end = res.start, res.end
        self._index_remove(res)
        parent = res.parent
        if parent is not None and start != old_start:
            st = self._starts.get(parent)
            if st is not None:  # the order among siblings stays: they do not overlap
                st[parent.child_index_at(old_start)] = start
        res.start, res.end = start, end
        self._index_add(res)
        self._record(self._set_range, res, old_start, old_end)
        self._notify("change", res)

    def set_flags(self, res: Resource, flags: F) -> None:
        """Change a resource's flags in place (e.g. virtio-mem clearing BUSY on its parent
        right after ``__request_mem_region``), bumping the generation for caches and views."""
        self._record(self.set_flags, res, res.flags)
        was_busy = res.busy
        res.flags = F(flags)
        if self._names is not None and res.busy != was_busy:
            self._names.busy_changed(res, res.busy)
        self._notify("change", res)

    def _mark_flags(self, res: Resource, flags: F) -> None:
        """Change flag bits no rule or view reads (SYSRAM_MERGEABLE): no event, but the
        generation moves, as with every change of the tree."""
        self._record(self._mark_flags, res, res.flags)
        res.flags = flags
        self.generation += 1
        self.changed()

    def __len__(self) -> int:
        return self._size

    @property
    def names(self) -> NameIndex:
        """The name index (names.py): built on first use, then kept by every link, unlink
        and flag change."""
        if self._names is None:
            self._names = NameIndex(r for _, r in self.walk())
        return self._names

    def find(self, name: str) -> list[Resource]:
        """The resources named ``name`` in /proc/iomem order: O(resources of that name)."""
        return sorted(self.names.get(name), key=_walk_key)

    def has_name(self, name: str) -> bool:
        """Whether any resource is named ``name`` (O(1))."""
        return name in self.names

    # ----------------------------------------------------------------- low-level insert
    def add_child(self, parent: Resource, res: Resource) -> Resource:
        """Link res under parent at its sorted place; it must fit and not overlap siblings.

        The primitive under the kernel-style requests (``request_resource``,
        ``insert_resource``, ``request_region``); a whole nested tree is made in one pass by
        ``TreeBuilder``."""
        if res.end < res.start:
            raise DevmemError(f"{res.label()}: end before start")
        if not parent.contains(res.start, res.end):
            raise DevmemError(f"{res.label()} does not fit inside its parent {parent.label()}")
        clash = self.children_overlapping(parent, res.start, res.end)
        if clash:
            raise ResourceConflict(f"{res.label()} overlaps its sibling {clash[0].label()}")
        deep = too_deep(res.label(), parent.depth + 1 + subtree_height(res))
        if deep:
            raise DevmemError(deep)
        i = parent.child_index_at(res.start) + 1
        kids = parent.children
        parent.children = (*kids[:i], res, *kids[i:])
        st = self._starts.get(parent)
        if st is not None:
            st.insert(i, res.start)
        res.parent = parent
        self._count_subtree(res, add=True)
        self._record(self._unlink, res, False)
        self._notify("add", res)
        return res

    def _unlink(self, res: Resource, keep_children: bool) -> None:
        parent = res.parent
        assert parent is not None
        kids = parent.children
        i = parent.child_index_at(res.start)  # siblings start apart: bisection finds res
        assert kids[i] is res
        st = self._starts.get(parent)
        if keep_children and res.children:
            adopted = res.children
            self._size -= 1
            self._index_remove(res)
            self._starts.pop(res, None)
            for c in adopted:
                c.parent = parent
            parent.children = (*kids[:i], *adopted, *kids[i + 1 :])
            if st is not None:
                st[i : i + 1] = [c.start for c in adopted]
            res.children = ()
            self._record(self._adopt, parent, res, adopted)
        else:
            self._count_subtree(res, add=False)
            parent.children = (*kids[:i], *kids[i + 1 :])
            if st is not None:
                del st[i]
            self._record(self.add_child, parent, res)
        res.parent = None
        self._notify("remove", res)

    def _adopt(self, node: Resource, res: Resource, clash: tuple[Resource, ...]) -> Resource:
        """Link res under node in place of the consecutive children ``clash`` it covers, which
        become its children (``__insert_resource`` when the new resource covers them)."""
        kids = node.children
        i = node.child_index_at(clash[0].start)
        res.parent = node
        res.children = clash
        for c in clash:
            c.parent = res
        node.children = (*kids[:i], res, *kids[i + len(clash) :])
        st = self._starts.get(node)
        if st is not None:
            st[i : i + len(clash)] = [res.start]
        self._size += 1
        self._index_add(res)  # the adopted subtrees keep their ranges and entries
        self._record(self._unlink, res, True)
        self._notify("add", res)
        return res

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
                levels = node.depth + 2 + max(subtree_height(c) for c in clash)
                deep = too_deep(res.label(), levels)
                if deep:
                    raise DevmemError(deep)
                return self._adopt(node, res, tuple(clash))
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
        self._mark_flags(res, res.flags | F.SYSRAM_MERGEABLE)
        parent = res.parent
        assert parent is not None
        i = parent.child_index_at(res.start)
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
        """Raise AssertionError unless the tree is well nested, its size is right and the
        index (built now if it was not) matches it."""
        seen = 0
        for _, r in self.walk():
            seen += 1
            p = r.parent
            assert p is not None and p.contains(r.start, r.end), f"{r.label()} escapes parent"
            assert r.start <= r.end
        for _depth, r in [(0, self.root), *self.walk()]:
            assert isinstance(r.children, tuple), f"{r.label()}: children is not a tuple"
            for a, b in zip(r.children, r.children[1:], strict=False):
                assert a.end < b.start, f"siblings {a.label()} and {b.label()} overlap"
            for c in r.children:
                assert c.parent is r
        assert seen == len(self), "size differs from tree"
        assert seen == len(self.index), "index size differs from tree"
        for _, r in self.walk():
            assert Interval(r.start, r.end + 1, r) in self.index, f"{r.label()} not indexed"
        for node, starts in self._starts.items():
            assert starts == [c.start for c in node.children], f"{node.label()}: stale starts"
        if self._names is not None:
            self._names.check(r for _, r in self.walk())

    def copy(self) -> ResourceTree:
        """A new tree with copies of every resource (generation 0, no observers)."""
        b = TreeBuilder()
        stack: list[tuple[Resource, Resource]] = [(c, b.root) for c in reversed(self.root.children)]
        while stack:
            src, dst_parent = stack.pop()
            n = b.add(dst_parent, Resource(src.start, src.end, src.name, src.flags, src.desc))
            stack.extend((c, n) for c in reversed(src.children))
        return b.finish()


class TreeBuilder:
    """Makes a whole ``ResourceTree`` in one pass, for input that arrives nested: a parsed
    /proc/iomem, a saved session, a copy.

    ``add(parent, res)`` places res under a resource added before (or ``root``) with
    ``add_child``'s checks and messages; ``finish()`` links every node's children and returns
    the tree. No events, generation bumps or index upkeep per resource (``add_child`` costs
    ~50 us per resource on a 100,000-resource index), and a failed build leaves nothing
    behind: the tree exists only once ``finish`` returns it."""

    def __init__(self) -> None:
        self._tree = ResourceTree()
        self._tree._index = None  # built on first use: see ResourceTree.index
        self.root = self._tree.root
        self._kids: dict[Resource, list[Resource]] = {}  # parent -> children, by start
        self._count = 0

    def add(self, parent: Resource, res: Resource) -> Resource:
        """Place res among parent's children by start address (raises DevmemError /
        ResourceConflict as ``ResourceTree.add_child`` does). Input in /proc/iomem order,
        each resource after its previous sibling, takes the O(1) path."""
        if res.end < res.start:
            raise DevmemError(f"{res.label()}: end before start")
        if not (parent.start <= res.start and res.end <= parent.end):
            raise DevmemError(f"{res.label()} does not fit inside its parent {parent.label()}")
        kids = self._kids.get(parent)
        if kids is None:
            self._kids[parent] = [res]
        elif kids[-1].end < res.start:
            kids.append(res)
        else:
            # The first sibling overlapping res, as children_overlapping() would find it.
            i = bisect_right(kids, res.start, key=START)
            clash = None
            if i > 0 and kids[i - 1].end >= res.start:
                clash = kids[i - 1]
            elif i < len(kids) and kids[i].start <= res.end:
                clash = kids[i]
            if clash is not None:
                raise ResourceConflict(f"{res.label()} overlaps its sibling {clash.label()}")
            kids.insert(i, res)
        res.parent = parent
        self._count += 1
        return res

    def finish(self) -> ResourceTree:
        """The tree with every resource added so far (the builder is spent)."""
        for parent, kids in self._kids.items():
            parent.children = tuple(kids)
        self._kids = {}
        tree = self._tree
        tree._size = self._count
        return tree
