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

from devmem_tui.engine.config import BUSY_IS_EXCLUSIVE, COUNTERFACTUAL, Switches
from devmem_tui.engine.devmem import rules as policy
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.devmem.rules import LOW_PFNS, MAX_RW_COUNT, Xlate, where_pfns
from devmem_tui.engine.devmem.verdict import (
    Line,
    Outcome,
    Verdict,
    add_range,
    fmt_ranges,
    render,
)
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import EventKind
from devmem_tui.engine.iomem.tree import F, Resource
from devmem_tui.engine.units import ADDR_MAX, PAGE_SHIFT, PAGE_SIZE, merge_ranges

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

UNPLUGGED = (
    "unplugged virtio-mem memory: reads zeros in QEMU legacy mode / undefined with "
    "unplugged-inaccessible"
)
DEVICE_DATA = "device/bus data (not modelled)"
RAM_DATA = "System RAM contents"
TASK_SIZE = 0x7FFFFFFFF000  # x86-64 4-level / arm64 48-bit VA: the largest possible mmap
ISA_START, ISA_END = 0xA0000, 0xFFFFF  # x86 PAT leaves the legacy ISA range untracked
MAX_TRACED_RUNS = 12  # longer calls keep the first and last runs' checks in the trace
# Enum members as module constants: reading one through its class costs ~0.2 us on 3.11.
_OK, _ZEROS, _DROPPED, _SHORT = Outcome.OK, Outcome.ZEROS, Outcome.DROPPED, Outcome.SHORT
_EPERM, _EFAULT, _EINVAL, _EAGAIN = Outcome.EPERM, Outcome.EFAULT, Outcome.EINVAL, Outcome.EAGAIN
_DIRECT, _FAILED = Xlate.DIRECT, Xlate.FAILED
_ADDR_END = ADDR_MAX + 1  # addr + length above this ends past 2^64 - 1 (see _check_end)


# ------------------------------------------------------------------------------ helpers
def _op(name: str, addr: int, length: int, suffix: str = "") -> str:
    base = f"{name} {hex(addr)} {hex(length)}" if length != PAGE_SIZE else f"{name} {hex(addr)}"
    return base + suffix


def _check_end(op: Line, addr: int, length: int) -> None:
    """A range ending past 2^64 - 1 never reaches the driver: ``rw_verify_area()`` refuses it
    with EOVERFLOW (not an outcome of this simulator), so it is an input error. (``_rw``
    inlines this same test on its per-page path.)"""
    if addr + length > _ADDR_END or addr > ADDR_MAX or length > ADDR_MAX:
        raise DevmemError(
            f"{render(op)}: the range ends past 2^64 - 1 (rw_verify_area() refuses "
            "it with EOVERFLOW)"
        )


def _new(machine: MachineLike, op: Line) -> Verdict:
    v = Verdict(op, Outcome.OK)
    v.counterfactual = COUNTERFACTUAL.get(machine.config.proposal)
    return v


def _finish(v: Verdict, outcome: Outcome, detail: Line, decider: Line, nbytes: int = 0) -> Verdict:
    v.outcome = outcome
    v.detail = detail
    v.decider = decider
    v.nbytes = nbytes
    return v


def _enxio(machine: MachineLike, op: Line) -> Verdict:
    v = _new(machine, op)
    line = "memory_open(minor 1): CONFIG_DEVMEM=n, no /dev/mem in devlist -> -ENXIO"
    v.trace.append(line)
    return _finish(
        v,
        Outcome.ENXIO,
        "no /dev/mem in this kernel (CONFIG_DEVMEM=n): a stale device node opens with ENXIO",
        line,
    )


def _run_line(fn: str, first: int, last: int, action: str) -> str:
    return f"{fn}: {where_pfns(first, last)} {action}"


def _copy_line(fn: str, first: int, last: int, action: str, via: Xlate, kind: str) -> str:
    return f"{fn}: {where_pfns(first, last)} {action} via {via.value} ({kind})"


