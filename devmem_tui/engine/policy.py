"""The kernel's ``/dev/mem`` rules, one function per kernel function (devmem-policy.md §2, §3).

Every rule returns ``(value, trace)``: ``trace`` lists what the kernel function looked at and
what it returned, e.g. ``devmem_is_allowed(0x100): page overlaps System RAM ... -> 0``. The
version switches are ``KernelConfig`` properties (§1.1).

Per-page questions descend the resource tree by bisection (``ResourceTree.chain_at`` /
``children_overlapping``), never by scanning every resource, and multi-page calls are decided
in *runs*: pages that overlap exactly the same resources get the same answer from every rule
here, so ``page_runs`` hands out the longest such runs (``next_boundary``).

Counterfactual proposals (§7, DESIGN ``proposal``) hook in where their patches would have:
``page_is_allowed`` / ``range_is_allowed`` (drivers/char/mem.c) and, for virtio-mem's parent
resource, ``virtio_parent_exclusive``. See docs/kernel-rules.md for the choices made there.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.resources import ADDR_MAX, F, Resource, ResourceTree

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine

PAGE_SIZE = 4096
PAGE_SHIFT = 12
LOW_PFNS = 256  # the first MiB, in pages
SECTION_SIZE = 1 << 27  # x86-64 / arm64-4K SECTION_SIZE_BITS 27: memmap exists per 128 MiB
MAX_RW_COUNT = 0x7FFFF000  # INT_MAX & PAGE_MASK: the VFS caps every read()/write() count
ARM64_PHYS_MASK_SHIFT = 48  # CONFIG_ARM64_PA_BITS=48 (the default)

RFC_2021 = "rfc-2021"
BUSY_IS_EXCLUSIVE = "busy-is-exclusive"
COUNTERFACTUAL = {
    RFC_2021: "rfc-2021 = v1/v2 of David Hildenbrand's 2021 /dev/mem series, never merged",
    BUSY_IS_EXCLUSIVE: "busy-is-exclusive = Dan Williams' counter-proposal in the 2021 "
    "thread, never merged",
}

# Plain ints: IntFlag arithmetic is slow on the per-page hot path.
_MEM = int(F.MEM)
_SYSRAM = int(F.SYSRAM)
_SYSTEM_RAM = _MEM | _SYSRAM
_BUSY = int(F.BUSY)
_EXCLUSIVE = int(F.EXCLUSIVE)
_DRIVER_MANAGED = int(F.SYSRAM_DRIVER_MANAGED)
_SYSTEM_RAM_BUSY = _SYSTEM_RAM | _BUSY
_EXCLUSIVE_SYSTEM_RAM = _SYSTEM_RAM | _EXCLUSIVE
_MEM_BUSY = _MEM | _BUSY
_VIRTIO_PARENT = re.compile(r"virtio\d+")

Traced = tuple[bool, list[str]]


class Region(StrEnum):
    """``REGION_DISJOINT`` / ``REGION_INTERSECTS`` / ``REGION_MIXED`` (include/linux/mm.h)."""

    DISJOINT = "DISJOINT"
    INTERSECTS = "INTERSECTS"
    MIXED = "MIXED"


class Xlate(StrEnum):
    """How ``xlate_dev_mem_ptr()`` reached a page: the direct map, ``ioremap_cache()``, or not
    at all (NULL)."""

    DIRECT = "direct map"
    IOREMAP = "ioremap_cache"
    FAILED = "NULL"


def label(res: Resource) -> str:
    return f"{res.name!r} {hex(res.start)}-{hex(res.end)}"


# ------------------------------------------------------------------------------ switches
@dataclass(frozen=True, slots=True)
class Switches:
    """The configuration as the rules ask for it, computed once per distinct config (the
    ``KernelConfig`` properties re-parse the version on every access)."""

    x86: bool
    arm64: bool
    devmem: bool
    strict: bool  # effective CONFIG_STRICT_DEVMEM
    io_strict: bool  # effective CONFIG_IO_STRICT_DEVMEM
    strict_iomem: bool  # strict_iomem_checks
    iomem: str
    rule1: bool  # 5.16+ SYSTEM_RAM|EXCLUSIVE rule in iomem_is_exclusive
    descend: bool  # 6.12+ region_intersects
    zero_fill: bool  # 4.11+ value 2 and per-page page_is_allowed
    ri_test: bool  # 4.18+ region_intersects RAM test
    virtio_excl: bool
    proposal: str
    pat: bool
    pat_recheck: bool
    ioremap_nested: bool  # 5.13+ walk_mem_res at any depth
    xlate_memremap: bool  # 4.14+ xlate_dev_mem_ptr() uses memremap() (SME series)
    kcore_filter: bool
    revoke: bool  # 5.8+ and IO_STRICT_DEVMEM
    v5_8: bool
    phys_bits: int
    arch: str


_SWITCHES: dict[tuple[object, ...], Switches] = {}


def switches(cfg: KernelConfig) -> Switches:
    """The ``Switches`` of ``cfg`` (cached by the config keys that matter here)."""
    key = (cfg.kernel, cfg.arch, cfg.pat, cfg.devmem, cfg.strict_devmem, cfg.io_strict_devmem,
           cfg.iomem, cfg.proposal, cfg.phys_bits)
    sw = _SWITCHES.get(key)
    if sw is None:
        sw = Switches(
            x86=cfg.x86, arm64=cfg.arch == "arm64", devmem=cfg.devmem,
            strict=cfg.eff_strict_devmem, io_strict=cfg.eff_io_strict_devmem,
            strict_iomem=cfg.strict_iomem_checks, iomem=cfg.iomem,
            rule1=cfg.exclusive_system_ram, descend=cfg.region_intersects_descends,
            zero_fill=cfg.lowmem_ram_zero_fill, ri_test=cfg.ram_test_region_intersects,
            virtio_excl=virtio_parent_exclusive(cfg), proposal=cfg.proposal, pat=cfg.pat,
            pat_recheck=cfg.pat_recheck_without_strict, ioremap_nested=cfg.at_least(5, 13),
            xlate_memremap=cfg.at_least(4, 14),
            kcore_filter=cfg.kcore_state_filter, revoke=cfg.revoke_on_request,
            v5_8=cfg.at_least(5, 8), phys_bits=cfg.phys_bits, arch=cfg.arch,
        )
        _SWITCHES[key] = sw
    return sw


# ------------------------------------------------------------------------------ flags
def virtio_parent_exclusive(cfg: KernelConfig) -> bool:
    """Whether the virtio-mem parent resource ``virtioN`` carries ``IORESOURCE_EXCLUSIVE``.

    ``virtio_mem_create_resource()`` (drivers/virtio/virtio_mem.c) requests it with
    ``IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE`` from 5.16 (2128f4e21aa2), plain
    ``IORESOURCE_SYSTEM_RAM`` on 5.8-5.15. Decided here, from the config, rather than from the
    flags stored when the device probed, so that ``set kernel`` later changes the answer.
    rfc-2021 carried the EXCLUSIVE parent in every version; busy-is-exclusive replaces the
    series, so the parent stays plain SYSTEM_RAM (only the busy added blocks are fenced)."""
    if cfg.proposal == RFC_2021:
        return True
    if cfg.proposal == BUSY_IS_EXCLUSIVE:
        return False
    return cfg.exclusive_system_ram


def eff_flags(res: Resource, sw: Switches) -> int:
    """The resource's flags as the configured kernel would have set them (only the
    ``virtioN`` EXCLUSIVE bit depends on the version, see ``virtio_parent_exclusive``)."""
    fl = int(res.flags)
    if fl & _SYSRAM and res.name.startswith("virtio") and _VIRTIO_PARENT.fullmatch(res.name):
        if sw.virtio_excl:
            fl |= _EXCLUSIVE
        else:
            fl &= ~_EXCLUSIVE
    return fl


# ------------------------------------------------------------------------------ tree walks
def overlapping_dfs(tree: ResourceTree, parent: Resource, start: int,
                    end: int) -> Iterator[Resource]:
    """Descendants of ``parent`` that overlap inclusive [start, end], depth-first pre-order
    (the order of ``for_each_resource(parent, p, false)``). Subtrees that miss the range are
    pruned: they hold nothing the kernel's walks would act on."""
    stack = tree.children_overlapping(parent, start, end)
    stack.reverse()
    while stack:
        r = stack.pop()
        yield r
        if r.children:
            more = tree.children_overlapping(r, start, end)
            more.reverse()
            stack.extend(more)


