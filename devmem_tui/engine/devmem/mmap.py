"""``mmap()`` of ``/dev/mem``: ``mmap_mem()`` as drivers/char/mem.c runs it after the
generic mmap checks; the memory type the mapping gets (x86 PAT ``reserve_pfn_range`` with the
MTRRs, arm64 ``phys_mem_access_prot``) is memtype.py's. A successful call installs a
``Mapping`` on the machine; every PTE is present at once (the VMA has no fault handler), so
later accesses (mappings.py) re-check nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devmem_tui.engine.devmem.arch_hooks import (
    phys_mem_access_prot_allowed_lazy,
    valid_mmap_phys_addr_range_lazy,
)
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.devmem.memtype import mmap_memtype
from devmem_tui.engine.devmem.rules import range_is_allowed_lazy
from devmem_tui.engine.devmem.rw import open_mem
from devmem_tui.engine.devmem.verdict import Line, Outcome, Verdict, op_text, render
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import EventKind
from devmem_tui.engine.units import ADDR_MAX, PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

TASK_SIZE = 0x7FFFFFFFF000  # x86-64 4-level / arm64 48-bit VA: the largest possible mmap
# Enum members as module constants: reading one through its class costs ~0.2 us on 3.11.
_OK, _EPERM, _EINVAL, _EAGAIN = Outcome.OK, Outcome.EPERM, Outcome.EINVAL, Outcome.EAGAIN


def _mmap_op(addr: int, length: int, private: bool, sync: bool) -> str:
    return op_text(
        "mmap", addr, length, (" private" if private else "") + (" sync" if sync else "")
    )


def _would_map(verb: str, addr: int, end: int, kind: str, memtype: str) -> str:
    return f"{verb} {hex(addr)}-{hex(end)} ({kind}, {memtype})"


def mmap_mem(
    machine: MachineLike,
    addr: int,
    length: int,
    private: bool = False,
    dry_run: bool = False,
    sync: bool = False,
) -> Verdict:
    """``mmap_mem()`` (drivers/char/mem.c) after the generic mmap checks (length 0 or an
    unaligned offset -> EINVAL; the length is rounded up to whole pages). In order: offset
    wrap -> EINVAL; ``valid_mmap_phys_addr_range()`` -> EINVAL; ``private_mapping_ok()`` (only
    NOMMU refuses: ENOSYS, never here); ``range_is_allowed()`` -> EPERM (value 2 counts as
    allowed); ``phys_mem_access_prot_allowed()`` -> EINVAL; ``remap_pfn_range()`` (PAT memtype
    conflict) -> EAGAIN. Success installs every PTE now; the VMA has no fault handler. With
    ``dry_run`` nothing is created. ``sync`` = opened with O_SYNC (PAT UC- instead of WB)."""
    op = (_mmap_op, addr, length, private, sync)
    sw = machine.config.switches
    if not sw.devmem or sw.lockdown_dev_mem:
        return open_mem(op, sw)
    cf = sw.counterfactual
    trace: list[Line] = []
    notes: list[str] = []

    def verdict(outcome: Outcome, detail: Line, decider: Line, nbytes: int = 0) -> Verdict:
        return Verdict(
            op, outcome, nbytes, trace, detail, counterfactual=cf, decider=decider, notes=notes
        )

    if length == 0:
        line = "do_mmap(): len == 0 -> -EINVAL"
        trace.append(line)
        return verdict(_EINVAL, "a zero-length mapping is refused", line)
    if addr & (PAGE_SIZE - 1):
        line = f"mmap(): offset {hex(addr)} is not page aligned -> -EINVAL"
        trace.append(line)
        return verdict(_EINVAL, "the file offset must be page aligned", line)
    size = (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if size > TASK_SIZE:
        raise DevmemError(
            f"{render(op)}: no address space for a mapping of {hex(length)} bytes "
            "(do_mmap: -ENOMEM)"
        )
    if size != length:
        notes.append(f"length rounded up to whole pages: {hex(size)}")
    pfn = addr >> PAGE_SHIFT
    if addr + size - 1 > ADDR_MAX:
        line = f"mmap_mem({hex(addr)}, {hex(size)}): offset + size - 1 wraps -> -EINVAL"
        trace.append(line)
        return verdict(_EINVAL, "the range wraps around the physical address space", line)
    ok, t = valid_mmap_phys_addr_range_lazy(machine, pfn, size, sw)
    trace += t
    if not ok:
        return verdict(_EINVAL, "beyond the physical address space", t[-1])
    trace.append(_PRIVATE_OK if private else _SHARED_OK)
    ok, t = range_is_allowed_lazy(machine, pfn, size, sw)
    trace += t
    decider = t[-2] if len(t) > 1 else t[-1]
    if not ok:
        return verdict(
            _EPERM,
            "a page of the range is denied; mmap_mem() checks every page "
            "first, so nothing is mapped",
            decider,
        )
    ok, t = phys_mem_access_prot_allowed_lazy(machine, pfn, size, sw)
    trace += t
    if not ok:
        return verdict(
            _EINVAL,
            "the x86 PAT hook re-checked devmem_is_allowed() "
            "(STRICT_DEVMEM=n, up to 6.15) and refused",
            t[-1],
        )
    if not sw.strict_devmem and sw.proposal == "none":
        decider = t[-1]  # without STRICT_DEVMEM only the PAT hook can say no
    end = addr + size - 1
    memtype, t = mmap_memtype(machine, sw, addr, end, sync)
    trace += t
    if memtype is None:
        return verdict(_EAGAIN, "remap_pfn_range() failed on a PAT memtype conflict", t[-1])
    kind = "private (writes become copy-on-write copies)" if private else "shared"
    if dry_run:
        return verdict(_OK, (_would_map, "would map", addr, end, kind, memtype), decider, size)
    mid = f"m{machine.next_mapping}"
    machine.next_mapping += 1
    machine.mappings[mid] = Mapping(mid, addr, size, private=private, sync=sync, memtype=memtype)
    machine.emit(EventKind.MAPPING_ADDED, mid, start=addr, length=size, private=private)
    trace.append(
        f"remap_pfn_range(): {size >> PAGE_SHIFT} PTEs installed as {mid}; "
        "the VMA has no ->fault handler"
    )
    v = verdict(_OK, (_would_map, f"mapped {mid}:", addr, end, kind, memtype), decider, size)
    v.mapping = mid
    return v


_PRIVATE_OK = "private_mapping_ok(MAP_PRIVATE): MMU kernel -> 1"
_SHARED_OK = "private_mapping_ok(MAP_SHARED): MMU kernel -> 1"