def _trimmed(fn: str, groups: list[list[Line]]) -> list[Line]:
    """The trace lines of per-run groups, keeping only the first and last runs' checks on
    long calls."""
    if len(groups) == 1:
        return groups[0]  # a one-page call, the common case
    if len(groups) <= MAX_TRACED_RUNS:
        return [line for grp in groups for line in grp]
    half = MAX_TRACED_RUNS // 2
    out = [line for grp in groups[:half] for line in grp]
    out.append(f"{fn}: ... {len(groups) - 2 * half} more page runs (same checks) omitted")
    out += [line for grp in groups[-half:] for line in grp]
    return out


def data_kind(machine: MachineLike, addr: int, via: Xlate) -> str:
    """What real data a page yields: RAM through the direct map, or device/bus data (or
    unplugged virtio-mem memory) through an I/O mapping. Platform data is not modelled."""
    state = machine.memory_state(addr)
    if state in ("page_offline", "not_added"):
        return UNPLUGGED
    if via is _DIRECT:
        if state == "offline":
            return "RAM of an offline memory block"
        if state == "hwpoison":
            return "a hwpoisoned RAM page (a real read may machine-check; not modelled)"
        return RAM_DATA
    return DEVICE_DATA


def _invalid_detail(arm64: bool, addr: int, count: int, high_memory: int, verb: str) -> str:
    """Why ``valid_phys_addr_range()`` refused a read()/write()."""
    if arm64:
        why = "arm64 read()/write() only reach memblock memory (System RAM)"
    elif count == 0 and addr == 0:
        why = "count 0 at offset 0 wraps in valid_phys_addr_range()"
    else:
        why = (
            f"the range ends past high_memory ({hex(high_memory)}): read()/write() "
            "only reach addresses below the top of directly mapped RAM"
        )
    return f"{why}; nothing {verb}"


def _old_range_precheck(
    machine: MachineLike, sw: Switches, addr: int, count: int
) -> tuple[int | None, list[Line]]:
    """Up to 4.10 read_mem()/write_mem() called ``range_is_allowed(pfn, remaining count)``
    before each chunk: the first call covers ceil(count / 4K) pages from the first pfn, the
    second (if any) every remaining page. Returns how many leading pages may be processed
    before the call fails with EPERM (0 or 1), or None when every page passes, and the trace
    of the refusing call (its last line decides)."""
    first = addr >> PAGE_SHIFT
    last = (addr + count - 1) >> PAGE_SHIFT
    ok, t = policy.range_is_allowed_lazy(machine, first, count, sw)
    if not ok:
        return 0, t
    if first + ((count + PAGE_SIZE - 1) >> PAGE_SHIFT) - 1 < last:  # unaligned tail page
        ok, t = policy.range_is_allowed_lazy(machine, first + 1, (last - first) << PAGE_SHIFT, sw)
        if not ok:
            return 1, t
    return None, []


# ------------------------------------------------------------------------------ read/write
def read_mem(machine: MachineLike, addr: int, length: int) -> Verdict:
    """``read_mem()`` (drivers/char/mem.c, §3.1). EFAULT before any policy when
    ``valid_phys_addr_range()`` fails; then page by page: ``page_is_allowed()`` 0 fails the
    whole call with EPERM (earlier pages already copied, no short count), 2 zero-fills,
    1 copies through ``xlate_dev_mem_ptr()`` whose failure is EFAULT for the whole call.
    Up to 4.10 the check was ``range_is_allowed()`` over the remaining count. ZEROS when every
    byte was zero-filled, OK when some real data moved."""
    return _rw(machine, addr, length, write=False)


def write_mem(machine: MachineLike, addr: int, length: int) -> Verdict:
    """``write_mem()`` (drivers/char/mem.c, §3.2). Like read, but value 2 skips the page and
    still counts its bytes (DROPPED when every byte was discarded), and a mapping failure after
    progress returns the short count (SHORT); with no progress it is EFAULT. A denied page
    fails the call with EPERM although earlier pages *were* written."""
    return _rw(machine, addr, length, write=True)


