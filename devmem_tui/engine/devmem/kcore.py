"""``/proc/kcore`` reads of a physical range through its direct-map offset.

kcore never applies the ``/dev/mem`` rules (no ``devmem_is_allowed()``, no STRICT_DEVMEM): it
exposes the KCORE_RAM list - busy System RAM at any depth, whole pages only
(``walk_system_ram_range``) - and zero-fills everything else. Since 5.14 (0daa322b8ff9) it also
zero-fills offline sections, ``PageOffline`` pages (e.g. virtio-mem-unplugged sub-blocks) and
hwpoisoned pages; before, those were read raw.

``open_kcore()`` asks ``security_locked_down(LOCKDOWN_KCORE)`` first (5.4+, "lockdown: Lock
down /proc/kcore"): refused (EPERM) under lockdown=confidentiality only; integrity allows it.

Simplifications: the KCORE_RAM list is taken as current (the kernel rebuilds it lazily at open
after MEM_ONLINE/MEM_OFFLINE); read faults (zeros from 6.2) and unaccepted memory are not
modelled; CAP_SYS_RAWIO is assumed held. The RAM list is ``walk_system_ram_range()``'s, so
before 5.1 it holds top-level System RAM only (``rules.page_is_ram``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from devmem_tui.engine.config import Switches
from devmem_tui.engine.devmem.rules import GrainRuns, page_is_ram, spans, where_pfns
from devmem_tui.engine.devmem.rw import UNPLUGGED
from devmem_tui.engine.devmem.verdict import (
    Line,
    Outcome,
    RunGroups,
    Verdict,
    add_range,
    check_end,
    fmt_ranges,
    op_text,
)
from devmem_tui.engine.units import PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

_RAW = {
    "online": "System RAM contents",
    "offline": "raw contents of an offline memory block (stale or unplugged memory)",
    "page_offline": f"raw PageOffline memory, {UNPLUGGED}",
    "hwpoison": "a hwpoisoned page (the read may machine-check; not modelled)",
}
_FILTER = {
    "offline": "pfn_to_online_page() NULL (memory block offline)",
    "page_offline": "PageOffline (logically offline, e.g. virtio-mem unplugged)",
    "hwpoison": "is_page_hwpoison()",
    "not_added": "memory not added (no online section)",
}


def kcore_page(
    machine: MachineLike, pfn: int, state: str, sw: Switches | None = None
) -> tuple[str | None, list[str]]:
    """``read_kcore()`` / ``read_kcore_iter()`` (fs/proc/kcore.c) for one page through its
    KCORE_RAM direct-map entry: None = zero-filled, else what real data the copy reads.

    Any version: a page not wholly inside busy System RAM has no entry -> zeros. 5.14+
    (``kcore_state_filter``): offline sections, PageOffline and hwpoisoned pages -> zeros.
    Before 5.14 only ``kern_addr_valid()`` was asked, so such pages were read raw."""
    sw = sw or machine.config.switches
    name = f"read_kcore({hex(pfn << PAGE_SHIFT)})"
    ram, trace = page_is_ram(machine, pfn, sw)
    if not ram:
        return None, [*trace, f"{name}: not in any KCORE_RAM entry -> zero-filled"]
    if sw.kcore_state_filter:
        if state in _FILTER:
            return None, [*trace, f"{name} [5.14+]: {_FILTER[state]} -> zero-filled"]
        return _RAW["online"], [*trace, f"{name}: KCORE_RAM, online page -> copied"]
    kind = _RAW.get(state, _RAW["online"])
    note = "" if state == "online" else " (no state filter before 5.14)"
    return kind, [*trace, f"{name}: KCORE_RAM, kern_addr_valid() -> copied{note}"]


def _state_runs(machine: MachineLike, first: int, last: int) -> list[tuple[int, int]]:
    """Split a run at hwpoisoned pfns, whose memory state differs from their neighbours'."""
    poisoned = machine.hwpoison.in_range(first, last)  # by bisection
    out: list[tuple[int, int]] = []
    pos = first
    for p in poisoned:
        if p > pos:
            out.append((pos, p - 1))
        out.append((p, p))
        pos = p + 1
    if pos <= last:
        out.append((pos, last))
    return out