_MEMO: list[object] = [None, -1, -1, -1, []]


def overlaps(tree: ResourceTree, start: int, end: int) -> list[Resource]:
    """Every resource overlapping [start, end] at any depth, in ``for_each_resource`` order.
    All the per-page rules read this one list; the last answer is kept (one read asks it
    several times for the same page) until the tree changes."""
    m = _MEMO
    if m[0] is tree and m[1] == tree.generation and m[2] == start and m[3] == end:
        return m[4]  # type: ignore[return-value]
    out = list(overlapping_dfs(tree, tree.root, start, end))
    _MEMO[:] = [tree, tree.generation, start, end, out]
    return out


def next_boundary(tree: ResourceTree, addr: int) -> int:
    """The lowest address above ``addr`` where the set of resources containing the byte
    changes (a resource starts or ends): bisect down the chain holding ``addr``."""
    node = tree.root
    best = ADDR_MAX + 1
    while node.children:
        kids = node.children
        i = bisect_right(tree.child_starts(node), addr) - 1
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


def _vmem_spans(machine: Machine) -> list[tuple[int, int]]:
    """Device regions of the virtio-mem devices (inclusive), where memory state varies."""
    spans = []
    for dev in machine.vmem.values():
        d = getattr(dev, "device", None)
        if d is not None:
            spans.append((d.addr, d.addr + d.region_size - 1))
    return spans