def _rw(machine: MachineLike, addr: int, length: int, write: bool) -> Verdict:
    # One pass, building plain data and lazy trace lines (verdict.Line); the Verdict is made
    # once at the end, so nothing is formatted unless someone reads it.
    op = (_op, "write" if write else "read", addr, length)
    if addr + length > _ADDR_END or addr > ADDR_MAX or length > ADDR_MAX:  # _check_end's test
        _check_end(op, addr, length)
    cfg = machine.config
    sw = cfg.switches
    if not sw.devmem:
        return _enxio(machine, op)
    cf = COUNTERFACTUAL.get(sw.proposal)
    count = length if length < MAX_RW_COUNT else MAX_RW_COUNT
    ok, trace = policy.valid_phys_addr_range_lazy(machine, addr, count, sw)
    if not ok:
        why = (
            _invalid_detail,
            sw.arm64,
            addr,
            count,
            machine.high_memory,
            "written" if write else "read",
        )
        # Positional: this is most random pages' whole path (op, outcome, nbytes, trace,
        # detail, zero_pages, data_pages, mapping, counterfactual, decider).
        return Verdict(op, _EFAULT, 0, trace, why, None, None, None, cf, trace[-1])
    fn = "write_mem" if write else "read_mem"
    notes: list[str] = []
    if count < length:
        notes.append(
            f"the VFS caps one call at MAX_RW_COUNT: only {hex(count)} of "
            f"{hex(length)} bytes were asked for"
        )
    if count == 0:
        return Verdict(
            op,
            _OK,
            0,
            trace,
            "returns 0: nothing to do",
            counterfactual=cf,
            decider=trace[-1],
            notes=notes,
        )
    end = addr + count - 1
    first_pfn, last_pfn = addr >> PAGE_SHIFT, end >> PAGE_SHIFT
    zero_pages: list[tuple[int, int]] = []
    data_pages: list[tuple[int, int]] = []
    eperm_after_first = False
    pre_decider: Line = ""
    if not sw.lowmem_ram_zero_fill:  # <= 4.10: range_is_allowed() of the remaining count
        stop, t = _old_range_precheck(machine, sw, addr, count)
        trace += t
        if stop == 0:
            return _failure(
                op, cf, trace, notes, write, _EPERM, 0, count, "", t[-1], zero_pages, data_pages
            )
        if stop == 1:
            last_pfn, eperm_after_first, pre_decider = first_pfn, True, t[-1]
            end = min(end, (first_pfn << PAGE_SHIFT) + PAGE_SIZE - 1)
    groups: list[list[Line]] = []  # trace lines per page run
    spans: list[tuple[int, int, str]] = []  # (first byte, last byte, what real data moved)
    done = 0  # bytes processed (read: copied or zeroed; write: written or skipped)
    decider: Line = ""
    outcome: Outcome | None = None
    detail: Line = ""
    # A one-page call is one run (what page_runs would yield), without the generator.
    page_iter = (
        ((first_pfn, last_pfn),)
        if first_pfn == last_pfn
        else policy.page_runs(machine, first_pfn, last_pfn)
    )
    for first, last in page_iter:
        lo = first << PAGE_SHIFT
        if lo < addr:
            lo = addr
        hi = (last << PAGE_SHIFT) + PAGE_SIZE - 1
        if hi > end:
            hi = end
        value, t = policy.page_is_allowed_lazy(machine, first, sw)
        decider = t[-1]
        if value == 0:
            groups.append(t)
            outcome = _EPERM
            detail = ("page {:#x} is denied".format, first << PAGE_SHIFT)
            break
        if value == 2:
            action = "skipped, bytes counted as written" if write else "zero-filled (clear_user)"
            t.append((_run_line, fn, first, last, action))
            groups.append(t)
            add_range(zero_pages, first << PAGE_SHIFT, (last << PAGE_SHIFT) + PAGE_SIZE - 1)
        else:
            x, t2 = policy.xlate_dev_mem_ptr_lazy(machine, lo, sw)
            if x is _FAILED:
                groups.append(t + t2)
                decider = t2[-1]
                outcome = _SHORT if write and done else _EFAULT
                detail = ("xlate_dev_mem_ptr({:#x}) failed".format, lo & ~(PAGE_SIZE - 1))
                break
            kind = data_kind(machine, lo, x)
            t += t2
            t.append((_copy_line, fn, first, last, "written" if write else "copied", x, kind))
            groups.append(t)
            add_range(data_pages, first << PAGE_SHIFT, (last << PAGE_SHIFT) + PAGE_SIZE - 1)
            if spans and spans[-1][2] == kind and spans[-1][1] + 1 == lo:
                spans[-1] = (spans[-1][0], hi, kind)
            else:
                spans.append((lo, hi, kind))
        done += hi - lo + 1
    trace += _trimmed(fn, groups)
    if outcome is None and eperm_after_first:
        outcome, decider = _EPERM, pre_decider
        detail = ("range_is_allowed() denied a later page (pfn {:#x} on)".format, first_pfn + 1)
    if outcome is None:
        return _success(op, cf, trace, notes, write, done, spans, decider, zero_pages, data_pages)
    return _failure(
        op, cf, trace, notes, write, outcome, done, count, detail, decider, zero_pages, data_pages
    )


