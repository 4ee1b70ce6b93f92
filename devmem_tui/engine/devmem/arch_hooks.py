"""The architecture hooks drivers/char/mem.c calls around the /dev/mem policy (rules.py):
``valid_phys_addr_range`` and ``valid_mmap_phys_addr_range`` (may this range be read or mapped
at all), ``xlate_dev_mem_ptr`` (how read()/write() reach a page, through ``memremap`` /
``ioremap_cache`` on x86) and ``phys_mem_access_prot_allowed`` (the x86 PAT mmap hook), each
for x86-64, arm64 and the generic fallback. Same conventions as rules.py: ``(value, trace)``
with lazy trace lines, ``traced`` for the rendered form.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from devmem_tui.engine.config import Switches
from devmem_tui.engine.devmem.rules import (
    GrainRuns,
    Region,
    devmem_is_allowed_lazy,
    page_is_ram_lazy,
    region_intersects_lazy,
    spans,
)
from devmem_tui.engine.devmem.verdict import Lazy, Line, traced
from devmem_tui.engine.iomem.tree import F, Resource
from devmem_tui.engine.units import ADDR_MAX, PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

SECTION_SIZE = 1 << 27  # x86-64 / arm64-4K SECTION_SIZE_BITS 27: memmap exists per 128 MiB
ARM64_PHYS_MASK_SHIFT = 48  # CONFIG_ARM64_PA_BITS=48 (the default)

# Plain ints: IntFlag arithmetic is slow on the per-page hot path.
_SYSTEM_RAM = int(F.MEM | F.SYSRAM)
_SYSTEM_RAM_BUSY = _SYSTEM_RAM | int(F.BUSY)
_MEM_BUSY = int(F.MEM | F.BUSY)
_DRIVER_MANAGED = int(F.SYSRAM_DRIVER_MANAGED)


class Xlate(StrEnum):
    """How ``xlate_dev_mem_ptr()`` reached a page: the direct map, ``ioremap_cache()``, or not
    at all (NULL)."""

    DIRECT = "direct map"
    IOREMAP = "ioremap_cache"
    FAILED = "NULL"


# Enum members as module constants: on CPython 3.11 reading a member through its class costs
# ~0.2 us, which the per-page hot path pays several times per verdict.
_DIRECT, _IOREMAP, _FAILED = Xlate.DIRECT, Xlate.IOREMAP, Xlate.FAILED
_MIXED, _INTERSECTS = Region.MIXED, Region.INTERSECTS


# ----------------------------------------------------------------- read/write and mmap range checks
def memblock_region(machine: MachineLike, addr: int) -> tuple[int, int] | None:
    """The memblock *memory* region holding ``addr`` (arm64 ``ARCH_KEEP_MEMBLOCK``): a run of
    adjacent busy System RAM resources of one kind (boot RAM, or driver-managed RAM that
    ``add_memory_resource()`` added with MEMBLOCK_DRIVER_MANAGED; memblock never merges the
    two). None if ``addr`` is not memory."""
    top: Resource | None = None
    for r in machine.tree.chain_at(addr):
        if r.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            top = r
            break
    if top is None or top.parent is None:
        return None
    kind = int(top.flags) & _DRIVER_MANAGED
    sibs = top.parent.children
    i = top.parent.child_index_at(top.start)  # siblings start apart: bisection finds it
    lo, hi = i, i

    def same(r: Resource) -> bool:
        fl = r.flags.real
        return fl & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY and fl & _DRIVER_MANAGED == kind

    while lo > 0 and sibs[lo - 1].end + 1 == sibs[lo].start and same(sibs[lo - 1]):
        lo -= 1
    while hi + 1 < len(sibs) and sibs[hi].end + 1 == sibs[hi + 1].start and same(sibs[hi + 1]):
        hi += 1
    return sibs[lo].start, sibs[hi].end


_VPA_X86 = (
    "valid_phys_addr_range({:#x}, {:#x}) [x86]: last byte {:#x} {} __pa(high_memory - 1) "
    "= {:#x}{} -> {:d}"
).format
_VPA_ARM_NONE = (
    "valid_phys_addr_range({:#x}, {:#x}) [arm64]: {:#x} is not in memblock memory -> 0"
).format
_VPA_ARM = (
    "valid_phys_addr_range({:#x}, {:#x}) [arm64]: memblock memory {:#x}-{:#x} {} the range -> {:d}"
).format
_VPA_GEN = (
    "valid_phys_addr_range({:#x}, {:#x}) [generic]: end {:#x} {} __pa(high_memory) {:#x} -> {:d}"
).format


def valid_phys_addr_range_lazy(
    machine: MachineLike, addr: int, count: int, sw: Switches | None = None
) -> Lazy:
    """``valid_phys_addr_range(addr, count)`` for read()/write(), checked before any policy.

    x86-64 (arch/x86/mm/mmap.c): ``addr + count - 1 <= __pa(high_memory - 1)`` in 64-bit
    arithmetic, so count 0 at offset 0 wraps and fails; ``high_memory`` (``machine.high_memory``)
    rises when memory is hot-added above it. arm64 (arch/arm64/mm/mmap.c): the range must lie
    inside one memblock memory region that is not NOMAP, so MMIO is refused. Generic
    (drivers/char/mem.c): ``addr + count <= __pa(high_memory)``."""
    sw = sw or machine.config.switches
    hm = machine.high_memory
    if sw.x86:
        last = (addr + count - 1) & ADDR_MAX
        ok = last <= hm - 1
        note = " (count 0 at offset 0 wraps)" if count == 0 and addr == 0 else ""
        return ok, [(_VPA_X86, addr, count, last, "<=" if ok else ">", hm - 1, note, ok)]
    if sw.arm64:
        region = memblock_region(machine, addr)
        if region is None:
            return False, [(_VPA_ARM_NONE, addr, count, addr)]
        ok = addr + count - 1 <= region[1] if count else True
        return ok, [
            (_VPA_ARM, addr, count, region[0], region[1], "holds" if ok else "does not hold", ok)
        ]
    ok = addr + count <= hm
    return ok, [(_VPA_GEN, addr, count, addr + count, "<=" if ok else ">", hm, ok)]


_VMPA = "valid_mmap_phys_addr_range({:#x}, {:#x}) {}".format
_VMPA_X86 = (
    "valid_mmap_phys_addr_range({:#x}, {:#x}) [x86]: last byte {:#x} {} {} physical "
    "address bits -> {:d}"
).format
_VMPA_ARM = (
    "valid_mmap_phys_addr_range({:#x}, {:#x}) [arm64]: end {:#x} {} PHYS_MASK ({} bits) -> {:d}"
).format


def valid_mmap_phys_addr_range_lazy(
    machine: MachineLike, pfn: int, size: int, sw: Switches | None = None
) -> Lazy:
    """``valid_mmap_phys_addr_range(pfn, size)``.

    x86-64 (arch/x86/mm/mmap.c): ``phys_addr_valid(addr + size - 1)``, i.e. below 2^phys_bits
    (``config.phys_bits``). arm64: ``(addr + size) & ~PHYS_MASK`` must be 0 (48-bit PA).
    Generic (drivers/char/mem.c): always 1."""
    sw = sw or machine.config.switches
    addr = pfn << PAGE_SHIFT
    if sw.x86:
        last = addr + size - 1
        ok = (last >> sw.phys_bits) == 0
        return ok, [(_VMPA_X86, pfn, size, last, "fits" if ok else "is beyond", sw.phys_bits, ok)]
    if sw.arm64:
        ok = ((addr + size) >> ARM64_PHYS_MASK_SHIFT) == 0
        return ok, [
            (
                _VMPA_ARM,
                pfn,
                size,
                addr + size,
                "within" if ok else "outside",
                ARM64_PHYS_MASK_SHIFT,
                ok,
            )
        ]
    return True, [(_VMPA, pfn, size, "[generic]: -> 1")]


# ------------------------------------------------------------------------------ xlate_dev_mem_ptr
def pfn_valid(machine: MachineLike, pfn: int) -> bool:
    """``pfn_valid(pfn)`` (SPARSEMEM): a memmap exists for the page's 128 MiB section, i.e.
    some busy System RAM (boot RAM or added memory) lies in that section."""
    tree = machine.tree
    addr = pfn << PAGE_SHIFT
    for r in tree.chain_at(addr):
        if r.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            return True
    start = addr & ~(SECTION_SIZE - 1)
    for r in tree.iter_overlapping(tree.root, start, start + SECTION_SIZE - 1):
        if r.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            return True
    return False


def ioremap_refuses_ram(
    machine: MachineLike, start: int, end: int, sw: Switches | None = None
) -> Resource | None:
    """x86 ``__ioremap_caller()``: refuses ("ioremap on RAM") a range that holds a whole page
    of busy System RAM (which has a memmap). Returns that resource.

    4.15+ (0e4c12b45aa8): ``__ioremap_check_mem()`` -> ``walk_mem_res()`` visits busy MEM
    resources overlapping the range (lowest first, then on past its end) and checks each for
    System RAM; before 4.15, ``walk_system_ram_range(pfn, nr_pages, __ioremap_check_ram)``.
    Both see top-level resources only until 3c9c79753436 "kernel/resource: make walk_mem_res()
    find all busy IORESOURCE_MEM resources" (mainline 5.13, stable 5.10.38, 5.11.22, 5.12.5:
    ``config.WALK_MEM_RES_DESCENDS``), after which nested System RAM (dax kmem, virtio-mem) is
    refused too."""
    sw = sw or machine.config.switches
    root = machine.tree.root
    pos = start
    for r in machine.tree.overlaps(start, end):
        fl = r.flags.real
        if r.end < pos or fl & _MEM_BUSY != _MEM_BUSY:
            continue
        if not sw.ioremap_checks_nested and r.parent is not root:
            continue
        lo, hi = max(pos, r.start), min(end, r.end)
        if (
            fl & _SYSTEM_RAM == _SYSTEM_RAM
            and (hi + 1) >> PAGE_SHIFT > (lo + PAGE_SIZE - 1) >> PAGE_SHIFT
        ):
            return r
        pos = r.end + 1  # find_next_iomem_res() goes on after the clipped match
    return None


_MEMREMAP = "memremap({:#x}, PAGE_SIZE, MEMREMAP_WB): {}".format
_IOREMAP_RAM = (
    "ioremap_cache({:#x}) [{}, {}]: busy {!r} {:#x}-{:#x} is RAM -> NULL ('ioremap on RAM')"
).format
_IOREMAP_OK = "ioremap_cache({:#x}) [{}, {}]: no busy System RAM -> mapped".format
_IOREMAP_MISSED = (
    "ioremap_cache({:#x}) [{}, top level]: busy {!r} {:#x}-{:#x} is nested below {!r}, "
    "not seen -> mapped"
).format


def _ioremap_walk(sw: Switches) -> tuple[str, str]:
    """The walk x86 ``__ioremap_caller()`` uses to refuse RAM, and how deep it looks."""
    walk = "walk_mem_res" if sw.walk_mem_res else "walk_system_ram_range"
    return walk, ("any depth" if sw.ioremap_checks_nested else "top level")


def _nested_ram(machine: MachineLike, page: int) -> Resource | None:
    """Busy System RAM below another resource covering the whole page (what a top-level walk
    misses)."""
    root = machine.tree.root
    for r in machine.tree.overlaps(page, page + PAGE_SIZE - 1):
        if (
            r.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY
            and r.parent is not root
            and r.start <= page
            and r.end >= page + PAGE_SIZE - 1
        ):
            return r
    return None


def _ioremap_lines(
    machine: MachineLike, page: int, sw: Switches
) -> tuple[Resource | None, list[Line]]:
    """``ioremap_cache()`` of one page: the refusing RAM resource (or None) and the trace."""
    walk, how = _ioremap_walk(sw)
    ram = ioremap_refuses_ram(machine, page, page + PAGE_SIZE - 1, sw)
    if ram is not None:
        return ram, [(_IOREMAP_RAM, page, walk, how, ram.name, ram.start, ram.end)]
    if not sw.ioremap_checks_nested:
        missed = _nested_ram(machine, page)
        if missed is not None:
            top = missed.chain()[0].name
            return None, [(_IOREMAP_MISSED, page, walk, missed.name, missed.start, missed.end, top)]
    return None, [(_IOREMAP_OK, page, walk, how)]


_XLATE_VA = "xlate_dev_mem_ptr({:#x}) [{}]: __va() -> direct map".format


def xlate_dev_mem_ptr_lazy(
    machine: MachineLike, addr: int, sw: Switches | None = None
) -> tuple[Xlate, list[Line]]:
    """``xlate_dev_mem_ptr(addr)``: how read_mem()/write_mem() reach one page.

    x86 (arch/x86/mm/ioremap.c) maps the page with ``memremap(page, PAGE_SIZE, MEMREMAP_WB)``
    (kernel/iomem.c): ``region_intersects()`` MIXED -> NULL ("memremap attempted on mixed
    range"); INTERSECTS with a memmap -> the direct map (``try_ram_remap``); otherwise
    ``ioremap_cache()``, which refuses busy System RAM (NULL). arm64 and generic: ``__va()``,
    the direct map (valid_phys_addr_range already limited read/write to memory)."""
    sw = sw or machine.config.switches
    page = addr & ~(PAGE_SIZE - 1)
    if not sw.x86:
        return _DIRECT, [(_XLATE_VA, page, sw.arch)]
    if not sw.xlate_uses_memremap:
        return _xlate_before_4_14(machine, page, sw)
    ri, trace = region_intersects_lazy(machine, page, PAGE_SIZE, _SYSTEM_RAM, sw)
    if ri is _MIXED:
        return _FAILED, [
            *trace,
            (_MEMREMAP, page, "mixed range -> NULL (WARN), xlate_dev_mem_ptr() fails"),
        ]
    if ri is _INTERSECTS:
        if pfn_valid(machine, page >> PAGE_SHIFT):
            return _DIRECT, [*trace, (_MEMREMAP, page, "RAM with a memmap -> direct map")]
        trace.append((_MEMREMAP, page, "RAM without a memmap (pfn_valid() 0) -> ioremap_cache()"))
    ram, t = _ioremap_lines(machine, page, sw)
    return (_FAILED if ram is not None else _IOREMAP), [*trace, *t]


_OLD_XLATE = "xlate_dev_mem_ptr({:#x}) [x86, < 4.14]: {}".format


def _xlate_before_4_14(machine: MachineLike, page: int, sw: Switches) -> tuple[Xlate, list[Line]]:
    """x86 ``xlate_dev_mem_ptr()`` before 4.14: ``page_is_ram() ? __va() : ioremap_cache()``.

    The SME series ("x86/mm: Use proper encryption attributes with /dev/mem", 4.14) replaced
    this with ``memremap()``; read in the pre-4.14 arch/x86/mm/ioremap.c and the patch. So a
    page only partly RAM (0x9f000) is not ``page_is_ram()``, goes to ``ioremap_cache()``, which
    refuses only whole RAM pages, and is mapped: no "mixed range" EFAULT before 4.14."""
    is_ram, trace = page_is_ram_lazy(machine, page >> PAGE_SHIFT, sw)
    if is_ram:
        return _DIRECT, [*trace, (_OLD_XLATE, page, "page_is_ram() -> __va(), direct map")]
    trace.append((_OLD_XLATE, page, "not page_is_ram() -> ioremap_cache()"))
    ram, t = _ioremap_lines(machine, page, sw)
    return (_FAILED if ram is not None else _IOREMAP), [*trace, *t]


# ------------------------------------------------------------------------------ x86 PAT mmap hook
_PMAPA = "phys_mem_access_prot_allowed({:#x}, {:#x}) {}".format
_PMAPA_DENY = (
    "phys_mem_access_prot_allowed({:#x}, {:#x}) [x86 PAT, STRICT_DEVMEM=n, <= 6.15]: "
    "devmem_is_allowed({:#x}) == 0 -> 0"
).format


def phys_mem_access_prot_allowed_lazy(
    machine: MachineLike, pfn: int, size: int, sw: Switches | None = None
) -> Lazy:
    """``phys_mem_access_prot_allowed()`` on mmap.

    x86 (arch/x86/mm/pat/memtype.c): with STRICT_DEVMEM=y its private ``range_is_allowed()``
    is a stub (mem.c already checked); with STRICT_DEVMEM=n and PAT enabled, up to 6.15, it
    re-runs ``devmem_is_allowed()`` on every page and refuses on any 0 (value 2 passes) ->
    mmap EINVAL; removed in 6.16 (1b3f2bd04d90 + follow-up). Other arches: the weak default
    in drivers/char/mem.c, always 1."""
    sw = sw or machine.config.switches
    if not sw.x86:
        return True, [(_PMAPA, pfn, size, "[generic]: -> 1")]
    if sw.strict_devmem:
        return True, [
            (_PMAPA, pfn, size, "[x86 PAT]: range_is_allowed() stub with STRICT_DEVMEM=y -> 1")
        ]
    if not sw.pat_recheck_without_strict:
        why = "PAT disabled" if not sw.pat else "6.16+: no devmem re-check"
        return True, [(_PMAPA, pfn, size, f"[x86 PAT]: {why} -> 1")]
    last = ((pfn << PAGE_SHIFT) + size - 1) >> PAGE_SHIFT
    trace: list[Line] = []
    runs: GrainRuns | None = None
    for runs in spans(machine, pfn, last):  # every run of a span answers alike
        first = runs.a
        value, trace = devmem_is_allowed_lazy(machine, first, sw)
        if value == 0:
            return False, [*trace, (_PMAPA_DENY, pfn, size, first)]
    if runs is not None and len(runs) > 1:  # the trace is the last run's: it names its pfn
        _value, trace = devmem_is_allowed_lazy(machine, runs[len(runs) - 1][0], sw)
    return True, [
        *trace,
        (_PMAPA, pfn, size, "[x86 PAT, STRICT_DEVMEM=n, <= 6.15]: every page != 0 -> 1"),
    ]


# ------------------------------------------------------------------------------ rendered
valid_phys_addr_range = traced(valid_phys_addr_range_lazy)
valid_mmap_phys_addr_range = traced(valid_mmap_phys_addr_range_lazy)
xlate_dev_mem_ptr = traced(xlate_dev_mem_ptr_lazy)
phys_mem_access_prot_allowed = traced(phys_mem_access_prot_allowed_lazy)