STATE_GRAIN = 1 << 21  # memory state is uniform per 2 MiB (the smallest virtio-mem sub-block)


def run_end(machine: Machine, pfn: int, last_pfn: int) -> int:
    """Last pfn (<= last_pfn) of the run starting at ``pfn`` whose pages all overlap exactly
    the same resources, lie on the same side of the first-MiB line, and (inside a virtio-mem
    region) share one memory-state grain, so every rule here answers them alike."""
    if pfn >= last_pfn:
        return last_pfn
    a = pfn << PAGE_SHIFT
    nb = next_boundary(machine.tree, a)
    if nb < a + PAGE_SIZE:
        return pfn  # a resource starts or ends inside this page
    e = min(last_pfn, (nb >> PAGE_SHIFT) - 1)
    if pfn < LOW_PFNS:
        e = min(e, LOW_PFNS - 1)
    for vs, ve in _vmem_spans(machine):
        if vs <= a <= ve:
            e = min(e, ((a | (STATE_GRAIN - 1)) >> PAGE_SHIFT), ve >> PAGE_SHIFT)
        elif a < vs:
            e = min(e, (vs >> PAGE_SHIFT) - 1)
    return max(e, pfn)


def page_runs(machine: Machine, first_pfn: int, last_pfn: int) -> Iterator[tuple[int, int]]:
    """Runs ``(first, last)`` covering [first_pfn, last_pfn] (see ``run_end``)."""
    pfn = first_pfn
    while pfn <= last_pfn:
        e = run_end(machine, pfn, last_pfn)
        yield pfn, e
        pfn = e + 1


# ------------------------------------------------------------------------------ §2.2
def region_intersects(machine: Machine, start: int, size: int, flags: int = _SYSTEM_RAM,
                      sw: Switches | None = None) -> tuple[Region, list[str]]:
    """``region_intersects(start, size, flags, IORES_DESC_NONE)`` (kernel/resource.c).

    All versions: each top-level resource overlapping the range counts as "type" when its flags
    contain every requested bit (BUSY is not asked for, so the non-busy ``virtioN`` parent
    counts as System RAM), else "other"; none of type -> DISJOINT, no other -> INTERSECTS
    (holes don't count), else MIXED. Up to 6.11 only top-level resources are seen. From 6.12
    (b4afe4183ec7, CVE-2024-49878; stable 5.4.y+) a non-matching top-level resource is searched
    for matching descendants and is not "other" when they cover its whole overlap."""
    sw = sw or switches(machine.config)
    tree = machine.tree
    root = tree.root
    end = start + size - 1
    found = overlaps(tree, start, end)
    memo = _RI_MEMO
    if memo[0] is found and memo[1] == flags and memo[2] is sw:
        return memo[3], [memo[4]]  # type: ignore[return-value, list-item]
    n_type = n_other = 0
    first_type: Resource | None = None
    first_other: Resource | None = None
    i, n = 0, len(found)
    while i < n:
        p = found[i]  # a top-level resource; its overlapping descendants follow it
        j = i + 1
        while j < n and found[j].parent is not root:
            j += 1
        if eff_flags(p, sw) & flags == flags:
            n_type += 1
            first_type = first_type or p
            i = j
            continue
        covered = False
        if sw.descend:
            ostart, oend = max(start, p.start), min(end, p.end)
            for dp in found[i + 1:j]:
                if eff_flags(dp, sw) & flags == flags:
                    n_type += 1
                    first_type = first_type or dp
                    if dp.start > ostart:
                        break
                    if dp.end >= oend:
                        covered = True
                        break
                    ostart = max(ostart, dp.end + 1)
        if not covered:
            n_other += 1
            first_other = first_other or p
        i = j
    if n_type == 0:
        result = Region.DISJOINT
    elif n_other == 0:
        result = Region.INTERSECTS
    else:
        result = Region.MIXED
    if first_type is None:
        seen = "no System RAM" if first_other is None else f"only {label(first_other)}"
    else:
        seen = f"System RAM {label(first_type)}"
        if first_other is not None:
            seen += f" and {label(first_other)}"
    how = "incl. descendants" if sw.descend else "top level"
    line = (f"region_intersects({hex(start)}, {hex(size)}, SYSTEM_RAM) [{how}]: {seen} "
            f"-> {result.value}")
    _RI_MEMO[:] = [found, flags, sw, result, line]
    return result, [line]


# memremap() asks region_intersects() about the page devmem_is_allowed() just asked about: the
# answer is kept for the last overlap list (which itself is kept until the tree changes).
_RI_MEMO: list[object] = [None, 0, None, Region.DISJOINT, ""]