MAX_NOTES = 12


def _span_notes(spans: list[tuple[int, int, str]]) -> list[str]:
    notes = [f"{hex(a)}-{hex(b)}: {kind}" for a, b, kind in spans]
    if len(notes) > MAX_NOTES:
        notes = [*notes[: MAX_NOTES - 1], f"... and {len(notes) - MAX_NOTES + 1} more ranges"]
    return notes


def _success_detail(
    write: bool, done: int, kinds: tuple[str, ...], zero_pages: tuple[tuple[int, int], ...]
) -> str:
    if not kinds:
        if write:
            return (
                f"returns {done} bytes, but the kernel discarded every byte "
                "(devmem_is_allowed() == 2: low-MiB System RAM)"
            )
        return (
            f"returns {done} bytes, all zero-filled by the kernel "
            "(devmem_is_allowed() == 2: low-MiB System RAM)"
        )
    text = f"{'wrote' if write else 'returns'} {done} bytes: {'; '.join(kinds)}"
    if zero_pages:
        text += f"; {'dropped' if write else 'zero-filled'}: {fmt_ranges(list(zero_pages))}"
    return text


def _success(
    op: Line,
    cf: str | None,
    trace: list[Line],
    notes: list[str],
    write: bool,
    done: int,
    spans: list[tuple[int, int, str]],
    decider: Line,
    zero_pages: list[tuple[int, int]],
    data_pages: list[tuple[int, int]],
) -> Verdict:
    if not data_pages:
        outcome = _DROPPED if write else _ZEROS
        kinds: tuple[str, ...] = ()
    else:
        outcome = _OK
        kinds = (
            (spans[0][2],)
            if len(spans) == 1
            else tuple(dict.fromkeys([kind for _a, _b, kind in spans]))
        )
        if len(spans) > 1 or zero_pages:
            zeros = fmt_ranges(zero_pages)
            extra = [f"real data {'written' if write else 'read'}: {fmt_ranges(data_pages)}"]
            if zeros:
                extra.append(f"{'dropped (not written)' if write else 'zero-filled'}: {zeros}")
            notes[:0] = [*extra, *_span_notes(spans)]
    detail = (_success_detail, write, done, kinds, tuple(zero_pages))
    return Verdict(
        op,
        outcome,
        done,
        trace,
        detail,
        zero_pages,
        data_pages,
        counterfactual=cf,
        decider=decider,
        notes=notes,
    )


