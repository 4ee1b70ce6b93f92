"""The baseline: single-page /dev/mem verdicts answered by plain linear walks, the way
kernel/resource.c walks ``iomem_resource`` (no index, no bisection).

* ``region_intersects()`` (``__region_intersects``): a walk over *every* top-level resource
  (``for (p = parent->child; p; p = p->sibling)``, no early exit); from 6.12 (b4afe4183ec7) a
  non-matching top-level resource that overlaps is searched with ``for_each_resource`` over its
  whole subtree for matching descendants.
* ``iomem_is_exclusive()``: ``for_each_resource(&iomem_resource, p, skip_children)`` in
  depth-first order, stopping at the first resource that starts after the page. Up to 5.15 the
  walk visits every resource before the page (``r_next``, no skipping: the "full" walk); from
  5.16 (b78dfa059fdd) it skips the children of resources that end before the page.

``devmem_is_allowed()`` is the x86 one (arch/x86/mm/init.c, 4.18+). The walks step through
``Resource.children`` lists with an explicit stack, which is the pointer walk of
``next_resource()`` (child, else sibling, else the parent's sibling) at O(1) per step.

Only what a single-page ``read`` / ``mmap`` with the default-style configs needs is modelled;
``answer_read``/``answer_mmap`` return the outcome word, which the benchmark compares with the
engine's verdict for every sampled page (the two must agree).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree

PAGE = 4096
# Plain ints: IntFlag arithmetic runs Python-level enum code (~1 us an operation), which would
# make the walks look slower than they are.
SYSTEM_RAM = int(F.MEM | F.SYSRAM)
EXCLUSIVE = int(F.EXCLUSIVE)
BUSY = int(F.BUSY)
DISJOINT, INTERSECTS, MIXED = 0, 1, 2


@dataclass
class WalkCounter:
    """Resources visited by the walks (the benchmark reports visits per verdict)."""

    visits: int = 0


@dataclass(frozen=True)
class BaselineConfig:
    """The switches the walks need, derived from a KernelConfig."""

    descend: bool  # region_intersects looks into descendants (6.12+)
    skip_children: bool  # iomem_is_exclusive skips subtrees that end before the page (5.16+)
    exclusive_system_ram: bool  # 5.16+ rule 1
    strict_iomem_checks: bool
    io_strict: bool
    strict_devmem: bool
    phys_bits: int

    @classmethod
    def from_kernel(cls, cfg: KernelConfig, full_walk: bool = False) -> BaselineConfig:
        """``full_walk`` forces the <= 5.15 walk (no subtree skipping) on any version."""
        v = cfg.version
        if v < (4, 18) or cfg.arch != "x86_64":
            raise ValueError("the baseline models x86-64 kernels from 4.18 on")
        strict = cfg.strict_devmem
        if "relaxed" in cfg.iomem:
            strict = False
        if "strict" in cfg.iomem:
            strict = True
        return cls(
            descend=v >= (6, 12),
            skip_children=v >= (5, 16) and not full_walk,
            exclusive_system_ram=v >= (5, 16),
            strict_iomem_checks=strict,
            io_strict=cfg.io_strict_devmem,
            strict_devmem=cfg.strict_devmem,
            phys_bits=cfg.phys_bits,
        )


def _subtree(p: Resource, count: WalkCounter) -> Iterator[Resource]:
    """``for_each_resource(p, dp, false)``: every descendant of p, depth first (lazily, so
    the caller's ``break`` ends the walk as in C)."""
    stack = [iter(p.children)]
    while stack:
        dp = next(stack[-1], None)
        if dp is None:
            stack.pop()
            continue
        count.visits += 1
        yield dp
        if dp.children:
            stack.append(iter(dp.children))


def region_intersects(
    tree: ResourceTree, start: int, size: int, flags: int, descend: bool, count: WalkCounter
) -> int:
    """``__region_intersects`` for ``desc == IORES_DESC_NONE``."""
    end = start + size - 1
    type_, other = 0, 0
    for p in tree.root.children:  # every top-level resource, no early exit
        count.visits += 1
        if p.end < start or p.start > end:
            continue
        if (int(p.flags) & flags) == flags:
            type_ += 1
            continue
        if not descend:
            other += 1
            continue
        o_start, o_end = max(p.start, start), min(p.end, end)
        covered = False
        for dp in _subtree(p, count):
            if dp.end < o_start or dp.start > o_end:
                continue
            if (int(dp.flags) & flags) == flags:
                type_ += 1
                if dp.start > o_start:
                    break
                if dp.end >= o_end:
                    covered = True
                    break
                o_start = max(o_start, dp.end + 1)
        if not covered:
            other += 1
    if type_ == 0:
        return DISJOINT
    return INTERSECTS if other == 0 else MIXED


def iomem_is_exclusive(
    tree: ResourceTree, addr: int, bc: BaselineConfig, count: WalkCounter
) -> bool:
    """``iomem_is_exclusive`` / ``resource_is_exclusive`` over the whole tree."""
    addr &= ~(PAGE - 1)
    end = addr + PAGE  # exclusive
    if not bc.exclusive_system_ram and not bc.strict_iomem_checks:
        return False
    stack = [iter(tree.root.children)]
    while stack:
        p = next(stack[-1], None)
        if p is None:
            stack.pop()
            continue
        count.visits += 1
        if p.start >= end:
            break
        if p.end < addr:
            if not bc.skip_children and p.children:
                stack.append(iter(p.children))
            continue
        fl = int(p.flags)
        if bc.exclusive_system_ram and fl & SYSTEM_RAM == SYSTEM_RAM and fl & EXCLUSIVE:
            return True
        if bc.strict_iomem_checks and fl & BUSY and (bc.io_strict or fl & EXCLUSIVE):
            return True
        if p.children:
            stack.append(iter(p.children))
    return False


def devmem_is_allowed(tree: ResourceTree, pfn: int, bc: BaselineConfig, count: WalkCounter) -> int:
    """x86 ``devmem_is_allowed`` (4.18+): 0 deny, 1 allow, 2 allow-but-zeros."""
    if region_intersects(tree, pfn << 12, PAGE, SYSTEM_RAM, bc.descend, count) != DISJOINT:
        return 2 if pfn < 256 else 0
    if iomem_is_exclusive(tree, pfn << 12, bc, count):
        return 1 if pfn < 256 else 0
    return 1


def answer_read(
    tree: ResourceTree, high_memory: int, addr: int, bc: BaselineConfig, count: WalkCounter
) -> str:
    """Outcome of ``read(fd, buf, 4096)`` at a page-aligned addr (read_mem, x86)."""
    if addr + PAGE > high_memory:
        return "EFAULT"  # valid_phys_addr_range
    if not bc.strict_devmem:
        return "OK"
    allowed = devmem_is_allowed(tree, addr >> 12, bc, count)
    return ("EPERM", "OK", "ZEROS")[allowed]


def answer_mmap(tree: ResourceTree, addr: int, bc: BaselineConfig, count: WalkCounter) -> str:
    """Outcome of a one-page shared ``mmap`` at a page-aligned addr (mmap_mem, x86, no live
    mappings, so no PAT conflict)."""
    if (addr + PAGE - 1) >> bc.phys_bits:
        return "EINVAL"  # valid_mmap_phys_addr_range
    if bc.strict_devmem and devmem_is_allowed(tree, addr >> 12, bc, count) == 0:
        return "EPERM"
    return "OK"


# ----------------------------------------------------------------------------- indexed, bare
# The same decisions with the tree's bisect descent (ResourceTree.children_overlapping) instead
# of linear walks, and no trace strings, verdict objects or config lookups: a floor for what a
# trace-free fast path in the engine could reach. The benchmark reports it next to the engine.
def _overlapping(
    tree: ResourceTree, parent: Resource, start: int, end: int, count: WalkCounter
) -> Iterator[Resource]:
    """Descendants of parent overlapping [start, end], depth first, pruning subtrees that miss
    (a resource that misses the range cannot have a child inside it)."""
    stack = tree.children_overlapping(parent, start, end)[::-1]
    while stack:
        r = stack.pop()
        count.visits += 1
        yield r
        if r.children:
            stack.extend(tree.children_overlapping(r, start, end)[::-1])


def indexed_devmem_is_allowed(
    tree: ResourceTree, pfn: int, bc: BaselineConfig, count: WalkCounter
) -> int:
    start = pfn << 12
    end = start + PAGE - 1
    ram = False
    for p in tree.children_overlapping(tree.root, start, end):
        count.visits += 1
        if int(p.flags) & SYSTEM_RAM == SYSTEM_RAM or (
            bc.descend
            and any(
                int(dp.flags) & SYSTEM_RAM == SYSTEM_RAM
                for dp in _overlapping(tree, p, start, end, count)
            )
        ):
            # A matching descendant makes the answer at least INTERSECTS, i.e. not DISJOINT,
            # which is all devmem_is_allowed asks.
            ram = True
            break
    if ram:
        return 2 if pfn < 256 else 0
    if bc.exclusive_system_ram or bc.strict_iomem_checks:
        for p in _overlapping(tree, tree.root, start, end, count):
            fl = int(p.flags)
            if bc.exclusive_system_ram and fl & SYSTEM_RAM == SYSTEM_RAM and fl & EXCLUSIVE:
                return 1 if pfn < 256 else 0
            if bc.strict_iomem_checks and fl & BUSY and (bc.io_strict or fl & EXCLUSIVE):
                return 1 if pfn < 256 else 0
    return 1


def indexed_read(
    tree: ResourceTree, high_memory: int, addr: int, bc: BaselineConfig, count: WalkCounter
) -> str:
    if addr + PAGE > high_memory:
        return "EFAULT"
    if not bc.strict_devmem:
        return "OK"
    return ("EPERM", "OK", "ZEROS")[indexed_devmem_is_allowed(tree, addr >> 12, bc, count)]


def indexed_mmap(tree: ResourceTree, addr: int, bc: BaselineConfig, count: WalkCounter) -> str:
    if (addr + PAGE - 1) >> bc.phys_bits:
        return "EINVAL"
    if bc.strict_devmem and indexed_devmem_is_allowed(tree, addr >> 12, bc, count) == 0:
        return "EPERM"
    return "OK"