# ------------------------------------------------------------------------------ §2.3
def page_is_ram(machine: Machine, pfn: int, sw: Switches | None = None) -> Traced:
    """``page_is_ram(pfn)`` = ``walk_system_ram_range(pfn, 1)`` (kernel/resource.c).

    True iff one resource with SYSTEM_RAM|BUSY, at any depth, covers the whole page (the walk
    rounds each match inward to whole pages), so page 0x9f is not RAM when RAM ends at 0x9fbff
    and the non-busy ``virtioN`` parent never counts. Modelled the same in every version (see
    docs/kernel-rules.md: the 4.x walk looked at top-level resources only)."""
    start = pfn << PAGE_SHIFT
    last = start + PAGE_SIZE - 1
    partial: Resource | None = None
    for r in overlaps(machine.tree, start, last):
        if int(r.flags) & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            if r.start <= start and r.end >= last:
                return True, [f"page_is_ram({hex(pfn)}): busy {label(r)} covers the page -> 1"]
            partial = partial or r
    if partial is not None:
        return False, [f"page_is_ram({hex(pfn)}): busy {label(partial)} covers only part of the "
                       "page -> 0"]
    return False, [f"page_is_ram({hex(pfn)}): no busy System RAM here -> 0"]


# ------------------------------------------------------------------------------ §2.4
def iomem_is_exclusive(machine: Machine, addr: int, sw: Switches | None = None) -> Traced:
    """``iomem_is_exclusive(addr)`` (kernel/resource.c; ``resource_is_exclusive()`` from 6.2).

    The page of ``addr`` against every resource overlapping it, at any depth.
    Up to 5.15: false when ``strict_iomem_checks`` is 0; else true for a BUSY resource when
    CONFIG_IO_STRICT_DEVMEM=y or it has IORESOURCE_EXCLUSIVE.
    5.16+ (b78dfa059fdd, a9e7b8d4f663): first, any resource with SYSTEM_RAM|EXCLUSIVE makes it
    true, busy or not and whatever ``iomem=`` says; then the old test.
    ``strict_iomem_checks`` defaults from STRICT_DEVMEM, not IO_STRICT_DEVMEM (§10.1)."""
    sw = sw or switches(machine.config)
    page = addr & ~(PAGE_SIZE - 1)
    strict, io_strict, rule1 = sw.strict_iomem, sw.io_strict, sw.rule1
    name = f"iomem_is_exclusive({hex(page)})"
    if not rule1 and not strict:
        return False, [f"{name}: strict_iomem_checks=0 (iomem={sw.iomem}, STRICT_DEVMEM="
                       f"{'y' if sw.strict else 'n'}) -> false"]
    for r in overlaps(machine.tree, page, page + PAGE_SIZE - 1):
        fl = eff_flags(r, sw)
        if rule1 and fl & _EXCLUSIVE_SYSTEM_RAM == _EXCLUSIVE_SYSTEM_RAM:
            return True, [f"{name}: {label(r)} is SYSTEM_RAM|EXCLUSIVE (5.16+: busy or not, "
                          "any iomem=) -> true"]
        if not strict or not fl & _BUSY:
            continue
        if io_strict:
            return True, [f"{name}: busy {label(r)}, IO_STRICT_DEVMEM=y -> true"]
        if fl & _EXCLUSIVE:
            return True, [f"{name}: busy {label(r)} has IORESOURCE_EXCLUSIVE -> true"]
    if not strict:
        why = f"no SYSTEM_RAM|EXCLUSIVE resource; strict_iomem_checks=0 (iomem={sw.iomem})"
    elif io_strict:
        why = "nothing busy here"
    else:
        why = "no busy IORESOURCE_EXCLUSIVE resource here (IO_STRICT_DEVMEM=n)"
    return False, [f"{name}: {why} -> false"]


