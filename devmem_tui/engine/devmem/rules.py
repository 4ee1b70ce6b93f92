"""The kernel's ``/dev/mem`` policy, one function per kernel function: kernel/resource.c
(``region_intersects``, ``page_is_ram``, ``iomem_is_exclusive``), ``devmem_is_allowed`` and
drivers/char/mem.c (``page_is_allowed``, ``range_is_allowed``), with the counterfactual
proposals hooked in where their patches would have been. The architecture hooks mem.c calls
(address checks, ``xlate_dev_mem_ptr``, the PAT mmap hook) are in arch_hooks.py.

Every rule returns ``(value, trace)``: ``trace`` lists what the kernel function looked at and
what it returned, e.g. ``devmem_is_allowed(0x100): page overlaps System RAM ... -> 0``, as lazy
lines (``verdict.Line``); ``traced`` gives the rendered form. The configuration comes in as
``KernelConfig.switches``.

Per-page questions descend the resource tree by bisection (``TreeWalker.overlaps``), never by
scanning every resource, and multi-page calls are decided in *runs*: pages that overlap exactly
the same resources get the same answer from every rule here, so ``spans`` hands out the
longest such stretches (``TreeWalker.next_boundary``), each decided once; inside a memory
device's region the trace still names each 2 MiB run, and ``verdict.RunGroups`` makes only the
lines it prints. See docs/kernel-rules.md for the choices made where the kernel's behaviour is
not modelled exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING

from devmem_tui.engine.config import BUSY_IS_EXCLUSIVE, V1_2021, Switches
from devmem_tui.engine.devmem.verdict import Lazy, Line, traced
from devmem_tui.engine.iomem.tree import F, Resource
from devmem_tui.engine.units import PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

LOW_PFNS = 256  # the first MiB, in pages
MAX_RW_COUNT = 0x7FFFF000  # INT_MAX & PAGE_MASK: the VFS caps every read()/write() count

# Plain ints: IntFlag arithmetic is slow on the per-page hot path.
_SYSRAM = int(F.SYSRAM)
_SYSTEM_RAM = int(F.MEM) | _SYSRAM
_BUSY = int(F.BUSY)
_EXCLUSIVE = int(F.EXCLUSIVE)
_SYSTEM_RAM_BUSY = _SYSTEM_RAM | _BUSY
_EXCLUSIVE_SYSTEM_RAM = _SYSTEM_RAM | _EXCLUSIVE
_VIRTIO_PARENT = re.compile(r"virtio\d+")


class Region(StrEnum):
    """``REGION_DISJOINT`` / ``REGION_INTERSECTS`` / ``REGION_MIXED`` (include/linux/mm.h)."""

    DISJOINT = "DISJOINT"
    INTERSECTS = "INTERSECTS"
    MIXED = "MIXED"


# Enum members as module constants: on CPython 3.11 reading a member through its class costs
# ~0.2 us, which the per-page hot path pays several times per verdict.
_DISJOINT, _INTERSECTS, _MIXED = Region.DISJOINT, Region.INTERSECTS, Region.MIXED


def label(res: Resource) -> str:
    return _lab(res.name, res.start, res.end)


def _lab(name: str, start: int, end: int) -> str:
    return f"{name!r} {hex(start)}-{hex(end)}"


def _cap(res: Resource) -> tuple[str, int, int]:
    """What a lazy trace line keeps of a resource: its label's values as they are now."""
    return res.name, res.start, res.end


# ------------------------------------------------------------------------------ flags
def eff_flags(res: Resource, sw: Switches) -> int:
    """The resource's flags as the configured kernel would have set them (only the
    ``virtioN`` EXCLUSIVE bit depends on the version, see
    ``KernelConfig.virtio_parent_exclusive``)."""
    fl = res.flags.real  # a plain int, 2x cheaper than int() of the IntFlag
    if fl & _SYSRAM and res.name.startswith("virtio") and _VIRTIO_PARENT.fullmatch(res.name):
        if sw.virtio_parent_exclusive:
            fl |= _EXCLUSIVE
        else:
            fl &= ~_EXCLUSIVE
    return fl