def _failure_detail(
    write: bool,
    outcome: Outcome,
    done: int,
    count: int,
    detail: Line,
    data_pages: tuple[tuple[int, int], ...],
    zero_pages: tuple[tuple[int, int], ...],
) -> str:
    written = fmt_ranges(list(data_pages))
    what = render(detail)
    if outcome is _SHORT:
        text = (
            f"returns {done} of {count} bytes (a short write): {what} after progress; "
            f"{written or 'nothing'} was written"
        )
        if zero_pages:
            text += f", {fmt_ranges(list(zero_pages))} was skipped"
        return text
    if not what:
        what = "range_is_allowed() denied the range (<= 4.10 checks the remaining count)"
    if write:
        tail = (
            f"; {written} was already written (the side effects stay)"
            if written
            else "; nothing was written"
        )
        if zero_pages:
            tail += f"; {fmt_ranges(list(zero_pages))} was skipped"
    else:
        before = fmt_ranges(sorted([*data_pages, *zero_pages]))
        tail = (
            f"; {before} was already copied into the buffer, but the call returns an "
            "error and the file position is unchanged"
            if before
            else "; nothing was read"
        )
        if outcome is _EFAULT:
            tail += " (read never returns a short count)"
    return what + tail


def _failure(
    op: Line,
    cf: str | None,
    trace: list[Line],
    notes: list[str],
    write: bool,
    outcome: Outcome,
    done: int,
    count: int,
    detail: Line,
    decider: Line,
    zero_pages: list[tuple[int, int]],
    data_pages: list[tuple[int, int]],
) -> Verdict:
    text = (
        _failure_detail,
        write,
        outcome,
        done,
        count,
        detail,
        tuple(data_pages),
        tuple(zero_pages),
    )
    return Verdict(
        op,
        outcome,
        done if outcome is _SHORT else 0,
        trace,
        text,
        zero_pages,
        data_pages,
        counterfactual=cf,
        decider=decider,
        notes=notes,
    )


# ------------------------------------------------------------------------------ mmap
def _pat_is_ram(machine: MachineLike, sw: Switches, start: int, end: int) -> bool:
    """``pat_pagerange_is_ram()``: any whole page of busy System RAM at or above 1 MiB (the
    legacy ISA/low range is tracked as non-RAM for /dev/mem's sake)."""
    first = max(start >> PAGE_SHIFT, LOW_PFNS)
    last = end >> PAGE_SHIFT
    return any(
        policy.page_is_ram_lazy(machine, a, sw)[0]
        for a, _b in policy.page_runs(machine, first, last)
    )


def _memtype(m: Mapping) -> str:
    return "UC-" if m.sync else "WB"


def _new_memtype_allowed(want: str, got: str) -> bool:
    """``is_new_memtype_allowed()`` (arch/x86/include/asm/pgtable.h) for WB and UC- only: a
    UC- request may not be answered with WB."""
    return not (want == "UC-" and got == "WB")


_RESERVE = "reserve_pfn_range({:#x}-{:#x}, {}): {}".format
_NO_PAT = "remap_pfn_range({:#x}-{:#x}): no PAT memtype tracking -> 0".format