# ------------------------------------------------------------------------------ §2.5
def devmem_is_allowed(machine: Machine, pfn: int,
                      sw: Switches | None = None) -> tuple[int, list[str]]:
    """``devmem_is_allowed(pfn)``: 0 deny, 1 allow, 2 allow but read zeros / drop writes.

    x86 (arch/x86/mm/init.c): 4.18+ System RAM test ``region_intersects() != DISJOINT`` ->
    2 below 1 MiB else 0; then ``iomem_is_exclusive()`` -> 1 below 1 MiB else 0; else 1.
    4.11-4.17 (a4866aa81251): the same with ``page_is_ram()`` as the RAM test. Up to 4.10:
    pfn < 256 -> 1; exclusive -> 0; ``page_is_ram()`` -> 0; else 1.
    Generic (lib/devmem_is_allowed.c; arm64's own identical copy before): exclusive -> 0;
    ``page_is_ram()`` -> 0; else 1 (no first-MiB rule, never 2)."""
    sw = sw or switches(machine.config)
    addr = pfn << PAGE_SHIFT
    name = f"devmem_is_allowed({hex(pfn)})"
    low = pfn < LOW_PFNS
    if not sw.x86 or not sw.zero_fill:
        tag = "[generic]" if not sw.x86 else "[x86 <= 4.10]"
        if sw.x86 and low:
            return 1, [f"{name} {tag}: pfn < 256 is always allowed -> 1"]
        ex, trace = iomem_is_exclusive(machine, addr, sw)
        if ex:
            return 0, [*trace, f"{name} {tag}: exclusive -> 0"]
        ram, t = page_is_ram(machine, pfn, sw)
        trace += t
        if ram:
            return 0, [*trace, f"{name} {tag}: page_is_ram() -> 0"]
        return 1, [*trace, f"{name} {tag}: not exclusive, not RAM -> 1"]
    if sw.ri_test:
        ri, trace = region_intersects(machine, addr, PAGE_SIZE, _SYSTEM_RAM, sw)
        is_ram = ri is not Region.DISJOINT
        test = f"region_intersects() {ri.value}"
    else:
        is_ram, trace = page_is_ram(machine, pfn, sw)
        test = f"page_is_ram() {int(is_ram)}"
    if is_ram:
        if low:
            return 2, [*trace, f"{name}: System RAM ({test}) below 1 MiB -> 2"]
        return 0, [*trace, f"{name}: System RAM ({test}) -> 0"]
    ex, t = iomem_is_exclusive(machine, addr, sw)
    trace += t
    if ex:
        if low:
            return 1, [*trace, f"{name}: exclusive, but the low 1 MiB bypasses iomem "
                               "restrictions -> 1"]
        return 0, [*trace, f"{name}: not RAM ({test}), exclusive -> 0"]
    return 1, [*trace, f"{name}: not RAM ({test}), not exclusive -> 1"]


# ------------------------------------------------------------------------------ proposals
def rfc2021_excluded(machine: Machine, start: int, end: int,
                     sw: Switches | None = None) -> Traced:
    """``iomem_range_contains_excluded_devmem()`` of the 2021 series v1/v2 (counterfactual,
    never merged): does [start, end] overlap a resource flagged SYSTEM_RAM|EXCLUSIVE, at any
    depth? drivers/char/mem.c denied such pages whatever STRICT_DEVMEM and ``iomem=`` say."""
    sw = sw or switches(machine.config)
    name = f"iomem_range_contains_excluded_devmem({hex(start)}-{hex(end)}) [rfc-2021]"
    for r in overlaps(machine.tree, start, end):
        if eff_flags(r, sw) & _EXCLUSIVE_SYSTEM_RAM == _EXCLUSIVE_SYSTEM_RAM:
            return True, [f"{name}: {label(r)} is SYSTEM_RAM|EXCLUSIVE -> 1"]
    return False, [f"{name}: no SYSTEM_RAM|EXCLUSIVE resource -> 0"]


def busy_excluded(machine: Machine, pfn: int, sw: Switches | None = None) -> Traced:
    """busy-is-exclusive (counterfactual, Dan Williams' answer in the 2021 thread): every
    busy region - the kernel is using it - is a mandatory exclusion, checked in
    drivers/char/mem.c before STRICT_DEVMEM, IO_STRICT_DEVMEM and ``iomem=`` are consulted.
    It is IO_STRICT_DEVMEM made mandatory, so on x86 it keeps that option's "low 1 MiB
    bypasses iomem restrictions" rule (pfn < 256 is never excluded here)."""
    sw = sw or switches(machine.config)
    name = f"devmem_is_excluded({hex(pfn)}) [busy-is-exclusive]"
    if sw.x86 and pfn < LOW_PFNS:
        return False, [f"{name}: the low 1 MiB bypasses iomem restrictions -> 0"]
    start = pfn << PAGE_SHIFT
    for r in overlaps(machine.tree, start, start + PAGE_SIZE - 1):
        if int(r.flags) & _BUSY:
            return True, [f"{name}: busy {label(r)} is in use by the kernel -> 1"]
    return False, [f"{name}: nothing busy here -> 0"]


