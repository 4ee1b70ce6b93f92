"""The read-only walks of a resource tree, and the caches that make them cheap.

``TreeWalker`` holds the root and every query that reads the tree: iteration in /proc/iomem
order, the chain of resources holding an address, the children or descendants overlapping a
range (in the order of the kernel's ``for_each_resource``), and where the set of resources
holding an address next changes. ``ResourceTree`` (tree.py) inherits them and adds the
mutations.

Each query descends by bisection over a node's child start addresses, never by scanning every
resource. Those start lists, the last ``overlaps()`` answer and the layers' ``memos`` are cached
on the tree object itself. A start list is made on first use and then kept current by the
tree's own link and unlink operations (one bisected insert or delete, not a rebuild: the root
of a 100,000-resource map has ~1,700 children); every mutation calls ``changed()``, which
forgets the other answers, so no cached answer can outlive the state it was computed from.
``drop_caches()`` forgets everything.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

from devmem_tui.engine.iomem.resource import START, Resource
from devmem_tui.engine.units import ADDR_MAX


def _collect(
    node: Resource, start: int, end: int, starts: dict[Resource, list[int]], out: list[Resource]
) -> None:
    """Append node's descendants overlapping [start, end] to out, depth-first pre-order: bisect
    into each level's child starts and recurse only into children that overlap. A plain
    recursive function, not a generator: this is the per-page hot path."""
    kids = node.children
    got = starts.get(node)  # TreeWalker.child_starts(), inlined
    if got is None:
        got = starts[node] = list(map(START, kids))
    i = bisect_right(got, start) - 1
    if i < 0:
        i = 0
    n = len(kids)
    while i < n:
        c = kids[i]
        if c.start > end:
            break
        if c.end >= start:
            out.append(c)
            if c.children:
                _collect(c, start, end, starts, out)
        i += 1


class TreeWalker:
    """The queries of a resource tree (inherited by ``ResourceTree``), with their caches."""

    def __init__(self, root: Resource) -> None:
        self.root = root
        # node -> its children's start addresses, for key-free bisection on the hot path
        self._starts: dict[Resource, list[int]] = {}
        # (start, end, answer) of the last overlaps(): one read asks it several times
        self._last_overlap: tuple[int, int, list[Resource]] = (-1, -1, [])
        # The last answers of layers above that depend on the tree (region_intersects()),
        # by question; they are dropped with the rest.
        self.memos: dict[str, tuple[Any, ...]] = {}

    def changed(self) -> None:
        """Forget the answers that depend on the whole tree: it changed. (The child start
        lists are kept current by the mutation itself.)"""
        self._last_overlap = (-1, -1, [])
        self.memos.clear()

    def drop_caches(self) -> None:
        """Forget every cached answer, the child start lists included."""
        self._starts.clear()
        self.changed()

    # ----------------------------------------------------------------- iteration
    def walk(self) -> Iterator[tuple[int, Resource]]:
        """Every resource below the root in /proc/iomem order, with its depth (0 = top)."""
        stack: list[tuple[int, Resource]] = [(0, c) for c in reversed(self.root.children)]
        while stack:
            depth, r = stack.pop()
            yield depth, r
            stack.extend((depth + 1, c) for c in reversed(r.children))

    def walk_from(self, res: Resource) -> Iterator[Resource]:
        """res and its descendants in /proc/iomem order."""
        stack = [res]
        while stack:
            r = stack.pop()
            yield r
            stack.extend(reversed(r.children))

    def resources(self) -> list[Resource]:
        return [r for _, r in self.walk()]

    # ----------------------------------------------------------------- queries
    def child_starts(self, node: Resource) -> list[int]:
        """Start addresses of node's children (cached until the tree changes)."""
        got = self._starts.get(node)
        if got is None:
            got = self._starts[node] = list(map(START, node.children))
        return got

    def chain_at(self, addr: int) -> list[Resource]:
        """Resources containing addr, outermost first (descends by bisect at each level)."""
        out: list[Resource] = []
        node = self.root
        kids = node.children
        starts = self._starts
        while kids:
            got = starts.get(node)  # child_starts(), inlined: the per-page hot path
            if got is None:
                got = starts[node] = list(map(START, kids))
            i = bisect_right(got, addr) - 1
            if i < 0:
                break
            c = kids[i]
            if c.end < addr:
                break
            out.append(c)
            node = c
            kids = c.children
        return out

    def children_overlapping(self, parent: Resource, start: int, end: int) -> list[Resource]:
        """Direct children of parent overlapping inclusive [start, end], by bisection."""
        kids = parent.children
        if not kids:
            return []
        i = bisect_right(self.child_starts(parent), start) - 1
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

    def top_level_overlapping(self, start: int, end: int) -> list[Resource]:
        return self.children_overlapping(self.root, start, end)

    def iter_overlapping(self, parent: Resource, start: int, end: int) -> Iterator[Resource]:
        """Descendants of parent that overlap inclusive [start, end], lazily, depth-first
        pre-order (the order of ``for_each_resource(parent, p, false)``). Subtrees that miss
        the range are pruned: they hold nothing the kernel's walks would act on."""
        stack = self.children_overlapping(parent, start, end)
        stack.reverse()
        while stack:
            r = stack.pop()
            yield r
            if r.children:
                more = self.children_overlapping(r, start, end)
                more.reverse()
                stack.extend(more)

    def overlapping(self, start: int, end: int) -> list[Resource]:
        """Every resource at any depth overlapping inclusive [start, end], in /proc/iomem
        order (by start; an ancestor before its descendants), as a new list."""
        out: list[Resource] = []
        if start <= end:
            _collect(self.root, start, end, self._starts, out)
        return out

    def overlaps(self, start: int, end: int) -> list[Resource]:
        """``overlapping(start, end)`` for the per-page rules, which all read this one list:
        the last answer is kept (one read asks it several times for the same page) until the
        tree changes. The list is shared: callers must not change it."""
        m = self._last_overlap
        if m[0] == start and m[1] == end:
            return m[2]
        out: list[Resource] = []
        _collect(self.root, start, end, self._starts, out)
        self._last_overlap = (start, end, out)
        return out

    def next_boundary(self, addr: int) -> int:
        """The lowest address above ``addr`` where the set of resources containing the byte
        changes (a resource starts or ends): bisect down the chain holding ``addr``."""
        node = self.root
        best = ADDR_MAX + 1
        while node.children:
            kids = node.children
            i = bisect_right(self.child_starts(node), addr) - 1
            if i >= 0 and kids[i].end >= addr:
                c = kids[i]
                if c.end + 1 < best:
                    best = c.end + 1
                node = c
                continue
            if i + 1 < len(kids) and kids[i + 1].start < best:
                best = kids[i + 1].start
            break
        return best