def reserve_pfn_range(
    machine: MachineLike, sw: Switches, start: int, end: int, want: str
) -> tuple[str | None, list[Line]]:
    """x86 PAT ``track_pfn_remap()`` -> ``reserve_pfn_range()`` for a /dev/mem mmap
    (arch/x86/mm/pat/memtype.c): RAM keeps its own memtype and never fails; the ISA range is
    untracked; otherwise the new range must agree with the memtypes of the live /dev/mem
    mappings it overlaps (drivers' own ioremap memtypes are not modelled). Returns the memtype
    used, or None when ``remap_pfn_range()`` fails (mmap_mem returns EAGAIN), and lazy trace
    lines."""
    if not (sw.x86 and sw.pat):
        return want, [(_NO_PAT, start, end)]
    if ISA_START <= start and end <= ISA_END:
        return want, [(_RESERVE, start, end, want, "legacy ISA range is untracked -> 0")]
    if _pat_is_ram(machine, sw, start, end):
        return want, [
            (_RESERVE, start, end, want, "System RAM keeps its own memtype (lookup_memtype) -> 0")
        ]
    types: dict[str, str] = {}
    for m in machine.mappings.values():
        if m.end < start or m.start > end:
            continue
        if _pat_is_ram(machine, sw, m.start, m.end):
            continue
        types.setdefault(_memtype(m), m.id)
    if not types:
        return want, [(_RESERVE, start, end, want, "memtype_reserve() new entry -> 0")]
    if len(types) > 1:
        live = ", ".join(f"{t} {i}" for t, i in types.items())
        return None, [
            (
                _RESERVE,
                start,
                end,
                want,
                f"overlaps live mappings of differing memtypes ({live}) -> -EBUSY",
            )
        ]
    got, mid = next(iter(types.items()))
    if got == want:
        return want, [(_RESERVE, start, end, want, f"same memtype as {mid} -> 0")]
    if _new_memtype_allowed(want, got):
        return got, [
            (
                _RESERVE,
                start,
                end,
                want,
                f"{mid} holds {got}; is_new_memtype_allowed({want}, {got}) -> maps {got}",
            )
        ]
    return None, [
        (
            _RESERVE,
            start,
            end,
            want,
            f"{mid} holds {got}; is_new_memtype_allowed("
            f"{want}, {got}) false -> -EINVAL (conflicting "
            "memory types)",
        )
    ]


def _mmap_op(addr: int, length: int, private: bool, sync: bool) -> str:
    return _op("mmap", addr, length, (" private" if private else "") + (" sync" if sync else ""))


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
    """``mmap_mem()`` (drivers/char/mem.c, §3.3) after the generic mmap checks (length 0 or an
    unaligned offset -> EINVAL; the length is rounded up to whole pages). In order: offset
    wrap -> EINVAL; ``valid_mmap_phys_addr_range()`` -> EINVAL; ``private_mapping_ok()`` (only
    NOMMU refuses: ENOSYS, never here); ``range_is_allowed()`` -> EPERM (value 2 counts as
    allowed); ``phys_mem_access_prot_allowed()`` -> EINVAL; ``remap_pfn_range()`` (PAT memtype
    conflict) -> EAGAIN. Success installs every PTE now; the VMA has no fault handler. With
    ``dry_run`` nothing is created. ``sync`` = opened with O_SYNC (PAT UC- instead of WB)."""
    op = (_mmap_op, addr, length, private, sync)
    sw = machine.config.switches
    if not sw.devmem:
        return _enxio(machine, op)
    cf = COUNTERFACTUAL.get(sw.proposal)
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
    ok, t = policy.valid_mmap_phys_addr_range_lazy(machine, pfn, size, sw)
    trace += t
    if not ok:
        return verdict(_EINVAL, "beyond the physical address space", t[-1])
    trace.append(_PRIVATE_OK if private else _SHARED_OK)
    ok, t = policy.range_is_allowed_lazy(machine, pfn, size, sw)
    trace += t
    decider = t[-2] if len(t) > 1 else t[-1]
    if not ok:
        return verdict(
            _EPERM,
            "a page of the range is denied; mmap_mem() checks every page "
            "first, so nothing is mapped",
            decider,
        )
    ok, t = policy.phys_mem_access_prot_allowed_lazy(machine, pfn, size, sw)
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
    memtype, t = reserve_pfn_range(machine, sw, addr, end, "UC-" if sync else "WB")
    trace += t
    if memtype is None:
        return verdict(_EAGAIN, "remap_pfn_range() failed on a PAT memtype conflict", t[-1])
    kind = "private (writes become copy-on-write copies)" if private else "shared"
    if dry_run:
        return verdict(_OK, (_would_map, "would map", addr, end, kind, memtype), decider, size)
    mid = f"m{machine.next_mapping}"
    machine.next_mapping += 1
    machine.mappings[mid] = Mapping(mid, addr, size, private=private, sync=sync)
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