# ------------------------------------------------------------------------------ mem.c
def page_is_allowed(machine: Machine, pfn: int,
                    sw: Switches | None = None) -> tuple[int, list[str]]:
    """``page_is_allowed(pfn)`` (drivers/char/mem.c, 4.11+; read/write per page):
    ``devmem_is_allowed()`` with CONFIG_STRICT_DEVMEM=y, else 1. Up to 4.10 read/write used
    ``range_is_allowed()`` over the remaining count instead (same page answers, see access).

    rfc-2021: first deny pages overlapping SYSTEM_RAM|EXCLUSIVE regardless of STRICT_DEVMEM;
    then with STRICT_DEVMEM, any non-zero ``devmem_is_allowed()`` becomes 1, so value 2 is
    lost (§7, [derived]). busy-is-exclusive: first deny busy pages (``busy_excluded``)."""
    sw = sw or switches(machine.config)
    trace: list[str] = []
    if sw.proposal == RFC_2021:
        start = pfn << PAGE_SHIFT
        ex, trace = rfc2021_excluded(machine, start, start + PAGE_SIZE - 1, sw)
        if ex:
            return 0, [*trace, f"page_is_allowed({hex(pfn)}) [rfc-2021]: excluded -> 0"]
    elif sw.proposal == BUSY_IS_EXCLUSIVE:
        ex, trace = busy_excluded(machine, pfn, sw)
        if ex:
            return 0, [*trace, f"page_is_allowed({hex(pfn)}) [busy-is-exclusive]: excluded -> 0"]
    if not sw.strict:
        return 1, [*trace, f"page_is_allowed({hex(pfn)}): CONFIG_STRICT_DEVMEM=n -> 1"]
    value, t = devmem_is_allowed(machine, pfn, sw)
    trace += t
    if sw.proposal == RFC_2021 and value == 2:
        return 1, [*trace, f"page_is_allowed({hex(pfn)}) [rfc-2021]: devmem_is_allowed() != 0 "
                           "-> 1 (value 2 is lost: real data, not zeros)"]
    return value, trace


def range_is_allowed(machine: Machine, pfn: int, size: int,
                     sw: Switches | None = None) -> tuple[bool, list[str]]:
    """``range_is_allowed(pfn, size)`` (drivers/char/mem.c, mmap; also read/write up to
    4.10): every page must have ``page_is_allowed() != 0`` - value 2 counts as allowed, so
    low-MiB RAM is mapped for real (§10.2). 1 without STRICT_DEVMEM (and no proposal).
    The trace is that of the deciding page run (the denied one, else the last); its last line
    but one is the deciding check."""
    sw = sw or switches(machine.config)
    name = f"range_is_allowed({hex(pfn)}, {hex(size)})"
    if not sw.strict and sw.proposal == "none":
        return True, [f"{name}: CONFIG_STRICT_DEVMEM=n -> 1"]
    last = ((pfn << PAGE_SHIFT) + size - 1) >> PAGE_SHIFT if size else pfn
    trace: list[str] = []
    for first, run_last in page_runs(machine, pfn, last):
        value, trace = page_is_allowed(machine, first, sw)
        if value == 0:
            where = (f"pfn {hex(first)}" if first == run_last
                     else f"pfns {hex(first)}-{hex(run_last)}")
            return False, [*trace, f"{name}: {where} -> 0"]
    return True, [*trace, f"{name}: every page != 0 -> 1"]


# ------------------------------------------------------------------------------ §2.6
def memblock_region(machine: Machine, addr: int) -> tuple[int, int] | None:
    """The memblock *memory* region holding ``addr`` (arm64 ``ARCH_KEEP_MEMBLOCK``): a run of
    adjacent busy System RAM resources of one kind (boot RAM, or driver-managed RAM that
    ``add_memory_resource()`` added with MEMBLOCK_DRIVER_MANAGED; memblock never merges the
    two). None if ``addr`` is not memory."""
    top: Resource | None = None
    for r in machine.tree.chain_at(addr):
        if int(r.flags) & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            top = r
            break
    if top is None or top.parent is None:
        return None
    kind = int(top.flags) & _DRIVER_MANAGED
    sibs = top.parent.children
    i = sibs.index(top)
    lo, hi = i, i

    def same(r: Resource) -> bool:
        fl = int(r.flags)
        return fl & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY and fl & _DRIVER_MANAGED == kind

    while lo > 0 and sibs[lo - 1].end + 1 == sibs[lo].start and same(sibs[lo - 1]):
        lo -= 1
    while hi + 1 < len(sibs) and sibs[hi].end + 1 == sibs[hi + 1].start and same(sibs[hi + 1]):
        hi += 1
    return sibs[lo].start, sibs[hi].end


def valid_phys_addr_range(machine: Machine, addr: int, count: int,
                          sw: Switches | None = None) -> Traced:
    """``valid_phys_addr_range(addr, count)`` for read()/write(), checked before any policy.

    x86-64 (arch/x86/mm/mmap.c): ``addr + count - 1 <= __pa(high_memory - 1)`` in 64-bit
    arithmetic, so count 0 at offset 0 wraps and fails; ``high_memory`` (``machine.high_memory``)
    rises when memory is hot-added above it. arm64 (arch/arm64/mm/mmap.c): the range must lie
    inside one memblock memory region that is not NOMAP, so MMIO is refused. Generic
    (drivers/char/mem.c): ``addr + count <= __pa(high_memory)``."""
    sw = sw or switches(machine.config)
    hm = machine.high_memory
    name = f"valid_phys_addr_range({hex(addr)}, {hex(count)})"
    if sw.x86:
        last = (addr + count - 1) & ADDR_MAX
        ok = last <= hm - 1
        note = " (count 0 at offset 0 wraps)" if count == 0 and addr == 0 else ""
        return ok, [f"{name} [x86]: last byte {hex(last)} {'<=' if ok else '>'} "
                    f"__pa(high_memory - 1) = {hex(hm - 1)}{note} -> {int(ok)}"]
    if sw.arm64:
        region = memblock_region(machine, addr)
        if region is None:
            return False, [f"{name} [arm64]: {hex(addr)} is not in memblock memory -> 0"]
        ok = addr + count - 1 <= region[1] if count else True
        return ok, [f"{name} [arm64]: memblock memory {hex(region[0])}-{hex(region[1])} "
                    f"{'holds' if ok else 'does not hold'} the range -> {int(ok)}"]
    ok = addr + count <= hm
    return ok, [f"{name} [generic]: end {hex(addr + count)} {'<=' if ok else '>'} "
                f"__pa(high_memory) {hex(hm)} -> {int(ok)}"]


