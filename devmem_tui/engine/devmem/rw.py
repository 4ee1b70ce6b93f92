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

from collections.abc import Iterable
from itertools import chain
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
from devmem_tui.engine.iomem.tree import F, Resource
from devmem_tui.engine.units import ADDR_MAX, PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

UNPLUGGED = (
    "unplugged virtio-mem memory: reads zeros in QEMU legacy mode / undefined with "
    "unplugged-inaccessible"
)
DEVICE_DATA = "device/bus data (not modelled)"
RAM_DATA = "System RAM contents"
# Resources whose bytes are the firmware's: e820 types (arch/x86/kernel/e820.c
# e820_type_to_string), the ROMs probe_roms() claims, arm64's memblock "reserved" lines.
FIRMWARE_NAMES = frozenset(
    {
        "Reserved",
        "reserved",
        "ACPI Tables",
        "ACPI Non-volatile Storage",
        "System ROM",
        "Video ROM",
        "Adapter ROM",
    }
)
# e820 types whose bytes are RAM that Linux does not use (e820_type_to_string): not the
# firmware's data, so not labelled as such.
RAM_KINDS = {
    "Soft Reserved": "specific-purpose RAM the kernel leaves unused "
    "('Soft Reserved', EFI_MEMORY_SP, kept for device-dax/hmem)",
    "Unusable memory": "RAM the firmware marked unusable ('Unusable memory')",
}
_PMEM_DESCS = frozenset({"persistent_memory", "persistent_memory_legacy"})
_SYSTEM_RAM_BUSY = int(F.MEM | F.SYSRAM | F.BUSY)
MAX_NOTES = 12
# Enum members as module constants: reading one through its class costs ~0.2 us on 3.11.
_OK, _ZEROS, _DROPPED, _SHORT = Outcome.OK, Outcome.ZEROS, Outcome.DROPPED, Outcome.SHORT
_EPERM, _EFAULT = Outcome.EPERM, Outcome.EFAULT
_DIRECT, _FAILED = Xlate.DIRECT, Xlate.FAILED
_ADDR_END = ADDR_MAX + 1  # addr + length above this ends past 2^64 - 1 (see check_end)


def open_mem(op: Line, sw: Switches) -> Verdict:
    """The ``open("/dev/mem")`` every access needs, when it fails (callers ask only when
    ``not sw.devmem or sw.lockdown_dev_mem``): ``memory_open()`` of a kernel without
    CONFIG_DEVMEM finds no minor 1 -> ENXIO; then ``open_mem()`` = ``open_port()``
    (drivers/char/mem.c): CAP_SYS_RAWIO (assumed held), then
    ``security_locked_down(LOCKDOWN_DEV_MEM)`` (5.4+, 9b9d8dda1ed7): refused under lockdown
    integrity and confidentiality -> EPERM, before any rule of the /dev/mem policy runs."""
    v = Verdict(op, Outcome.OK, counterfactual=sw.counterfactual)
    if not sw.devmem:
        line = "memory_open(minor 1): CONFIG_DEVMEM=n, no /dev/mem in devlist -> -ENXIO"
        v.trace.append(line)
        return v.finish(
            Outcome.ENXIO,
            "no /dev/mem in this kernel (CONFIG_DEVMEM=n): a stale device node opens with ENXIO",
            line,
        )
    v.trace.append("open_port(): capable(CAP_SYS_RAWIO) -> true")
    line = f"open_port(): security_locked_down(LOCKDOWN_DEV_MEM) [lockdown={sw.lockdown}] -> -EPERM"
    v.trace.append(line)
    v.trace.append(
        "dmesg: Lockdown: <comm>: /dev/mem,kmem,port is restricted; see man kernel_lockdown.7"
    )
    return v.finish(
        Outcome.EPERM,
        f"open() of /dev/mem is refused: the kernel is locked down ({sw.lockdown}; Secure "
        "Boot usually turns this on), before any /dev/mem rule runs",
        line,
    )


def _run_line(fn: str, first: int, last: int, action: str) -> str:
    return f"{fn}: {where_pfns(first, last)} {action}"


def _copy_line(fn: str, first: int, last: int, action: str, via: Xlate, kind: str) -> str:
    return f"{fn}: {where_pfns(first, last)} {action} via {via.value} ({kind})"


def data_kind(machine: MachineLike, addr: int, via: Xlate) -> str:
    """What real data a page yields. Through the direct map: RAM (of an online or offline
    block, or hwpoisoned). Through an I/O mapping (``ioremap_cache()``): what the bytes under
    it are - live System RAM the ioremap walk did not see (RAM nested below another resource,
    read through an alias mapping), firmware memory (e820 Reserved, ACPI, ROMs: page 0, the
    0xf0000 ROM, firmware-reserved RAM), RAM the kernel leaves unused (e820 Soft Reserved,
    Unusable memory), persistent memory, else device/bus data, whose values
    are the platform's and not modelled. Unplugged virtio-mem memory either way. A label never
    claims a kind of data the kernel would not return."""
    state = machine.memory_state(addr)
    if state in ("page_offline", "not_added"):
        return UNPLUGGED
    if via is _DIRECT:
        if state == "offline":
            return "RAM of an offline memory block"
        if state == "hwpoison":
            return "a hwpoisoned RAM page (a real read may machine-check; not modelled)"
        return RAM_DATA
    return _io_kind(machine, addr & ~(PAGE_SIZE - 1))


