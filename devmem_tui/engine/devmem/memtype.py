"""The memory type a ``/dev/mem`` mapping gets, as each architecture picks it.

x86 (arch/x86/mm/pat/memtype.c): ``phys_mem_access_prot_allowed()`` asks for write-back, or
UC- when /dev/mem was opened with O_SYNC; ``remap_pfn_range()`` -> ``track_pfn_remap()`` ->
``reserve_pfn_range()`` then settles it: RAM keeps its own type (``lookup_memtype()``), the
legacy ISA range is untracked (WB in the page tables, the MTRRs decide), and anything else goes
through ``memtype_reserve()``: ``pat_x_mtrr_type()`` turns a WB request into UC- where the
firmware's MTRRs (engine/mtrr.py) do not say WB - MMIO BARs in the 32-bit PCI hole - and the
new entry must agree with the live mappings it overlaps (``memtype_check_conflict()``), else
``is_new_memtype_allowed()`` refuses and ``mmap_mem()`` returns EAGAIN. Drivers' own ioremap
entries are not modelled; PAT off means no tracking (the requested type stays).

arm64 (arch/arm64/mm/mmu.c ``phys_mem_access_prot()``): memory stays Normal write-back (or
Normal-NC with O_SYNC, ``pgprot_writecombine``); anything else is mapped
``pgprot_noncached`` = Device-nGnRnE, never write-back. It looks at the first page only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devmem_tui.engine.config import Switches
from devmem_tui.engine.devmem.arch_hooks import memblock_region
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.devmem.rules import LOW_PFNS, page_is_ram_lazy, spans
from devmem_tui.engine.devmem.verdict import Line
from devmem_tui.engine.units import PAGE_SHIFT

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

ISA_START, ISA_END = 0xA0000, 0xFFFFF  # x86 PAT leaves the legacy ISA range untracked
WB, UC_MINUS = "WB", "UC-"
ARM_DEVICE, ARM_NC = "Device-nGnRnE", "Normal-NC"
MEMTYPES = (WB, UC_MINUS, ARM_NC, ARM_DEVICE)  # every type a mapping can be granted here


def _pat_is_ram(machine: MachineLike, sw: Switches, start: int, end: int) -> bool:
    """``pat_pagerange_is_ram()``: any whole page of busy System RAM at or above 1 MiB (the
    legacy ISA/low range is tracked as non-RAM for /dev/mem's sake). A mixed range counts as
    RAM here, as ``reserve_pfn_range()``'s ``if (is_ram)`` treats -1. The walk is
    ``walk_system_ram_range()``'s, so before 5.1 nested RAM is not seen (rules.page_is_ram)."""
    first = max(start >> PAGE_SHIFT, LOW_PFNS)
    last = end >> PAGE_SHIFT
    if first > last:
        return False
    return any(page_is_ram_lazy(machine, runs.a, sw)[0] for runs in spans(machine, first, last))


def _new_memtype_allowed(want: str, got: str) -> bool:
    """``is_new_memtype_allowed()`` (arch/x86/include/asm/pgtable.h) for WB and UC-: a UC-
    request may not be answered with WB."""
    return not (want == UC_MINUS and got == WB)


def _live_type_at(machine: MachineLike, sw: Switches, addr: int) -> Mapping | None:
    """The live non-RAM /dev/mem mapping whose memtype entry covers addr (the rbtree)."""
    for m in machine.mappings.overlapping(addr, addr):
        if not _pat_is_ram(machine, sw, m.start, m.end):
            return m
    return None


_RESERVE = "reserve_pfn_range({:#x}-{:#x}, {}): {}".format
_MEMTYPE = "memtype_reserve({:#x}-{:#x}, {}): {}".format
_MTRR = "pat_x_mtrr_type({:#x}-{:#x}, WB): MTRRs say {} ({}) -> {}".format
_NO_PAT = "remap_pfn_range({:#x}-{:#x}): no PAT memtype tracking -> 0".format


def pat_x_mtrr_type(
    machine: MachineLike, start: int, end: int, want: str
) -> tuple[str, list[Line]]:
    """``pat_x_mtrr_type()``: a WB request becomes UC- where ``mtrr_type_lookup()`` does not
    say write-back (any UC/WP/WT/WC part of the range); other requests stay as they are."""
    if want != WB:
        return want, []
    kind = machine.mtrr.type_of(start, end)
    got = WB if kind == "WB" else UC_MINUS
    return got, [(_MTRR, start, end, kind, "firmware MTRRs", got)]


def reserve_pfn_range(
    machine: MachineLike, sw: Switches, start: int, end: int, want: str
) -> tuple[str | None, list[Line]]:
    """x86 ``track_pfn_remap()`` -> ``reserve_pfn_range()`` for a /dev/mem mmap of [start,
    end] asking for ``want``: the memtype used, or None when ``remap_pfn_range()`` fails
    (mmap_mem returns EAGAIN), and lazy trace lines. See the module docstring."""
    if not (sw.x86 and sw.pat):
        return want, [(_NO_PAT, start, end)]
    if _pat_is_ram(machine, sw, start, end):
        if (start >> PAGE_SHIFT) >= LOW_PFNS and page_is_ram_lazy(machine, start >> 12, sw)[0]:
            got, why = WB, "RAM pages carry WB"
        else:
            live = _live_type_at(machine, sw, start)
            got, why = (live.cache_type, f"{live.id}'s entry") if live else (UC_MINUS, "no entry")
        if got == want:
            return got, [(_RESERVE, start, end, want, f"RAM: lookup_memtype() {got} ({why}) -> 0")]
        return got, [
            (
                _RESERVE,
                start,
                end,
                want,
                f"RAM: lookup_memtype() {got} ({why}); the request is overridden (pr_warn "
                f"'map pfn RAM range req {want}') -> maps {got}",
            )
        ]
    if ISA_START <= start and end <= ISA_END:
        line = (
            _MEMTYPE,
            start,
            end,
            want,
            "legacy ISA range is untracked -> WB in the page "
            f"tables (the MTRRs make it {machine.mtrr.type_of(start, end)})",
        )
        return WB, [line, (_RESERVE, start, end, want, "untracked: WB allowed -> maps WB")]
    actual, trace = pat_x_mtrr_type(machine, start, end, want)
    types: dict[str, str] = {}
    # the memtype interval tree's lookup (memtype_check_conflict): only overlapping mappings
    for m in machine.mappings.overlapping(start, end):
        if _pat_is_ram(machine, sw, m.start, m.end):
            continue
        types.setdefault(m.cache_type, m.id)
    if len(types) > 1:
        held = ", ".join(f"{t} {i}" for t, i in types.items())
        trace.append(
            (
                _MEMTYPE,
                start,
                end,
                actual,
                f"overlaps live entries of differing types ({held}) "
                "-> -EBUSY (conflicting memory types)",
            )
        )
        return None, trace
    got = actual
    if types:
        got, mid = next(iter(types.items()))
        trace.append((_MEMTYPE, start, end, actual, f"overlaps {mid}'s entry: {got} -> 0"))
    else:
        trace.append((_MEMTYPE, start, end, actual, "new entry -> 0"))
    if got == want:
        trace.append((_RESERVE, start, end, want, f"got {got} -> 0"))
        return got, trace
    if _new_memtype_allowed(want, got):
        trace.append(
            (
                _RESERVE,
                start,
                end,
                want,
                f"got {got}; is_new_memtype_allowed({want}, {got}) -> maps {got}",
            )
        )
        return got, trace
    trace.append(
        (
            _RESERVE,
            start,
            end,
            want,
            f"got {got}; is_new_memtype_allowed({want}, {got}) false -> -EINVAL",
        )
    )
    return None, trace


_ARM = "phys_mem_access_prot({:#x}) [arm64]: {} -> {}".format


def arm64_phys_mem_access_prot(
    machine: MachineLike, addr: int, sync: bool
) -> tuple[str, list[Line]]:
    """arm64 ``phys_mem_access_prot()``: ``pfn_is_map_memory()`` (``pfn_valid()`` before
    5.14; the same answer here) false -> ``pgprot_noncached()``, Device-nGnRnE; memory with
    O_SYNC -> ``pgprot_writecombine()``, Normal-NC; else the VMA's Normal write-back."""
    if memblock_region(machine, addr) is None:
        return ARM_DEVICE, [(_ARM, addr, "not memory (pfn_is_map_memory() false)", ARM_DEVICE)]
    if sync:
        return ARM_NC, [(_ARM, addr, "memory, O_SYNC (pgprot_writecombine)", ARM_NC)]
    return WB, [(_ARM, addr, "memory, vm_page_prot kept (Normal)", WB)]


def mmap_memtype(
    machine: MachineLike, sw: Switches, start: int, end: int, sync: bool
) -> tuple[str | None, list[Line]]:
    """The memory type of a new /dev/mem mapping of [start, end] (None: EAGAIN)."""
    if sw.arm64:
        return arm64_phys_mem_access_prot(machine, start, sync)
    return reserve_pfn_range(machine, sw, start, end, UC_MINUS if sync else WB)