def valid_mmap_phys_addr_range(machine: Machine, pfn: int, size: int,
                               sw: Switches | None = None) -> Traced:
    """``valid_mmap_phys_addr_range(pfn, size)``.

    x86-64 (arch/x86/mm/mmap.c): ``phys_addr_valid(addr + size - 1)``, i.e. below 2^phys_bits
    (``config.phys_bits``). arm64: ``(addr + size) & ~PHYS_MASK`` must be 0 (48-bit PA).
    Generic (drivers/char/mem.c): always 1."""
    sw = sw or switches(machine.config)
    addr = pfn << PAGE_SHIFT
    name = f"valid_mmap_phys_addr_range({hex(pfn)}, {hex(size)})"
    if sw.x86:
        last = addr + size - 1
        ok = (last >> sw.phys_bits) == 0
        return ok, [f"{name} [x86]: last byte {hex(last)} {'fits' if ok else 'is beyond'} "
                    f"{sw.phys_bits} physical address bits -> {int(ok)}"]
    if sw.arm64:
        ok = ((addr + size) >> ARM64_PHYS_MASK_SHIFT) == 0
        return ok, [f"{name} [arm64]: end {hex(addr + size)} {'within' if ok else 'outside'} "
                    f"PHYS_MASK ({ARM64_PHYS_MASK_SHIFT} bits) -> {int(ok)}"]
    return True, [f"{name} [generic]: -> 1"]


# ------------------------------------------------------------------------------ §2.7
def pfn_valid(machine: Machine, pfn: int) -> bool:
    """``pfn_valid(pfn)`` (SPARSEMEM): a memmap exists for the page's 128 MiB section, i.e.
    some busy System RAM (boot RAM or added memory) lies in that section."""
    tree = machine.tree
    addr = pfn << PAGE_SHIFT
    for r in tree.chain_at(addr):
        if int(r.flags) & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            return True
    start = addr & ~(SECTION_SIZE - 1)
    for r in overlapping_dfs(tree, tree.root, start, start + SECTION_SIZE - 1):
        if int(r.flags) & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            return True
    return False


def ioremap_refuses_ram(machine: Machine, start: int, end: int,
                        sw: Switches | None = None) -> Resource | None:
    """x86 ``__ioremap_caller()`` -> ``__ioremap_check_mem()``: ``walk_mem_res()`` visits busy
    MEM resources overlapping the range (lowest first, then on past its end; at any depth from
    5.13 - 3c9c79753436, 97523a4edb7b - top level only before) and refuses ("ioremap on RAM")
    when one is System RAM covering a whole page (which has a memmap). Returns that resource."""
    sw = sw or switches(machine.config)
    root = machine.tree.root
    pos = start
    for r in overlaps(machine.tree, start, end):
        if r.end < pos or int(r.flags) & _MEM_BUSY != _MEM_BUSY:
            continue
        if not sw.ioremap_nested and r.parent is not root:
            continue
        lo, hi = max(pos, r.start), min(end, r.end)
        if (int(r.flags) & _SYSTEM_RAM == _SYSTEM_RAM
                and (hi + 1) >> PAGE_SHIFT > (lo + PAGE_SIZE - 1) >> PAGE_SHIFT):
            return r
        pos = r.end + 1  # find_next_iomem_res() goes on after the clipped match
    return None