# ------------------------------------------------------------------------------ page runs
STATE_GRAIN = 1 << 21  # memory state is uniform per 2 MiB (the smallest virtio-mem sub-block)
_GRAIN_PFNS = STATE_GRAIN >> PAGE_SHIFT


class GrainRuns:
    """The page runs of a span [a, b] of pfns: the whole span, or, inside a memory device's
    region (``grained``), the span cut at every STATE_GRAIN boundary. A sequence: the k-th run
    is computed, never stored, so a span of 4,096 runs costs what one does."""

    __slots__ = ("a", "b", "n", "_second")

    def __init__(self, a: int, b: int, grained: bool) -> None:
        self.a, self.b = a, b
        first_end = a | (_GRAIN_PFNS - 1) if grained else b
        if first_end >= b:
            self.n, self._second = 1, b + 1
        else:
            self._second = first_end + 1
            self.n = 1 + -(-(b - first_end) // _GRAIN_PFNS)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> tuple[int, int]:
        """Run k as (first pfn, last pfn)."""
        if k == 0:
            return self.a, min(self.b, self._second - 1)
        first = self._second + (k - 1) * _GRAIN_PFNS
        return first, min(self.b, first + _GRAIN_PFNS - 1)

    def index(self, pfn: int) -> int:
        """The run holding pfn."""
        return 0 if pfn < self._second else 1 + (pfn - self._second) // _GRAIN_PFNS


def spans(
    machine: MachineLike, first_pfn: int, last_pfn: int, states: bool = False
) -> Iterator[GrainRuns]:
    """[first_pfn, last_pfn] as spans whose page runs every rule here answers alike: the pages
    overlap exactly the same resources and lie on the same side of the first-MiB line, and
    (``states``) each run's first page has the same memory state. Inside a memory device's
    region the runs are STATE_GRAIN long (the state is sampled per grain); a span there ends
    at the device's next memory-state edge (rounded up to a grain), so a long read of one
    plugged run is one span of many runs, not many spans. Costs O(log n) per span."""
    pfn = first_pfn
    tree = machine.tree
    while pfn <= last_pfn:
        a = pfn << PAGE_SHIFT
        region = machine.device_region_at(a)
        e = last_pfn
        if pfn < last_pfn:
            nb = tree.next_boundary(a)
            if nb < a + PAGE_SIZE:
                e = pfn  # a resource starts or ends inside this page
            else:
                e = min(e, (nb >> PAGE_SHIFT) - 1)
                if pfn < LOW_PFNS:
                    e = min(e, LOW_PFNS - 1)
                if region is not None:
                    e = min(e, region[1] >> PAGE_SHIFT)
                    if states:  # through the grain that holds the state's last byte
                        state_end = getattr(region[2], "state_end", None)
                        last = a if state_end is None else state_end(a)
                        e = min(e, (last >> PAGE_SHIFT) | (_GRAIN_PFNS - 1))
                else:
                    e = min(e, (machine.next_device_start(a) >> PAGE_SHIFT) - 1)
                e = max(e, pfn)
        yield GrainRuns(pfn, e, region is not None)
        pfn = e + 1


def where_pfns(first: int, last: int) -> str:
    """``pfn 0x..`` or ``pfns 0x..-0x..``: how trace lines name a page run."""
    return f"pfn {hex(first)}" if first == last else f"pfns {hex(first)}-{hex(last)}"


# ------------------------------------------------------------------------------ kernel/resource.c
def _ri_line(
    start: int,
    size: int,
    how: str,
    first_type: tuple[str, int, int] | None,
    first_other: tuple[str, int, int] | None,
    result: Region,
) -> str:
    if first_type is None:
        seen = "no System RAM" if first_other is None else f"only {_lab(*first_other)}"
    else:
        seen = f"System RAM {_lab(*first_type)}"
        if first_other is not None:
            seen += f" and {_lab(*first_other)}"
    return (
        f"region_intersects({hex(start)}, {hex(size)}, SYSTEM_RAM) [{how}]: {seen} "
        f"-> {result.value}"
    )


def region_intersects_lazy(
    machine: MachineLike,
    start: int,
    size: int,
    flags: int = _SYSTEM_RAM,
    sw: Switches | None = None,
) -> tuple[Region, list[Line]]:
    """``region_intersects(start, size, flags, IORES_DESC_NONE)`` (kernel/resource.c).

    All versions: each top-level resource overlapping the range counts as "type" when its flags
    contain every requested bit (BUSY is not asked for, so the non-busy ``virtioN`` parent
    counts as System RAM), else "other"; none of type -> DISJOINT, no other -> INTERSECTS
    (holes don't count), else MIXED. Before b4afe4183ec7 (CVE-2024-49878) only top-level
    resources are seen; with it (mainline 6.12; stable 5.4.285, 5.10.227, 5.15.168, 6.1.113,
    6.6.55, 6.10.14, 6.11.3: ``config.REGION_INTERSECTS_DESCENDS``) a non-matching top-level
    resource is searched for matching descendants and is not "other" when they cover its whole
    overlap."""
    sw = sw or machine.config.switches
    tree = machine.tree
    # memremap() asks about the page devmem_is_allowed() just asked about: the last answer is
    # kept on the tree (which drops it when it changes), keyed by the question and the config.
    memo = tree.memos.get("region_intersects")
    if memo is not None and memo[0] == start and memo[1] == size and memo[2] == flags:
        if memo[3] is sw or memo[3] == sw:
            return memo[4], [memo[5]]
    root = tree.root
    end = start + size - 1
    found = tree.overlaps(start, end)
    n_type = n_other = 0
    first_type: Resource | None = None
    first_other: Resource | None = None
    i, n = 0, len(found)
    while i < n:
        p = found[i]  # a top-level resource; its overlapping descendants follow it
        j = i + 1
        while j < n and found[j].parent is not root:
            j += 1
        fl = p.flags.real
        if fl & _SYSRAM:
            fl = eff_flags(p, sw)
        if fl & flags == flags:
            n_type += 1
            first_type = first_type or p
            i = j
            continue
        covered = False
        if sw.region_intersects_descends:
            ostart, oend = max(start, p.start), min(end, p.end)
            for dp in found[i + 1 : j]:
                fl = dp.flags.real
                if fl & _SYSRAM:
                    fl = eff_flags(dp, sw)
                if fl & flags == flags:
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
        result = _DISJOINT
    elif n_other == 0:
        result = _INTERSECTS
    else:
        result = _MIXED
    line = (
        _ri_line,
        start,
        size,
        "incl. descendants" if sw.region_intersects_descends else "top level",
        first_type and _cap(first_type),
        first_other and _cap(first_other),
        result,
    )
    tree.memos["region_intersects"] = (start, size, flags, sw, result, line)
    return result, [line]


_PIR_COVERS = "page_is_ram({:#x}): busy {!r} {:#x}-{:#x} covers the page -> 1".format
_PIR_PART = "page_is_ram({:#x}): busy {!r} {:#x}-{:#x} covers only part of the page -> 0".format
_PIR_NONE = "page_is_ram({:#x}): no busy System RAM here -> 0".format
_PIR_NESTED = (
    "page_is_ram({:#x}) [< 5.1: walk_system_ram_range() sees the top level only]: busy {!r} "
    "{:#x}-{:#x} is nested below {!r} -> 0"
).format


def page_is_ram_lazy(machine: MachineLike, pfn: int, sw: Switches | None = None) -> Lazy:
    """``page_is_ram(pfn)`` = ``walk_system_ram_range(pfn, 1)`` (kernel/resource.c).

    True iff one resource with SYSTEM_RAM|BUSY covers the whole page (the walk rounds each
    match inward to whole pages), so page 0x9f is not RAM when RAM ends at 0x9fbff and the
    non-busy ``virtioN`` parent never counts. From 5.1 (a9b17a5ef499 "mm/resource: Let
    walk_system_ram_range() search child resources", merged with dax kmem) at any depth; before,
    ``find_next_iomem_res(..., first_level_children_only = true)`` saw top-level resources only,
    so System RAM nested below another resource (dax kmem, CXL) is not RAM there."""
    sw = sw or machine.config.switches
    start = pfn << PAGE_SHIFT
    last = start + PAGE_SIZE - 1
    partial: Resource | None = None
    nested: Resource | None = None
    root = machine.tree.root
    descends = sw.walk_ram_descends
    for r in machine.tree.overlaps(start, last):
        if r.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            if not descends and r.parent is not root:
                nested = nested or r
                continue
            if r.start <= start and r.end >= last:
                return True, [(_PIR_COVERS, pfn, r.name, r.start, r.end)]
            partial = partial or r
    if partial is not None:
        return False, [(_PIR_PART, pfn, partial.name, partial.start, partial.end)]
    if nested is not None:
        top = nested.chain()[0]
        return False, [(_PIR_NESTED, pfn, nested.name, nested.start, nested.end, top.name)]
    return False, [(_PIR_NONE, pfn)]


_IIE_OFF = (
    "iomem_is_exclusive({:#x}): strict_iomem_checks=0 (iomem={}, STRICT_DEVMEM={}) -> false"
).format
_IIE_RULE1 = (
    "iomem_is_exclusive({:#x}): {!r} {:#x}-{:#x} is SYSTEM_RAM|EXCLUSIVE (5.16+: busy "
    "or not, any iomem=) -> true"
).format
_IIE_IO_STRICT = (
    "iomem_is_exclusive({:#x}): busy {!r} {:#x}-{:#x}, IO_STRICT_DEVMEM=y -> true"
).format
_IIE_EXCL = (
    "iomem_is_exclusive({:#x}): busy {!r} {:#x}-{:#x} has IORESOURCE_EXCLUSIVE -> true"
).format
_IIE_FALSE_OFF = (
    "iomem_is_exclusive({:#x}): no SYSTEM_RAM|EXCLUSIVE resource; "
    "strict_iomem_checks=0 (iomem={}) -> false"
).format
_IIE_FALSE_IO = "iomem_is_exclusive({:#x}): nothing busy here -> false".format
_IIE_FALSE = (
    "iomem_is_exclusive({:#x}): no busy IORESOURCE_EXCLUSIVE resource here "
    "(IO_STRICT_DEVMEM=n) -> false"
).format


def iomem_is_exclusive_lazy(machine: MachineLike, addr: int, sw: Switches | None = None) -> Lazy:
    """``iomem_is_exclusive(addr)`` (kernel/resource.c; ``resource_is_exclusive()`` from 6.2).

    The page of ``addr`` against every resource overlapping it, at any depth.
    Up to 5.15: false when ``strict_iomem_checks`` is 0; else true for a BUSY resource when
    CONFIG_IO_STRICT_DEVMEM=y or it has IORESOURCE_EXCLUSIVE.
    5.16+ (b78dfa059fdd, a9e7b8d4f663): first, any resource with SYSTEM_RAM|EXCLUSIVE makes it
    true, busy or not and whatever ``iomem=`` say; then the old test.
    ``strict_iomem_checks`` defaults from STRICT_DEVMEM, not IO_STRICT_DEVMEM
    (``strict_iomem()``)."""
    sw = sw or machine.config.switches
    page = addr & ~(PAGE_SIZE - 1)
    strict, io_strict, rule1 = sw.strict_iomem_checks, sw.io_strict_devmem, sw.exclusive_system_ram
    if not rule1 and not strict:
        return False, [(_IIE_OFF, page, sw.iomem, "y" if sw.strict_devmem else "n")]
    for r in machine.tree.overlaps(page, page + PAGE_SIZE - 1):
        fl = r.flags.real
        if fl & _SYSRAM:
            fl = eff_flags(r, sw)
        if rule1 and fl & _EXCLUSIVE_SYSTEM_RAM == _EXCLUSIVE_SYSTEM_RAM:
            return True, [(_IIE_RULE1, page, r.name, r.start, r.end)]
        if not strict or not fl & _BUSY:
            continue
        if io_strict:
            return True, [(_IIE_IO_STRICT, page, r.name, r.start, r.end)]
        if fl & _EXCLUSIVE:
            return True, [(_IIE_EXCL, page, r.name, r.start, r.end)]
    if not strict:
        return False, [(_IIE_FALSE_OFF, page, sw.iomem)]
    return False, [(_IIE_FALSE_IO if io_strict else _IIE_FALSE, page)]


# ------------------------------------------------------------------------------ devmem_is_allowed
_DIA_OLD = "devmem_is_allowed({:#x}) {}: {}".format
_DIA = "devmem_is_allowed({:#x}): {}".format
_DIA_RAM_LOW = "devmem_is_allowed({:#x}): System RAM ({}() {}) below 1 MiB -> 2".format
_DIA_RAM = "devmem_is_allowed({:#x}): System RAM ({}() {}) -> 0".format
_DIA_EXCL = "devmem_is_allowed({:#x}): not RAM ({}() {}), exclusive -> 0".format
_DIA_OK = "devmem_is_allowed({:#x}): not RAM ({}() {}), not exclusive -> 1".format


def devmem_is_allowed_lazy(
    machine: MachineLike, pfn: int, sw: Switches | None = None
) -> tuple[int, list[Line]]:
    """``devmem_is_allowed(pfn)``: 0 deny, 1 allow, 2 allow but read zeros / drop writes.

    x86 (arch/x86/mm/init.c): 4.18+ System RAM test ``region_intersects() != DISJOINT`` ->
    2 below 1 MiB else 0; then ``iomem_is_exclusive()`` -> 1 below 1 MiB else 0; else 1.
    4.11-4.17 (a4866aa81251): the same with ``page_is_ram()`` as the RAM test. Up to 4.10:
    pfn < 256 -> 1; exclusive -> 0; ``page_is_ram()`` -> 0; else 1.
    Generic (lib/devmem_is_allowed.c; arm64's own identical copy before): exclusive -> 0;
    ``page_is_ram()`` -> 0; else 1 (no first-MiB rule, never 2)."""
    sw = sw or machine.config.switches
    addr = pfn << PAGE_SHIFT
    low = pfn < LOW_PFNS
    trace: list[Line]
    if not sw.x86 or not sw.lowmem_ram_zero_fill:
        tag = "[generic]" if not sw.x86 else "[x86 <= 4.10]"
        if sw.x86 and low:
            return 1, [(_DIA_OLD, pfn, tag, "pfn < 256 is always allowed -> 1")]
        ex, trace = iomem_is_exclusive_lazy(machine, addr, sw)
        if ex:
            return 0, [*trace, (_DIA_OLD, pfn, tag, "exclusive -> 0")]
        ram, t = page_is_ram_lazy(machine, pfn, sw)
        trace += t
        if ram:
            return 0, [*trace, (_DIA_OLD, pfn, tag, "page_is_ram() -> 0")]
        return 1, [*trace, (_DIA_OLD, pfn, tag, "not exclusive, not RAM -> 1")]
    test: str
    answer: object
    if sw.ram_test_region_intersects:
        ri, trace = region_intersects_lazy(machine, addr, PAGE_SIZE, _SYSTEM_RAM, sw)
        is_ram = ri is not _DISJOINT
        test, answer = "region_intersects", ri
    else:
        is_ram, trace = page_is_ram_lazy(machine, pfn, sw)
        test, answer = "page_is_ram", int(is_ram)
    if is_ram:
        if low:
            return 2, [*trace, (_DIA_RAM_LOW, pfn, test, answer)]
        return 0, [*trace, (_DIA_RAM, pfn, test, answer)]
    ex, t = iomem_is_exclusive_lazy(machine, addr, sw)
    trace += t
    if ex:
        if low:
            return 1, [
                *trace,
                (_DIA, pfn, "exclusive, but the low 1 MiB bypasses iomem restrictions -> 1"),
            ]
        return 0, [*trace, (_DIA_EXCL, pfn, test, answer)]
    return 1, [*trace, (_DIA_OK, pfn, test, answer)]


# ------------------------------------------------------------------------------ proposals
_RFC_NAME = "iomem_range_contains_excluded_devmem({:#x}-{:#x}) [v1-2021]: "
_RFC_HIT = (_RFC_NAME + "{!r} {:#x}-{:#x} is SYSTEM_RAM|EXCLUSIVE -> 1").format
_RFC_NONE = (_RFC_NAME + "no SYSTEM_RAM|EXCLUSIVE resource -> 0").format


def rfc2021_excluded_lazy(
    machine: MachineLike, start: int, end: int, sw: Switches | None = None
) -> Lazy:
    """``iomem_range_contains_excluded_devmem()`` of the 2021 series v1/v2 ("[PATCH v1 1/3]
    /dev/mem: disallow access to explicitly excluded system RAM regions"; counterfactual: v3
    replaced it, never merged): does [start, end] overlap a resource flagged
    SYSTEM_RAM|EXCLUSIVE, at any depth? drivers/char/mem.c denied such pages whatever
    STRICT_DEVMEM and ``iomem=`` say."""
    sw = sw or machine.config.switches
    for r in machine.tree.overlaps(start, end):
        if eff_flags(r, sw) & _EXCLUSIVE_SYSTEM_RAM == _EXCLUSIVE_SYSTEM_RAM:
            return True, [(_RFC_HIT, start, end, r.name, r.start, r.end)]
    return False, [(_RFC_NONE, start, end)]


_BIE = "devmem_is_excluded({:#x}) [busy-is-exclusive]: {}".format
_BIE_HIT = (
    "devmem_is_excluded({:#x}) [busy-is-exclusive]: busy {!r} {:#x}-{:#x} is in use by "
    "the kernel -> 1"
).format


def busy_excluded_lazy(machine: MachineLike, pfn: int, sw: Switches | None = None) -> Lazy:
    """busy-is-exclusive (counterfactual): "all of the existing 'kernel is using this region'
    cases should become mandatory exclusions", the idea Dan Williams raised in the 2021 thread
    as a reductio of v1/v2 (he argued that a mostly unfettered /dev/mem mode is here to stay;
    nobody proposed this as a patch). Every busy region is a mandatory exclusion, checked in
    drivers/char/mem.c before STRICT_DEVMEM, IO_STRICT_DEVMEM and ``iomem=`` are consulted.
    It is IO_STRICT_DEVMEM made mandatory ("precisely CONFIG_IO_STRICT_DEVMEM"), so on x86 it
    keeps that option's "low 1 MiB bypasses iomem restrictions" rule (pfn < 256 is never
    excluded here)."""
    sw = sw or machine.config.switches
    if sw.x86 and pfn < LOW_PFNS:
        return False, [(_BIE, pfn, "the low 1 MiB bypasses iomem restrictions -> 0")]
    start = pfn << PAGE_SHIFT
    for r in machine.tree.overlaps(start, start + PAGE_SIZE - 1):
        if r.flags.real & _BUSY:
            return True, [(_BIE_HIT, pfn, r.name, r.start, r.end)]
    return False, [(_BIE, pfn, "nothing busy here -> 0")]


# ------------------------------------------------------------------------------ mem.c
_PIA = "page_is_allowed({:#x}){}".format


def page_is_allowed_lazy(
    machine: MachineLike, pfn: int, sw: Switches | None = None
) -> tuple[int, list[Line]]:
    """``page_is_allowed(pfn)`` (drivers/char/mem.c, 4.11+; read/write per page):
    ``devmem_is_allowed()`` with CONFIG_STRICT_DEVMEM=y, else 1. Up to 4.10 read/write used
    ``range_is_allowed()`` over the remaining count instead (same page answers, see rw).

    v1-2021: first deny pages overlapping SYSTEM_RAM|EXCLUSIVE regardless of STRICT_DEVMEM;
    then with STRICT_DEVMEM, any non-zero ``devmem_is_allowed()`` becomes 1, so value 2 is
    lost (derived from the patch, not run). busy-is-exclusive: first deny busy pages
    (``busy_excluded``)."""
    sw = sw or machine.config.switches
    trace: list[Line] = []
    if sw.proposal == V1_2021:
        start = pfn << PAGE_SHIFT
        ex, trace = rfc2021_excluded_lazy(machine, start, start + PAGE_SIZE - 1, sw)
        if ex:
            return 0, [*trace, (_PIA, pfn, " [v1-2021]: excluded -> 0")]
    elif sw.proposal == BUSY_IS_EXCLUSIVE:
        ex, trace = busy_excluded_lazy(machine, pfn, sw)
        if ex:
            return 0, [*trace, (_PIA, pfn, " [busy-is-exclusive]: excluded -> 0")]
    if not sw.strict_devmem:
        return 1, [*trace, (_PIA, pfn, ": CONFIG_STRICT_DEVMEM=n -> 1")]
    value, t = devmem_is_allowed_lazy(machine, pfn, sw)
    trace += t
    if sw.proposal == V1_2021 and value == 2:
        return 1, [
            *trace,
            (
                _PIA,
                pfn,
                " [v1-2021]: devmem_is_allowed() != 0 -> 1 (value 2 is lost: real data, not zeros)",
            ),
        ]
    return value, trace


_RIA = "range_is_allowed({:#x}, {:#x}): {}".format


def _ria_denied(pfn: int, size: int, first: int, last: int) -> str:
    return f"range_is_allowed({hex(pfn)}, {hex(size)}): {where_pfns(first, last)} -> 0"


def range_is_allowed_lazy(
    machine: MachineLike, pfn: int, size: int, sw: Switches | None = None
) -> Lazy:
    """``range_is_allowed(pfn, size)`` (drivers/char/mem.c, mmap; also read/write up to
    4.10): every page must have ``page_is_allowed() != 0`` - value 2 counts as allowed, so
    low-MiB RAM is mapped for real. 1 without STRICT_DEVMEM (and no proposal).
    The trace is that of the deciding page run (the denied one, else the last); its last line
    but one is the deciding check."""
    sw = sw or machine.config.switches
    if not sw.strict_devmem and sw.proposal == "none":
        return True, [(_RIA, pfn, size, "CONFIG_STRICT_DEVMEM=n -> 1")]
    last = ((pfn << PAGE_SHIFT) + size - 1) >> PAGE_SHIFT if size else pfn
    trace: list[Line] = []
    runs: GrainRuns | None = None
    for runs in spans(machine, pfn, last):  # every run of a span answers alike
        first, run_last = runs[0]
        value, trace = page_is_allowed_lazy(machine, first, sw)
        if value == 0:
            return False, [*trace, (_ria_denied, pfn, size, first, run_last)]
    if runs is not None and len(runs) > 1:  # the trace is the last run's: it names its pfn
        _value, trace = page_is_allowed_lazy(machine, runs[len(runs) - 1][0], sw)
    return True, [*trace, (_RIA, pfn, size, "every page != 0 -> 1")]


# ------------------------------------------------------------------------------ rendered
# The rules above as the rest of the program calls them: the same answers, traces as strings.
region_intersects = traced(region_intersects_lazy)
page_is_ram = traced(page_is_ram_lazy)
iomem_is_exclusive = traced(iomem_is_exclusive_lazy)
devmem_is_allowed = traced(devmem_is_allowed_lazy)
rfc2021_excluded = traced(rfc2021_excluded_lazy)
busy_excluded = traced(busy_excluded_lazy)
page_is_allowed = traced(page_is_allowed_lazy)
range_is_allowed = traced(range_is_allowed_lazy)