# ------------------------------------------------------------------------------ mappings
def get_mapping(machine: MachineLike, mapping_id: str) -> Mapping:
    m = machine.mappings.get(mapping_id)
    if m is None:
        live = ", ".join(machine.mappings) or "none"
        raise DevmemError(f"no live mapping {mapping_id!r} (live mappings: {live})")
    return m


def touch(machine: MachineLike, mapping_id: str, offset: int = 0) -> Verdict:
    """An access through a live mapping (§3.4): a present PTE reaches the physical page, with
    no policy re-evaluated; a PTE zapped by ``revoke_iomem()`` faults, and a VMA without
    ``->fault`` gets ``VM_FAULT_SIGBUS`` (``do_fault``, mm/memory.c) -> SIGBUS."""
    m = get_mapping(machine, mapping_id)
    if offset >= m.length:
        raise DevmemError(
            f"offset {hex(offset)} is beyond mapping {m.id} ({hex(m.length)} bytes): "
            "that access would be SIGSEGV, outside the mapping"
        )
    addr = m.start + offset
    v = _new(machine, f"touch {m.id} {hex(offset)}")
    for a, b in m.zapped:
        if a <= addr <= b:
            line = (
                f"do_fault({hex(addr)}): PTE zapped by revoke_iomem(), vma has no ->fault "
                "-> VM_FAULT_SIGBUS"
            )
            v.trace.append(line)
            return _finish(
                v,
                Outcome.SIGBUS,
                f"page {hex(addr & ~(PAGE_SIZE - 1))} of {m.id} was "
                "revoked when a driver claimed it",
                line,
            )
    pfn = addr >> PAGE_SHIFT
    sw = machine.config.switches
    ram, t = policy.page_is_ram(machine, pfn, sw)
    kind = data_kind(machine, addr, Xlate.DIRECT if ram else Xlate.IOREMAP)
    line = f"{m.id}: PTE present for pfn {hex(pfn)} -> the access reaches the page ({kind})"
    v.trace += [*t, line]
    text = f"{hex(addr)}: {kind}"
    if m.private:
        text += "; MAP_PRIVATE: a write goes to a private copy-on-write copy"
    if ram and pfn < LOW_PFNS and sw.x86 and sw.lowmem_ram_zero_fill:
        text += " (real low-MiB RAM, although read() of it returns zeros)"
    return _finish(v, Outcome.OK, text, line, 1)


def munmap(machine: MachineLike, mapping_id: str) -> Mapping:
    """``munmap()`` of a /dev/mem mapping: the VMA and its PAT memtype entry go away."""
    m = get_mapping(machine, mapping_id)
    del machine.mappings[m.id]
    machine.emit(EventKind.MAPPING_REMOVED, m.id, start=m.start, length=m.length)
    return m


def _add_zapped(m: Mapping, a: int, b: int) -> None:
    m.zapped = merge_ranges([*m.zapped, (a, b)])


def _revoke_page_allowed(machine: MachineLike, sw: Switches, pfn: int) -> tuple[int, list[str]]:
    if sw.proposal == BUSY_IS_EXCLUSIVE:
        ex, t = policy.busy_excluded(machine, pfn, sw)
        if ex:
            return 0, t
        value, t2 = policy.devmem_is_allowed(machine, pfn, sw)
        return value, t + t2
    return policy.devmem_is_allowed(machine, pfn, sw)