def read_kcore(machine: MachineLike, addr: int, length: int = PAGE_SIZE) -> Verdict:
    """Read [addr, addr + length) of physical memory through ``/proc/kcore``: ZEROS when every
    byte was zero-filled, OK when some real data was read (the message lists the zero-filled
    page ranges). ``devmem``, STRICT_DEVMEM and ``iomem=`` do not matter here."""
    op = op_text("kcore", addr, length)
    check_end(op, addr, length)
    sw = machine.config.switches
    # labelled under a proposal too, although both only touch /dev/mem
    v = Verdict(op, Outcome.OK, counterfactual=sw.counterfactual)
    if sw.lockdown_kcore:
        line = (
            f"open_kcore(): security_locked_down(LOCKDOWN_KCORE) [lockdown={sw.lockdown}] -> -EPERM"
        )
        v.trace += [
            line,
            "dmesg: Lockdown: <comm>: /proc/kcore access is restricted; see man kernel_lockdown.7",
        ]
        return v.finish(
            Outcome.EPERM,
            "open() of /proc/kcore is refused: lockdown=confidentiality (integrity allows it)",
            line,
        )
    if length == 0:
        return _empty(v, "read_kcore")
    end = addr + length - 1
    groups = RunGroups()  # trace lines per page run, as many as are printed
    kinds: list[str] = []
    decider = ""

    def run_group(a: int, b: int, state: str) -> tuple[str | None, list[Line]]:
        nonlocal decider
        kind, t = kcore_page(machine, a, state, sw)
        decider = t[-1]
        return kind, [*t[:-1], f"{t[-1]} ({where_pfns(a, b)})"]

    def account(a: int, b: int, kind: str | None) -> None:
        span = (a << PAGE_SHIFT, (b << PAGE_SHIFT) + PAGE_SIZE - 1)
        if kind is None:
            add_range(v.zero_pages, *span)
        else:
            add_range(v.data_pages, *span)
            if kind not in kinds:
                kinds.append(kind)

    for runs in spans(machine, addr >> PAGE_SHIFT, end >> PAGE_SHIFT, states=True):
        # Runs holding a hwpoisoned pfn are split at it (its state differs); the others of
        # the span answer alike, so each stretch of them is decided once.
        odd = sorted({runs.index(p) for p in machine.hwpoison.in_range(runs.a, runs.b)})
        prev = 0
        for k in [*odd, len(runs)]:
            if k > prev:
                a0 = runs[prev][0]
                state = machine.memory_state(a0 << PAGE_SHIFT)
                kind, group = run_group(*runs[prev], state)
                groups.add(group)

                def make(
                    i: int, runs: GrainRuns = runs, base: int = prev + 1, state: str = state
                ) -> list[Line]:
                    return run_group(*runs[base + i], state)[1]

                groups.add_batch(k - prev - 1, make)
                account(a0, runs[k - 1][1], kind)
            if k < len(runs):
                for a, b in _state_runs(machine, *runs[k]):
                    kind, group = run_group(a, b, machine.memory_state(a << PAGE_SHIFT))
                    groups.add(group)
                    account(a, b, kind)
            prev = k + 1
    v.trace += groups.lines("read_kcore")
    return _finish(v, kinds, decider, length, "kcore")


def _empty(v: Verdict, name: str) -> Verdict:
    line = f"{name}(): count 0 -> returns 0"
    v.trace.append(line)
    return v.finish(Outcome.OK, "returns 0: nothing to do", line)


def _finish(v: Verdict, kinds: list[str], decider: Line, length: int, what: str) -> Verdict:
    """ZEROS when every byte was zero-filled, OK when some real data was read (the message
    lists what it was and the zero-filled page ranges)."""
    if not v.data_pages:
        return v.finish(
            Outcome.ZEROS, f"returns {length} bytes, all zero-filled by {what}", decider, length
        )
    text = f"returns {length} bytes: {'; '.join(kinds)}"
    if v.zero_pages:
        text += f"; zero-filled: {fmt_ranges(v.zero_pages)}"
        v.notes.append(f"real data: {fmt_ranges(v.data_pages)}")
        v.notes.append(f"zero-filled: {fmt_ranges(v.zero_pages)}")
    return v.finish(Outcome.OK, text, decider, length)


# One run of pages for read_pages: (first pfn, last pfn, what the copy reads or None for
# zero-filled, trace lines whose last one decides).
PageRun = tuple[int, int, "str | None", list[str]]


def read_pages(
    machine: MachineLike,
    v: Verdict,
    name: str,
    what: str,
    addr: int,
    length: int,
    decide: Callable[[int, int], Iterable[PageRun]],
) -> Verdict:
    """The read loop of another memory file that copies or zero-fills page by page
    (/proc/vmcore): ``decide(first, last)`` answers each page run of ``rules.spans``, possibly
    split further, and the result reads as kcore's does."""
    if length == 0:
        return _empty(v, name)
    end = addr + length - 1
    groups = RunGroups()
    kinds: list[str] = []
    decider: Line = ""
    for runs in spans(machine, addr >> PAGE_SHIFT, end >> PAGE_SHIFT, states=True):
        for k in range(len(runs)):
            for a, b, kind, t in decide(*runs[k]):
                groups.add([*t[:-1], f"{t[-1]} ({where_pfns(a, b)})"])
                decider = t[-1]
                span = (a << PAGE_SHIFT, (b << PAGE_SHIFT) + PAGE_SIZE - 1)
                if kind is None:
                    add_range(v.zero_pages, *span)
                else:
                    add_range(v.data_pages, *span)
                    if kind not in kinds:
                        kinds.append(kind)
    v.trace += groups.lines(name)
    return _finish(v, kinds, decider, length, what)