def xlate_dev_mem_ptr(machine: Machine, addr: int,
                      sw: Switches | None = None) -> tuple[Xlate, list[str]]:
    """``xlate_dev_mem_ptr(addr)``: how read_mem()/write_mem() reach one page.

    x86 (arch/x86/mm/ioremap.c) maps the page with ``memremap(page, PAGE_SIZE, MEMREMAP_WB)``
    (kernel/iomem.c): ``region_intersects()`` MIXED -> NULL ("memremap attempted on mixed
    range"); INTERSECTS with a memmap -> the direct map (``try_ram_remap``); otherwise
    ``ioremap_cache()``, which refuses busy System RAM (NULL). arm64 and generic: ``__va()``,
    the direct map (valid_phys_addr_range already limited read/write to memory)."""
    sw = sw or switches(machine.config)
    page = addr & ~(PAGE_SIZE - 1)
    if not sw.x86:
        return Xlate.DIRECT, [f"xlate_dev_mem_ptr({hex(page)}) [{sw.arch}]: __va() -> direct map"]
    if not sw.xlate_memremap:
        return _xlate_before_4_14(machine, page, sw)
    ri, trace = region_intersects(machine, page, PAGE_SIZE, _SYSTEM_RAM, sw)
    name = f"memremap({hex(page)}, PAGE_SIZE, MEMREMAP_WB)"
    if ri is Region.MIXED:
        return Xlate.FAILED, [*trace, f"{name}: mixed range -> NULL (WARN), "
                                      "xlate_dev_mem_ptr() fails"]
    if ri is Region.INTERSECTS:
        if pfn_valid(machine, page >> PAGE_SHIFT):
            return Xlate.DIRECT, [*trace, f"{name}: RAM with a memmap -> direct map"]
        trace.append(f"{name}: RAM without a memmap (pfn_valid() 0) -> ioremap_cache()")
    how = "any depth" if sw.ioremap_nested else "top level"
    ram = ioremap_refuses_ram(machine, page, page + PAGE_SIZE - 1, sw)
    if ram is not None:
        return Xlate.FAILED, [*trace, f"ioremap_cache({hex(page)}) [walk_mem_res, {how}]: busy "
                                      f"{label(ram)} is RAM -> NULL ('ioremap on RAM')"]
    return Xlate.IOREMAP, [*trace, f"ioremap_cache({hex(page)}) [walk_mem_res, {how}]: no busy "
                                   "System RAM -> mapped"]


def _xlate_before_4_14(machine: Machine, page: int, sw: Switches) -> tuple[Xlate, list[str]]:
    """x86 ``xlate_dev_mem_ptr()`` before 4.14: ``page_is_ram() ? __va() : ioremap_cache()``.

    The SME series ("x86/mm: Use proper encryption attributes with /dev/mem", 4.14) replaced
    this with ``memremap()``; read in the pre-4.14 arch/x86/mm/ioremap.c and the patch. So a
    page only partly RAM (0x9f000) is not ``page_is_ram()``, goes to ``ioremap_cache()``, which
    refuses only whole RAM pages, and is mapped: no "mixed range" EFAULT before 4.14."""
    is_ram, trace = page_is_ram(machine, page >> PAGE_SHIFT, sw)
    name = f"xlate_dev_mem_ptr({hex(page)}) [x86, < 4.14]"
    if is_ram:
        return Xlate.DIRECT, [*trace, f"{name}: page_is_ram() -> __va(), direct map"]
    ram = ioremap_refuses_ram(machine, page, page + PAGE_SIZE - 1, sw)
    if ram is not None:
        return Xlate.FAILED, [*trace, f"{name}: ioremap_cache() refuses busy {label(ram)} "
                                      "(RAM) -> NULL"]
    return Xlate.IOREMAP, [*trace, f"{name}: not page_is_ram() -> ioremap_cache() -> mapped"]


# ------------------------------------------------------------------------------ §2.8
def phys_mem_access_prot_allowed(machine: Machine, pfn: int, size: int,
                                 sw: Switches | None = None) -> Traced:
    """``phys_mem_access_prot_allowed()`` on mmap.

    x86 (arch/x86/mm/pat/memtype.c): with STRICT_DEVMEM=y its private ``range_is_allowed()``
    is a stub (mem.c already checked); with STRICT_DEVMEM=n and PAT enabled, up to 6.15, it
    re-runs ``devmem_is_allowed()`` on every page and refuses on any 0 (value 2 passes) ->
    mmap EINVAL; removed in 6.16 (1b3f2bd04d90 + follow-up). Other arches: the weak default
    in drivers/char/mem.c, always 1."""
    sw = sw or switches(machine.config)
    name = f"phys_mem_access_prot_allowed({hex(pfn)}, {hex(size)})"
    if not sw.x86:
        return True, [f"{name} [generic]: -> 1"]
    if sw.strict:
        return True, [f"{name} [x86 PAT]: range_is_allowed() stub with STRICT_DEVMEM=y -> 1"]
    if not sw.pat_recheck:
        why = "PAT disabled" if not sw.pat else "6.16+: no devmem re-check"
        return True, [f"{name} [x86 PAT]: {why} -> 1"]
    last = ((pfn << PAGE_SHIFT) + size - 1) >> PAGE_SHIFT
    trace: list[str] = []
    for first, _ in page_runs(machine, pfn, last):
        value, trace = devmem_is_allowed(machine, first, sw)
        if value == 0:
            return False, [*trace, f"{name} [x86 PAT, STRICT_DEVMEM=n, <= 6.15]: "
                                   f"devmem_is_allowed({hex(first)}) == 0 -> 0"]
    return True, [*trace, f"{name} [x86 PAT, STRICT_DEVMEM=n, <= 6.15]: every page != 0 -> 1"]
