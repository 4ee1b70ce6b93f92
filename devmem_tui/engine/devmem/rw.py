"""``read()`` and ``write()`` of ``/dev/mem``: ``read_mem()`` / ``write_mem()`` as
drivers/char/mem.c runs them, and what real data a page yields (``data_kind``).

Each call returns a ``Verdict``: the outcome word, the bytes the call returns, the trace of
kernel checks in the order they ran, the page ranges zero-filled or really moved, and
``decider`` (the trace line that decided the outcome). Multi-page calls are walked in runs of
pages that overlap the same resources (``rules.spans``), so a 2 GiB read costs a handful
of decisions, not half a million; the verdict is made once at the end from plain data and
lazy trace lines, so nothing is formatted unless someone reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devmem_tui.engine.config import Switches
from devmem_tui.engine.devmem.arch_hooks import (
    Xlate,
    valid_phys_addr_range_lazy,
    xlate_dev_mem_ptr_lazy,
)
from devmem_tui.engine.devmem.rules import (
    MAX_RW_COUNT,
    GrainRuns,
    page_is_allowed_lazy,
    range_is_allowed_lazy,
    where_pfns,
)
from devmem_tui.engine.devmem.rules import spans as run_spans
from devmem_tui.engine.devmem.verdict import (
    Line,
    Outcome,
    RunGroups,
    Verdict,
    add_range,
    check_end,
    fmt_ranges,
    op_text,
    render,
)
from devmem_tui.engine.units import ADDR_MAX, PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

UNPLUGGED = (
    "unplugged virtio-mem memory: reads zeros in QEMU legacy mode / undefined with "
    "unplugged-inaccessible"
)
DEVICE_DATA = "device/bus data (not modelled)"
RAM_DATA = "System RAM contents"
MAX_NOTES = 12
# Enum members as module constants: reading one through its class costs ~0.2 us on 3.11.
_OK, _ZEROS, _DROPPED, _SHORT = Outcome.OK, Outcome.ZEROS, Outcome.DROPPED, Outcome.SHORT
_EPERM, _EFAULT = Outcome.EPERM, Outcome.EFAULT
_DIRECT, _FAILED = Xlate.DIRECT, Xlate.FAILED
_ADDR_END = ADDR_MAX + 1  # addr + length above this ends past 2^64 - 1 (see check_end)


def no_devmem(op: Line, counterfactual: str | None) -> Verdict:
    """``memory_open()`` of a kernel without CONFIG_DEVMEM: every /dev/mem call is ENXIO."""
    v = Verdict(op, Outcome.OK, counterfactual=counterfactual)
    line = "memory_open(minor 1): CONFIG_DEVMEM=n, no /dev/mem in devlist -> -ENXIO"
    v.trace.append(line)
    return v.finish(
        Outcome.ENXIO,
        "no /dev/mem in this kernel (CONFIG_DEVMEM=n): a stale device node opens with ENXIO",
        line,
    )


def _run_line(fn: str, first: int, last: int, action: str) -> str:
    return f"{fn}: {where_pfns(first, last)} {action}"


def _copy_line(fn: str, first: int, last: int, action: str, via: Xlate, kind: str) -> str:
    return f"{fn}: {where_pfns(first, last)} {action} via {via.value} ({kind})"


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
    ok, t = range_is_allowed_lazy(machine, first, count, sw)
    if not ok:
        return 0, t
    if first + ((count + PAGE_SIZE - 1) >> PAGE_SHIFT) - 1 < last:  # unaligned tail page
        ok, t = range_is_allowed_lazy(machine, first + 1, (last - first) << PAGE_SHIFT, sw)
        if not ok:
            return 1, t
    return None, []


def read_mem(machine: MachineLike, addr: int, length: int) -> Verdict:
    """``read_mem()`` (drivers/char/mem.c). EFAULT before any policy when
    ``valid_phys_addr_range()`` fails; then page by page: ``page_is_allowed()`` 0 fails the
    whole call with EPERM (earlier pages already copied, no short count), 2 zero-fills,
    1 copies through ``xlate_dev_mem_ptr()`` whose failure is EFAULT for the whole call.
    Up to 4.10 the check was ``range_is_allowed()`` over the remaining count. ZEROS when every
    byte was zero-filled, OK when some real data moved."""
    return _rw(machine, addr, length, write=False)


def write_mem(machine: MachineLike, addr: int, length: int) -> Verdict:
    """``write_mem()`` (drivers/char/mem.c). Like read, but value 2 skips the page and
    still counts its bytes (DROPPED when every byte was discarded), and a mapping failure after
    progress returns the short count (SHORT); with no progress it is EFAULT. A denied page
    fails the call with EPERM although earlier pages *were* written."""
    return _rw(machine, addr, length, write=True)


def _rw(machine: MachineLike, addr: int, length: int, write: bool) -> Verdict:
    # One pass, building plain data and lazy trace lines (verdict.Line); the Verdict is made
    # once at the end, so nothing is formatted unless someone reads it.
    op = (op_text, "write" if write else "read", addr, length)
    if addr + length > _ADDR_END or addr > ADDR_MAX or length > ADDR_MAX:  # check_end's test
        check_end(op, addr, length)
    sw = machine.config.switches
    if not sw.devmem:
        return no_devmem(op, sw.counterfactual)
    cf = sw.counterfactual
    count = length if length < MAX_RW_COUNT else MAX_RW_COUNT
    ok, trace = valid_phys_addr_range_lazy(machine, addr, count, sw)
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
    write_word = "written" if write else "copied"
    skip_word = "skipped, bytes counted as written" if write else "zero-filled (clear_user)"

    def run_checks(first: int, last: int) -> tuple[list[Line], int, Xlate | None, str, Line]:
        """One page run's checks: its trace lines, the page_is_allowed() value, how
        xlate_dev_mem_ptr() reached it (None: not asked), what data it holds, the decider."""
        value, t = page_is_allowed_lazy(machine, first, sw)
        decider = t[-1]
        if value == 0:
            return t, 0, None, "", decider
        if value == 2:
            t.append((_run_line, fn, first, last, skip_word))
            return t, 2, None, "", decider
        lo = first << PAGE_SHIFT
        if lo < addr:
            lo = addr
        x, t2 = xlate_dev_mem_ptr_lazy(machine, lo, sw)
        if x is _FAILED:
            return t + t2, 1, x, "", t2[-1]
        kind = data_kind(machine, lo, x)
        t += t2
        t.append((_copy_line, fn, first, last, write_word, x, kind))
        return t, 1, x, kind, decider

    groups = RunGroups()  # trace lines per page run, as many as are printed
    data_spans: list[tuple[int, int, str]] = []  # (first byte, last byte, what data moved)
    done = 0  # bytes processed (read: copied or zeroed; write: written or skipped)
    decider: Line = ""
    outcome: Outcome | None = None
    detail: Line = ""
    # A one-page call is one run (what spans would give), without the generator.
    all_runs = (
        (GrainRuns(first_pfn, last_pfn, False),)
        if first_pfn == last_pfn
        else run_spans(machine, first_pfn, last_pfn, states=True)
    )
    for runs in all_runs:
        # The runs of a span answer alike, except one whose first page is hwpoisoned (its
        # data differs): the others are decided once per stretch, their lines made lazily.
        cuts = [len(runs)]
        poison = machine.hwpoison
        if poison:  # a run whose first page is hwpoisoned is a batch of its own
            odd = {k for k in map(runs.index, poison.in_range(runs.a, runs.b))}
            odd = {k for k in odd if runs[k][0] in poison}
            cuts = sorted({c for k in odd for c in (k, k + 1)} | {len(runs)})
        k0 = 0
        for k1 in cuts:
            if k1 <= k0:
                continue
            first, last = runs[k0]
            t, value, x, kind, decider = run_checks(first, last)
            groups.add(t)
            if value == 0:
                outcome = _EPERM
                detail = ("page {:#x} is denied".format, first << PAGE_SHIFT)
                break
            if x is _FAILED:
                lo = max(first << PAGE_SHIFT, addr)
                outcome = _SHORT if write and done else _EFAULT
                detail = ("xlate_dev_mem_ptr({:#x}) failed".format, lo & ~(PAGE_SIZE - 1))
                break
            if k1 - k0 > 1:

                def make(i: int, runs: GrainRuns = runs, base: int = k0 + 1) -> list[Line]:
                    nonlocal decider
                    t, _v, _x, _k, decider = run_checks(*runs[base + i])
                    return t

                groups.add_batch(k1 - k0 - 1, make)
            b_last = runs[k1 - 1][1]
            lo = max(first << PAGE_SHIFT, addr)
            hi = min((b_last << PAGE_SHIFT) + PAGE_SIZE - 1, end)
            pages = (first << PAGE_SHIFT, (b_last << PAGE_SHIFT) + PAGE_SIZE - 1)
            if value == 2:
                add_range(zero_pages, *pages)
            else:
                add_range(data_pages, *pages)
                if data_spans and data_spans[-1][2] == kind and data_spans[-1][1] + 1 == lo:
                    data_spans[-1] = (data_spans[-1][0], hi, kind)
                else:
                    data_spans.append((lo, hi, kind))
            done += hi - lo + 1
            k0 = k1
        if outcome is not None:
            break
    trace += groups.lines(fn)
    if outcome is None and eperm_after_first:
        outcome, decider = _EPERM, pre_decider
        detail = ("range_is_allowed() denied a later page (pfn {:#x} on)".format, first_pfn + 1)
    if outcome is None:
        return _success(
            op, cf, trace, notes, write, done, data_spans, decider, zero_pages, data_pages
        )
    return _failure(
        op, cf, trace, notes, write, outcome, done, count, detail, decider, zero_pages, data_pages
    )


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