def _io_kind(machine: MachineLike, page: int) -> str:
    """What an I/O mapping of the page reaches, by the deepest resource under each byte
    (System RAM wins over what it is nested in or holds). ``overlaps()`` lists in pre-order
    and siblings never overlap, so a later resource overlapping the RAM one is inside it, and
    a resource with an overlapping child has it right after itself."""
    found = machine.tree.overlaps(page, page + PAGE_SIZE - 1)
    kinds: list[str] = []
    ram: Resource | None = None
    last = len(found) - 1
    for i, r in enumerate(found):
        if ram is not None and r.start <= ram.end and r.end >= ram.start:
            continue  # inside RAM already named
        if r.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            ram = r
            name = r.name
            kind = (
                f"live {name} contents"
                if name.startswith("System RAM")
                else f"live System RAM contents ({name!r})"
            )
        elif i < last and found[i + 1].parent is r:
            continue  # a child covers (part of) it: the deepest resource decides
        elif r.name in FIRMWARE_NAMES:
            kind = f"firmware memory ({r.name!r})"
        elif r.name in RAM_KINDS:
            kind = RAM_KINDS[r.name]
        elif r.desc in _PMEM_DESCS:
            kind = "persistent memory contents"
        else:
            kind = DEVICE_DATA
        if kind not in kinds:
            kinds.append(kind)
    return " and ".join(kinds) if kinds else DEVICE_DATA


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
    if not sw.devmem or sw.lockdown_dev_mem:
        return open_mem(op, sw)
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
    tail_check: list[Line] = []  # <= 4.10: the second range_is_allowed() call, if any
    tail_denied = False
    decider: Line = ""
    old = not sw.lowmem_ram_zero_fill
    if old:
        # <= 4.10 (before a4866aa81251): each chunk first calls range_is_allowed(pfn of p,
        # remaining count), which decides the access; no page_is_allowed() runs. The first call
        # covers ceil(count / 4K) pages from the first pfn; an unaligned call's last page is
        # only seen by the second call, made after the first page was copied; every later
        # call covers pages already checked.
        ok, t = range_is_allowed_lazy(machine, first_pfn, count, sw)
        trace += t
        decider = t[-1]
        if not ok:
            return _failure(
                op, cf, trace, notes, write, _EPERM, 0, count, "", decider, zero_pages, data_pages
            )
        if first_pfn + ((count + PAGE_SIZE - 1) >> PAGE_SHIFT) <= last_pfn:
            rest = count - (PAGE_SIZE - (addr & (PAGE_SIZE - 1)))
            ok, tail_check = range_is_allowed_lazy(machine, first_pfn + 1, rest, sw)
            tail_denied = not ok
            if tail_denied:
                last_pfn, end = first_pfn, (first_pfn << PAGE_SHIFT) + PAGE_SIZE - 1
    old_decider = decider
    write_word = "written" if write else "copied"
    skip_word = "skipped, bytes counted as written" if write else "zero-filled (clear_user)"

    def run_checks(first: int, last: int) -> tuple[list[Line], int, Xlate | None, str, Line]:
        """One page run's checks: its trace lines, the page_is_allowed() value, how
        xlate_dev_mem_ptr() reached it (None: not asked), what data it holds, the decider."""
        t: list[Line]
        if old:  # range_is_allowed() passed for these pages already
            value, t, decider = 1, [], old_decider
        else:
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
    outcome: Outcome | None = None
    detail: Line = ""
    # A one-page call is one run (what spans would give), without the generator. With a
    # second range_is_allowed() call (<= 4.10) the first page is a run of its own: the call's
    # trace goes after it, as the kernel runs it.
    all_runs: Iterable[GrainRuns]
    if first_pfn == last_pfn:
        all_runs = (GrainRuns(first_pfn, last_pfn, False),)
    elif tail_check:
        all_runs = chain(
            (GrainRuns(first_pfn, first_pfn, False),),
            run_spans(machine, first_pfn + 1, last_pfn, states=True),
        )
    else:
        all_runs = run_spans(machine, first_pfn, last_pfn, states=True)
    for n_span, runs in enumerate(all_runs):
        if n_span == 1 and tail_check:
            groups.add(tail_check)
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
    if tail_denied and outcome is None:  # the first page went through; the second call says no
        groups.add(tail_check)
        outcome, decider = _EPERM, tail_check[-1]
        detail = (
            "range_is_allowed() of the rest of the call (pfn {:#x} on) said no".format,
            first_pfn + 1,
        )
    trace += groups.lines(fn)
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