def revoke_iomem(machine: MachineLike, start: int, end: int) -> list[str]:
    """``revoke_iomem(res)`` (kernel/resource.c from 5.12; ``revoke_devmem()`` in mem.c on
    5.8-5.11, 3234ac664a87), called after every successful ``__request_region()`` on
    iomem_resource. An empty stub without CONFIG_IO_STRICT_DEVMEM (``revoke_on_request``).
    Decided by ``devmem_is_allowed()`` of the first page and (if that one is non-zero) the last
    page only: both non-zero -> nothing. Else ``unmap_mapping_range(start, size, 1)``: pages
    floor(start / 4K) .. + ceil(size / 4K) - 1 of every live mapping, shared and private
    (even_cows), lose their PTEs -> ``Mapping.zapped``, event 'mapping-revoked'. Returns the
    trace. busy-is-exclusive (counterfactual) runs it without IO_STRICT_DEVMEM (5.8+), deciding
    with its mandatory busy exclusion, or that exclusion would not hold for live mappings."""
    sw = machine.config.switches
    size = end - start + 1
    name = f"revoke_iomem({hex(start)}-{hex(end)})"
    if not sw.revoke_hook:
        return [f"{name}: no /dev/mem revocation before 5.8 (3234ac664a87) -> nothing"]
    if not sw.revoke_on_request and sw.proposal != BUSY_IS_EXCLUSIVE:
        return [f"{name}: empty stub without CONFIG_IO_STRICT_DEVMEM -> nothing"]
    first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    a, trace = _revoke_page_allowed(machine, sw, first)
    if a:  # devmem_is_allowed(first) && devmem_is_allowed(last)
        b, t2 = (a, []) if last == first else _revoke_page_allowed(machine, sw, last)
        trace += t2
        if b:
            return [
                *trace,
                f"{name}: devmem_is_allowed() of both end pages != 0 -> nothing unmapped",
            ]
    hba = start >> PAGE_SHIFT
    hlen = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
    za, zb = hba << PAGE_SHIFT, ((hba + hlen) << PAGE_SHIFT) - 1
    hit = []
    for m in machine.mappings.values():
        lo, hi = max(za, m.start), min(zb, m.end)
        if lo <= hi:
            _add_zapped(m, lo, hi)
            hit.append(f"{m.id} {hex(lo)}-{hex(hi)}")
            machine.emit(EventKind.MAPPING_REVOKED, m.id, start=lo, end=hi)
    what = ", ".join(hit) if hit else "no live mapping there"
    return [
        *trace,
        f"{name} -> unmap_mapping_range(iomem, {hex(za)}, {hex(zb - za + 1)}, 1): zapped {what}",
    ]


# ------------------------------------------------------------------------------ claims
def claim(
    machine: MachineLike, start: int, end: int, name: str, exclusive: bool = False
) -> tuple[Resource, list[str]]:
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
    trace = [
        f"__request_region({hex(start)}, {hex(end - start + 1)}, {name!r}): {flags} under "
        f"{under} -> ok"
    ]
    trace += revoke_iomem(machine, start, end)
    return res, trace


def release(machine: MachineLike, name: str) -> tuple[Resource, list[str]]:
    """``__release_region()`` of the one busy resource named ``name``. Nothing is re-checked:
    revoked PTEs stay revoked and live mappings keep working (§3.4). Resources that belong to
    a virtio-mem device are its driver's to release."""
    found = machine.tree.find(name)
    busy = [r for r in found if r.busy]
    if not busy:
        if found:
            raise DevmemError(
                f"{name!r} is not busy ({found[0].label()}): only a claimed "
                "(busy) region can be released"
            )
        raise DevmemError(f"no resource named {name!r}")
    if len(busy) > 1:
        where = ", ".join(f"{hex(r.start)}-{hex(r.end)}" for r in busy[:4])
        raise DevmemError(
            f"{len(busy)} busy resources are named {name!r} ({where}); the name is ambiguous"
        )
    res = busy[0]
    for dev in machine.vmem.values():
        if dev.covers(res.start):
            raise DevmemError(
                f"{res.label()} belongs to virtio-mem device {dev_name(dev)}: "
                "its driver releases it (vmem resize / unplug)"
            )
    if res.children:
        raise DevmemError(f"{res.label()} still has children; release them first")
    machine.tree.release_region(res.start, res.size)
    return res, [
        f"__release_region({hex(res.start)}, {hex(res.size)}) {name!r} -> freed; live "
        "/dev/mem mappings are not re-checked"
    ]


def dev_name(dev: object) -> str:
    d = getattr(dev, "device", None)
    return str(getattr(d, "name", "?"))
