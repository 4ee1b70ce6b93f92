"""``/dev/mem`` read, write and mmap as drivers/char/mem.c runs them (devmem-policy.md §3),
plus touching live mappings, their revocation (§5) and driver claims/releases.

Each call returns a ``Verdict``: the outcome word (DESIGN §4), the bytes the call returns, the
trace of kernel checks in the order they ran, the page ranges zero-filled or really moved, and
``decider`` (the trace line that decided the outcome). Multi-page calls are walked in runs of
pages that overlap the same resources (``policy.page_runs``), so a 2 GiB read costs a handful
of decisions, not half a million.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devmem_tui.engine import policy
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.policy import (
    BUSY_IS_EXCLUSIVE,
    COUNTERFACTUAL,
    LOW_PFNS,
    MAX_RW_COUNT,
    PAGE_SHIFT,
    PAGE_SIZE,
    Switches,
    Xlate,
)
from devmem_tui.engine.resources import ADDR_MAX, F, Resource
from devmem_tui.engine.verdict import Outcome, Verdict, add_range, fmt_ranges

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine, Mapping

UNPLUGGED = ("unplugged virtio-mem memory: reads zeros in QEMU legacy mode / undefined with "
             "unplugged-inaccessible")
DEVICE_DATA = "device/bus data (not modelled)"
RAM_DATA = "System RAM contents"
TASK_SIZE = 0x7FFFFFFFF000  # x86-64 4-level / arm64 48-bit VA: the largest possible mmap
ISA_START, ISA_END = 0xA0000, 0xFFFFF  # x86 PAT leaves the legacy ISA range untracked
MAX_TRACED_RUNS = 12  # longer calls keep the first and last runs' checks in the trace


# ------------------------------------------------------------------------------ helpers
def _op(name: str, addr: int, length: int) -> str:
    return f"{name} {hex(addr)} {hex(length)}" if length != PAGE_SIZE else f"{name} {hex(addr)}"


def _check_end(op: str, addr: int, length: int) -> None:
    """A range ending past 2^64 - 1 never reaches the driver: ``rw_verify_area()`` refuses it
    with EOVERFLOW (not an outcome of this simulator), so it is an input error."""
    if addr > ADDR_MAX or length > ADDR_MAX or (length and addr + length - 1 > ADDR_MAX):
        raise DevmemError(f"{op}: the range ends past 2^64 - 1 (rw_verify_area() refuses it "
                          "with EOVERFLOW)")


def _new(machine: Machine, op: str) -> Verdict:
    v = Verdict(op, Outcome.OK)
    v.counterfactual = COUNTERFACTUAL.get(machine.config.proposal)
    return v


def _finish(v: Verdict, outcome: Outcome, detail: str, decider: str, nbytes: int = 0) -> Verdict:
    v.outcome = outcome
    v.detail = detail
    v.decider = decider
    v.nbytes = nbytes
    return v


def _enxio(machine: Machine, op: str) -> Verdict:
    v = _new(machine, op)
    line = "memory_open(minor 1): CONFIG_DEVMEM=n, no /dev/mem in devlist -> -ENXIO"
    v.trace.append(line)
    return _finish(v, Outcome.ENXIO, "no /dev/mem in this kernel (CONFIG_DEVMEM=n): a stale "
                   "device node opens with ENXIO", line)


def _pages(pfn_first: int, pfn_last: int) -> tuple[int, int]:
    return pfn_first << PAGE_SHIFT, (pfn_last << PAGE_SHIFT) + PAGE_SIZE - 1


def _where(first: int, last: int) -> str:
    return f"pfn {hex(first)}" if first == last else f"pfns {hex(first)}-{hex(last)}"


class _Runs:
    """Trace groups per page run, trimmed to the first and last runs on long calls."""

    def __init__(self, fn: str) -> None:
        self.fn = fn
        self.groups: list[list[str]] = []

    def add(self, lines: list[str]) -> None:
        self.groups.append(lines)

    def lines(self) -> list[str]:
        g = self.groups
        if len(g) <= MAX_TRACED_RUNS:
            return [line for grp in g for line in grp]
        half = MAX_TRACED_RUNS // 2
        out = [line for grp in g[:half] for line in grp]
        out.append(f"{self.fn}: ... {len(g) - 2 * half} more page runs (same checks) omitted")
        out += [line for grp in g[-half:] for line in grp]
        return out


def data_kind(machine: Machine, addr: int, via: Xlate) -> str:
    """What real data a page yields: RAM through the direct map, or device/bus data (or
    unplugged virtio-mem memory) through an I/O mapping. Platform data is not modelled."""
    state = machine.memory_state(addr)
    if state in ("page_offline", "not_added"):
        return UNPLUGGED
    if via is Xlate.DIRECT:
        if state == "offline":
            return "RAM of an offline memory block"
        if state == "hwpoison":
            return "a hwpoisoned RAM page (a real read may machine-check; not modelled)"
        return RAM_DATA
    return DEVICE_DATA


def _valid(v: Verdict, machine: Machine, sw: Switches, addr: int, count: int,
           verb: str) -> bool:
    ok, t = policy.valid_phys_addr_range(machine, addr, count, sw)
    v.trace += t
    if not ok:
        if sw.arm64:
            why = "arm64 read()/write() only reach memblock memory (System RAM)"
        elif count == 0 and addr == 0:
            why = "count 0 at offset 0 wraps in valid_phys_addr_range()"
        else:
            why = (f"the range ends past high_memory ({hex(machine.high_memory)}): read()/write() "
                   "only reach addresses below the top of directly mapped RAM")
        _finish(v, Outcome.EFAULT, f"{why}; nothing {verb}", t[-1])
    return ok


def _old_range_precheck(v: Verdict, machine: Machine, sw: Switches, addr: int,
                        count: int) -> int | None:
    """Up to 4.10 read_mem()/write_mem() called ``range_is_allowed(pfn, remaining count)``
    before each chunk: the first call covers ceil(count / 4K) pages from the first pfn, the
    second (if any) every remaining page. Returns how many leading pages may be processed
    before the call fails with EPERM (0 or 1), or None when every page passes."""
    first = addr >> PAGE_SHIFT
    last = (addr + count - 1) >> PAGE_SHIFT
    ok, t = policy.range_is_allowed(machine, first, count, sw)
    if not ok:
        v.trace += t
        v.decider = t[-1]
        return 0
    if first + ((count + PAGE_SIZE - 1) >> PAGE_SHIFT) - 1 < last:  # unaligned tail page
        ok, t = policy.range_is_allowed(machine, first + 1, (last - first) << PAGE_SHIFT, sw)
        if not ok:
            v.trace += t
            v.decider = t[-1]
            return 1
    return None


# ------------------------------------------------------------------------------ read/write
def read_mem(machine: Machine, addr: int, length: int) -> Verdict:
    """``read_mem()`` (drivers/char/mem.c, §3.1). EFAULT before any policy when
    ``valid_phys_addr_range()`` fails; then page by page: ``page_is_allowed()`` 0 fails the
    whole call with EPERM (earlier pages already copied, no short count), 2 zero-fills,
    1 copies through ``xlate_dev_mem_ptr()`` whose failure is EFAULT for the whole call.
    Up to 4.10 the check was ``range_is_allowed()`` over the remaining count. ZEROS when every
    byte was zero-filled, OK when some real data moved."""
    return _rw(machine, addr, length, write=False)


def write_mem(machine: Machine, addr: int, length: int) -> Verdict:
    """``write_mem()`` (drivers/char/mem.c, §3.2). Like read, but value 2 skips the page and
    still counts its bytes (DROPPED when every byte was discarded), and a mapping failure after
    progress returns the short count (SHORT); with no progress it is EFAULT. A denied page
    fails the call with EPERM although earlier pages *were* written."""
    return _rw(machine, addr, length, write=True)


def _rw(machine: Machine, addr: int, length: int, write: bool) -> Verdict:
    fn = "write_mem" if write else "read_mem"
    op = _op("write" if write else "read", addr, length)
    _check_end(op, addr, length)
    sw = policy.switches(machine.config)
    if not sw.devmem:
        return _enxio(machine, op)
    v = _new(machine, op)
    count = min(length, MAX_RW_COUNT)
    capped = count < length
    if not _valid(v, machine, sw, addr, count, "written" if write else "read"):
        return v
    if count == 0:
        return _finish(v, Outcome.OK, "returns 0: nothing to do", v.trace[-1])
    end = addr + count - 1
    first_pfn, last_pfn = addr >> PAGE_SHIFT, end >> PAGE_SHIFT
    eperm_after_first = False
    if not sw.zero_fill:  # <= 4.10: range_is_allowed() of the remaining count
        stop = _old_range_precheck(v, machine, sw, addr, count)
        if stop == 0:
            return _failure(v, write, Outcome.EPERM, 0, count, "", v.decider)
        if stop == 1:
            last_pfn, eperm_after_first = first_pfn, True
            end = min(end, (first_pfn << PAGE_SHIFT) + PAGE_SIZE - 1)
    runs = _Runs(fn)
    spans: list[tuple[int, int, str]] = []  # (first byte, last byte, what real data moved)
    done = 0  # bytes processed (read: copied or zeroed; write: written or skipped)
    decider = ""
    outcome: Outcome | None = None
    detail = ""
    for first, last in policy.page_runs(machine, first_pfn, last_pfn):
        lo = max(addr, first << PAGE_SHIFT)
        hi = min(end, (last << PAGE_SHIFT) + PAGE_SIZE - 1)
        value, t = policy.page_is_allowed(machine, first, sw)
        decider = t[-1]
        if value == 0:
            runs.add(t)
            outcome = Outcome.EPERM
            detail = f"page {hex(first << PAGE_SHIFT)} is denied"
            break
        if value == 2:
            action = "skipped, bytes counted as written" if write else "zero-filled (clear_user)"
            runs.add([*t, f"{fn}: {_where(first, last)} {action}"])
            add_range(v.zero_pages, *_pages(first, last))
        else:
            x, t2 = policy.xlate_dev_mem_ptr(machine, lo, sw)
            if x is Xlate.FAILED:
                runs.add([*t, *t2])
                decider = t2[-1]
                outcome = Outcome.SHORT if write and done else Outcome.EFAULT
                detail = f"xlate_dev_mem_ptr({hex(lo & ~(PAGE_SIZE - 1))}) failed"
                break
            kind = data_kind(machine, lo, x)
            action = "written" if write else "copied"
            runs.add([*t, *t2, f"{fn}: {_where(first, last)} {action} via {x.value} ({kind})"])
            add_range(v.data_pages, *_pages(first, last))
            if spans and spans[-1][2] == kind and spans[-1][1] + 1 == lo:
                spans[-1] = (spans[-1][0], hi, kind)
            else:
                spans.append((lo, hi, kind))
        done += hi - lo + 1
    v.trace += runs.lines()
    if outcome is None and eperm_after_first:
        outcome, decider = Outcome.EPERM, v.decider
        detail = f"range_is_allowed() denied a later page (pfn {hex(first_pfn + 1)} on)"
    if outcome is None:
        _success(v, write, done, spans, decider)
    else:
        _failure(v, write, outcome, done, count, detail, decider)
    if capped:
        v.notes.append(f"the VFS caps one call at MAX_RW_COUNT: only {hex(count)} of {hex(length)} "
                       "bytes were asked for")
    return v


MAX_NOTES = 12


def _span_notes(spans: list[tuple[int, int, str]]) -> list[str]:
    notes = [f"{hex(a)}-{hex(b)}: {kind}" for a, b, kind in spans]
    if len(notes) > MAX_NOTES:
        notes = [*notes[: MAX_NOTES - 1], f"... and {len(notes) - MAX_NOTES + 1} more ranges"]
    return notes


def _success(v: Verdict, write: bool, done: int, spans: list[tuple[int, int, str]],
             decider: str) -> Verdict:
    zeros = fmt_ranges(v.zero_pages)
    if not v.data_pages:
        if write:
            text = (f"returns {done} bytes, but the kernel discarded every byte "
                    "(devmem_is_allowed() == 2: low-MiB System RAM)")
            return _finish(v, Outcome.DROPPED, text, decider, done)
        text = (f"returns {done} bytes, all zero-filled by the kernel "
                "(devmem_is_allowed() == 2: low-MiB System RAM)")
        return _finish(v, Outcome.ZEROS, text, decider, done)
    kinds: list[str] = []
    for _a, _b, kind in spans:
        if kind not in kinds:
            kinds.append(kind)
    text = f"{'wrote' if write else 'returns'} {done} bytes: {'; '.join(kinds)}"
    if zeros:
        text += f"; {'dropped' if write else 'zero-filled'}: {zeros}"
    if len(spans) > 1 or zeros:
        v.notes.append(f"real data {'written' if write else 'read'}: "
                       f"{fmt_ranges(v.data_pages)}")
        if zeros:
            v.notes.append(f"{'dropped (not written)' if write else 'zero-filled'}: {zeros}")
        v.notes += _span_notes(spans)
    return _finish(v, Outcome.OK, text, decider, done)


def _failure(v: Verdict, write: bool, outcome: Outcome, done: int, count: int, detail: str,
             decider: str) -> Verdict:
    written = fmt_ranges(v.data_pages)
    if outcome is Outcome.SHORT:
        text = (f"returns {done} of {count} bytes (a short write): {detail} after progress; "
                f"{written or 'nothing'} was written")
        if v.zero_pages:
            text += f", {fmt_ranges(v.zero_pages)} was skipped"
        return _finish(v, outcome, text, decider, done)
    if not detail:
        detail = "range_is_allowed() denied the range (<= 4.10 checks the remaining count)"
    if write:
        tail = (f"; {written} was already written (the side effects stay)" if written
                else "; nothing was written")
        if v.zero_pages:
            tail += f"; {fmt_ranges(v.zero_pages)} was skipped"
    else:
        before = fmt_ranges(sorted([*v.data_pages, *v.zero_pages]))
        tail = (f"; {before} was already copied into the buffer, but the call returns an "
                "error and the file position is unchanged" if before else "; nothing was read")
        if outcome is Outcome.EFAULT:
            tail += " (read never returns a short count)"
    return _finish(v, outcome, detail + tail, decider, 0)


# ------------------------------------------------------------------------------ mmap
def _pat_is_ram(machine: Machine, sw: Switches, start: int, end: int) -> bool:
    """``pat_pagerange_is_ram()``: any whole page of busy System RAM at or above 1 MiB (the
    legacy ISA/low range is tracked as non-RAM for /dev/mem's sake)."""
    first = max(start >> PAGE_SHIFT, LOW_PFNS)
    last = end >> PAGE_SHIFT
    return any(policy.page_is_ram(machine, a, sw)[0]
               for a, _b in policy.page_runs(machine, first, last))


def _memtype(m: Mapping) -> str:
    return "UC-" if m.sync else "WB"


def _new_memtype_allowed(want: str, got: str) -> bool:
    """``is_new_memtype_allowed()`` (arch/x86/include/asm/pgtable.h) for WB and UC- only: a
    UC- request may not be answered with WB."""
    return not (want == "UC-" and got == "WB")


def reserve_pfn_range(machine: Machine, start: int, end: int,
                      want: str) -> tuple[str | None, list[str]]:
    """x86 PAT ``track_pfn_remap()`` -> ``reserve_pfn_range()`` for a /dev/mem mmap
    (arch/x86/mm/pat/memtype.c): RAM keeps its own memtype and never fails; the ISA range is
    untracked; otherwise the new range must agree with the memtypes of the live /dev/mem
    mappings it overlaps (drivers' own ioremap memtypes are not modelled). Returns the memtype
    used, or None when ``remap_pfn_range()`` fails (mmap_mem returns EAGAIN)."""
    sw = policy.switches(machine.config)
    name = f"reserve_pfn_range({hex(start)}-{hex(end)}, {want})"
    if not (sw.x86 and sw.pat):
        return want, [f"remap_pfn_range({hex(start)}-{hex(end)}): no PAT memtype tracking -> 0"]
    if ISA_START <= start and end <= ISA_END:
        return want, [f"{name}: legacy ISA range is untracked -> 0"]
    if _pat_is_ram(machine, sw, start, end):
        return want, [f"{name}: System RAM keeps its own memtype (lookup_memtype) -> 0"]
    types: dict[str, str] = {}
    for m in machine.mappings.values():
        if m.end < start or m.start > end:
            continue
        if _pat_is_ram(machine, sw, m.start, m.end):
            continue
        types.setdefault(_memtype(m), m.id)
    if not types:
        return want, [f"{name}: memtype_reserve() new entry -> 0"]
    if len(types) > 1:
        return None, [f"{name}: overlaps live mappings of differing memtypes "
                      f"({', '.join(f'{t} {i}' for t, i in types.items())}) -> -EBUSY"]
    got, mid = next(iter(types.items()))
    if got == want:
        return want, [f"{name}: same memtype as {mid} -> 0"]
    if _new_memtype_allowed(want, got):
        return got, [f"{name}: {mid} holds {got}; is_new_memtype_allowed({want}, {got}) -> "
                     f"maps {got}"]
    return None, [f"{name}: {mid} holds {got}; is_new_memtype_allowed({want}, {got}) false "
                  "-> -EINVAL (conflicting memory types)"]


def mmap_mem(machine: Machine, addr: int, length: int, private: bool = False,
             dry_run: bool = False, sync: bool = False) -> Verdict:
    """``mmap_mem()`` (drivers/char/mem.c, §3.3) after the generic mmap checks (length 0 or an
    unaligned offset -> EINVAL; the length is rounded up to whole pages). In order: offset
    wrap -> EINVAL; ``valid_mmap_phys_addr_range()`` -> EINVAL; ``private_mapping_ok()`` (only
    NOMMU refuses: ENOSYS, never here); ``range_is_allowed()`` -> EPERM (value 2 counts as
    allowed); ``phys_mem_access_prot_allowed()`` -> EINVAL; ``remap_pfn_range()`` (PAT memtype
    conflict) -> EAGAIN. Success installs every PTE now; the VMA has no fault handler. With
    ``dry_run`` nothing is created. ``sync`` = opened with O_SYNC (PAT UC- instead of WB)."""
    op = _op("mmap", addr, length) + (" private" if private else "") + (" sync" if sync else "")
    sw = policy.switches(machine.config)
    if not sw.devmem:
        return _enxio(machine, op)
    v = _new(machine, op)
    if length == 0:
        line = "do_mmap(): len == 0 -> -EINVAL"
        v.trace.append(line)
        return _finish(v, Outcome.EINVAL, "a zero-length mapping is refused", line)
    if addr & (PAGE_SIZE - 1):
        line = f"mmap(): offset {hex(addr)} is not page aligned -> -EINVAL"
        v.trace.append(line)
        return _finish(v, Outcome.EINVAL, "the file offset must be page aligned", line)
    size = (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if size > TASK_SIZE:
        raise DevmemError(f"{op}: no address space for a mapping of {hex(length)} bytes "
                          "(do_mmap: -ENOMEM)")
    if size != length:
        v.notes.append(f"length rounded up to whole pages: {hex(size)}")
    pfn = addr >> PAGE_SHIFT
    if addr + size - 1 > ADDR_MAX:
        line = f"mmap_mem({hex(addr)}, {hex(size)}): offset + size - 1 wraps -> -EINVAL"
        v.trace.append(line)
        return _finish(v, Outcome.EINVAL, "the range wraps around the physical address space",
                       line)
    ok, t = policy.valid_mmap_phys_addr_range(machine, pfn, size, sw)
    v.trace += t
    if not ok:
        return _finish(v, Outcome.EINVAL, "beyond the physical address space", t[-1])
    v.trace.append(f"private_mapping_ok({'MAP_PRIVATE' if private else 'MAP_SHARED'}): "
                   "MMU kernel -> 1")
    ok, t = policy.range_is_allowed(machine, pfn, size, sw)
    v.trace += t
    if not ok:
        return _finish(v, Outcome.EPERM, "a page of the range is denied; mmap_mem() checks "
                       "every page first, so nothing is mapped", t[-2] if len(t) > 1 else t[-1])
    decider = t[-2] if len(t) > 1 else t[-1]
    ok, t = policy.phys_mem_access_prot_allowed(machine, pfn, size, sw)
    v.trace += t
    if not ok:
        return _finish(v, Outcome.EINVAL, "the x86 PAT hook re-checked devmem_is_allowed() "
                       "(STRICT_DEVMEM=n, up to 6.15) and refused", t[-1])
    if not sw.strict and sw.proposal == "none":
        decider = t[-1]  # without STRICT_DEVMEM only the PAT hook can say no
    end = addr + size - 1
    memtype, t = reserve_pfn_range(machine, addr, end, "UC-" if sync else "WB")
    v.trace += t
    if memtype is None:
        return _finish(v, Outcome.EAGAIN, "remap_pfn_range() failed on a PAT memtype "
                       "conflict", t[-1])
    kind = "private (writes become copy-on-write copies)" if private else "shared"
    if dry_run:
        return _finish(v, Outcome.OK, f"would map {hex(addr)}-{hex(end)} ({kind}, {memtype})",
                       decider, size)
    from devmem_tui.engine.machine import Mapping

    mid = f"m{machine.next_mapping}"
    machine.next_mapping += 1
    machine.mappings[mid] = Mapping(mid, addr, size, private=private, sync=sync)
    machine.emit("mapping-added", mid, start=addr, length=size, private=private)
    v.mapping = mid
    v.trace.append(f"remap_pfn_range(): {size >> PAGE_SHIFT} PTEs installed as {mid}; "
                   "the VMA has no ->fault handler")
    return _finish(v, Outcome.OK, f"mapped {mid}: {hex(addr)}-{hex(end)} ({kind}, {memtype})",
                   decider, size)


# ------------------------------------------------------------------------------ mappings
def get_mapping(machine: Machine, mapping_id: str) -> Mapping:
    m = machine.mappings.get(mapping_id)
    if m is None:
        live = ", ".join(machine.mappings) or "none"
        raise DevmemError(f"no live mapping {mapping_id!r} (live mappings: {live})")
    return m


def touch(machine: Machine, mapping_id: str, offset: int = 0) -> Verdict:
    """An access through a live mapping (§3.4): a present PTE reaches the physical page, with
    no policy re-evaluated; a PTE zapped by ``revoke_iomem()`` faults, and a VMA without
    ``->fault`` gets ``VM_FAULT_SIGBUS`` (``do_fault``, mm/memory.c) -> SIGBUS."""
    m = get_mapping(machine, mapping_id)
    if offset >= m.length:
        raise DevmemError(f"offset {hex(offset)} is beyond mapping {m.id} ({hex(m.length)} bytes): "
                          "that access would be SIGSEGV, outside the mapping")
    addr = m.start + offset
    v = _new(machine, f"touch {m.id} {hex(offset)}")
    for a, b in m.zapped:
        if a <= addr <= b:
            line = (f"do_fault({hex(addr)}): PTE zapped by revoke_iomem(), vma has no ->fault "
                    "-> VM_FAULT_SIGBUS")
            v.trace.append(line)
            return _finish(v, Outcome.SIGBUS, f"page {hex(addr & ~(PAGE_SIZE - 1))} of {m.id} was "
                           "revoked when a driver claimed it", line)
    pfn = addr >> PAGE_SHIFT
    sw = policy.switches(machine.config)
    ram, t = policy.page_is_ram(machine, pfn, sw)
    kind = data_kind(machine, addr, Xlate.DIRECT if ram else Xlate.IOREMAP)
    line = f"{m.id}: PTE present for pfn {hex(pfn)} -> the access reaches the page ({kind})"
    v.trace += [*t, line]
    text = f"{hex(addr)}: {kind}"
    if m.private:
        text += "; MAP_PRIVATE: a write goes to a private copy-on-write copy"
    if ram and pfn < LOW_PFNS and sw.x86 and sw.zero_fill:
        text += " (real low-MiB RAM, although read() of it returns zeros)"
    return _finish(v, Outcome.OK, text, line, 1)


def munmap(machine: Machine, mapping_id: str) -> Mapping:
    """``munmap()`` of a /dev/mem mapping: the VMA and its PAT memtype entry go away."""
    m = get_mapping(machine, mapping_id)
    del machine.mappings[m.id]
    machine.emit("mapping-removed", m.id, start=m.start, length=m.length)
    return m


def _add_zapped(m: Mapping, a: int, b: int) -> None:
    spans = sorted([*m.zapped, (a, b)])
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    m.zapped = merged


def _revoke_page_allowed(machine: Machine, sw: Switches, pfn: int) -> tuple[int, list[str]]:
    if sw.proposal == BUSY_IS_EXCLUSIVE:
        ex, t = policy.busy_excluded(machine, pfn, sw)
        if ex:
            return 0, t
        value, t2 = policy.devmem_is_allowed(machine, pfn, sw)
        return value, t + t2
    return policy.devmem_is_allowed(machine, pfn, sw)


def revoke_iomem(machine: Machine, start: int, end: int) -> list[str]:
    """``revoke_iomem(res)`` (kernel/resource.c from 5.12; ``revoke_devmem()`` in mem.c on
    5.8-5.11, 3234ac664a87), called after every successful ``__request_region()`` on
    iomem_resource. An empty stub without CONFIG_IO_STRICT_DEVMEM (``revoke_on_request``).
    Decided by ``devmem_is_allowed()`` of the first page and (if that one is non-zero) the last
    page only: both non-zero -> nothing. Else ``unmap_mapping_range(start, size, 1)``: pages
    floor(start / 4K) .. + ceil(size / 4K) - 1 of every live mapping, shared and private
    (even_cows), lose their PTEs -> ``Mapping.zapped``, event 'mapping-revoked'. Returns the
    trace. busy-is-exclusive (counterfactual) runs it without IO_STRICT_DEVMEM (5.8+), deciding
    with its mandatory busy exclusion, or that exclusion would not hold for live mappings."""
    sw = policy.switches(machine.config)
    size = end - start + 1
    name = f"revoke_iomem({hex(start)}-{hex(end)})"
    if not sw.v5_8:
        return [f"{name}: no /dev/mem revocation before 5.8 (3234ac664a87) -> nothing"]
    if not sw.revoke and sw.proposal != BUSY_IS_EXCLUSIVE:
        return [f"{name}: empty stub without CONFIG_IO_STRICT_DEVMEM -> nothing"]
    first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    a, trace = _revoke_page_allowed(machine, sw, first)
    if a:  # devmem_is_allowed(first) && devmem_is_allowed(last)
        b, t2 = (a, []) if last == first else _revoke_page_allowed(machine, sw, last)
        trace += t2
        if b:
            return [*trace, f"{name}: devmem_is_allowed() of both end pages != 0 -> nothing "
                            "unmapped"]
    hba = start >> PAGE_SHIFT
    hlen = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
    za, zb = hba << PAGE_SHIFT, ((hba + hlen) << PAGE_SHIFT) - 1
    hit = []
    for m in machine.mappings.values():
        lo, hi = max(za, m.start), min(zb, m.end)
        if lo <= hi:
            _add_zapped(m, lo, hi)
            hit.append(f"{m.id} {hex(lo)}-{hex(hi)}")
            machine.emit("mapping-revoked", m.id, start=lo, end=hi)
    what = ", ".join(hit) if hit else "no live mapping there"
    return [*trace, f"{name} -> unmap_mapping_range(iomem, {hex(za)}, {hex(zb - za + 1)}, 1): "
                    f"zapped {what}"]


# ------------------------------------------------------------------------------ claims
def claim(machine: Machine, start: int, end: int, name: str,
          exclusive: bool = False) -> tuple[Resource, list[str]]:
    """A driver's ``request_mem_region()`` / ``request_mem_region_exclusive()``:
    ``__request_region()`` on iomem_resource (a busy resource, nested into the non-busy
    resource that contains it; -EBUSY on a busy or partial conflict), then ``revoke_iomem()``.
    Raises ``ResourceConflict`` (nothing changes) when the request fails."""
    if not name.strip():
        raise DevmemError("a claim needs a non-empty resource name")
    res = machine.tree.request_region(start, end - start + 1, name, F.MEM, exclusive)
    parent = res.parent
    under = "iomem_resource" if parent is None or parent.parent is None else policy.label(parent)
    flags = "IORESOURCE_MEM|BUSY" + ("|EXCLUSIVE" if exclusive else "")
    trace = [f"__request_region({hex(start)}, {hex(end - start + 1)}, {name!r}): {flags} under "
             f"{under} -> ok"]
    trace += revoke_iomem(machine, start, end)
    return res, trace


def release(machine: Machine, name: str) -> tuple[Resource, list[str]]:
    """``__release_region()`` of the one busy resource named ``name``. Nothing is re-checked:
    revoked PTEs stay revoked and live mappings keep working (§3.4). Resources that belong to
    a virtio-mem device are its driver's to release."""
    found = machine.tree.find(name)
    busy = [r for r in found if r.busy]
    if not busy:
        if found:
            raise DevmemError(f"{name!r} is not busy ({found[0].label()}): only a claimed "
                              "(busy) region can be released")
        raise DevmemError(f"no resource named {name!r}")
    if len(busy) > 1:
        where = ", ".join(f"{hex(r.start)}-{hex(r.end)}" for r in busy[:4])
        raise DevmemError(f"{len(busy)} busy resources are named {name!r} ({where}); the name "
                          "is ambiguous")
    res = busy[0]
    for dev in machine.vmem.values():
        if dev.covers(res.start):
            raise DevmemError(f"{res.label()} belongs to virtio-mem device {dev_name(dev)}: "
                              "its driver releases it (vmem resize / unplug)")
    if res.children:
        raise DevmemError(f"{res.label()} still has children; release them first")
    machine.tree.release_region(res.start, res.size)
    return res, [f"__release_region({hex(res.start)}, {hex(res.size)}) {name!r} -> freed; live "
                 "/dev/mem mappings are not re-checked"]


def dev_name(dev: object) -> str:
    d = getattr(dev, "device", None)
    return str(getattr(d, "name", "?"))
