"""The undo journal (engine/journal.py) and the structures that record into it.

* A command that fails at any point after it started changing the machine is undone exactly:
  a fault is injected at the k-th event or driver trace line of each of a set of mutating
  commands, for every k the command reaches, on the default map (full ``state.to_dict``
  compared) and at a few points on the 100,000-resource map (``bigmap.StateWatch``).
* The journal's own rules: nesting, commit, rollback, nothing recorded outside a transaction.
* Every journaled structure against a plain reference (hypothesis): sorted range lists, the
  mapping table and its interval index, the run index, the device bitmap's flip log, and the
  page runs of ``rules.spans`` against the run-by-run cut they replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import bigmap
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devmem_tui.commands.session import Session
from devmem_tui.engine import ranges
from devmem_tui.engine import session_json as state
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem import rules
from devmem_tui.engine.devmem.mapping import Mapping, MappingTable
from devmem_tui.engine.iomem.tree import ResourceTree
from devmem_tui.engine.journal import Journal, Journaled, attach
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.mm.memory_blocks import MemoryGroup
from devmem_tui.engine.runs import RunIndex, RunMap
from devmem_tui.engine.units import PAGE_SHIFT, merge_ranges
from devmem_tui.engine.virtio_mem.blockmode import BlockMode
from devmem_tui.engine.virtio_mem.blockruns import BlockRuns
from devmem_tui.engine.virtio_mem.report import VmemReport
from devmem_tui.engine.virtio_mem.sbm import SubBlockMode


# ----------------------------------------------------------------------------- fault injection
class Injected(Exception):
    pass


# Where a fault can strike: after each of these primitive changes completed, and at every
# event queued and every driver trace line (points in the middle of real commands).
_AFTER: list[tuple[Any, str]] = [
    (Machine, "_push"),
    (ResourceTree, "_notify"),
    (ResourceTree, "_mark_flags"),
    (MappingTable, "__setitem__"),
    (MappingTable, "__delitem__"),
    (ranges, "add"),
    (ranges, "remove"),
    (BlockRuns, "_splice"),
    (BlockMode, "set_state"),
    (BlockMode, "grow"),
    (SubBlockMode, "set_mask"),
    (MemoryGroup, "_set"),
    (KernelConfig, "set"),
]


@contextmanager
def fault_at(k: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Raise at the k-th fault point. Yields a list holding how many points were passed."""
    seen = [0]

    def tick() -> None:
        seen[0] += 1
        if seen[0] == k:
            raise Injected(f"fault {k}")

    def after(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kw: Any) -> Any:
            out = fn(*args, **kw)
            tick()
            return out

        return wrapped

    want = VmemReport.want

    def faulty_want(self: VmemReport) -> bool:
        tick()
        return want(self)

    with monkeypatch.context() as mp:
        for owner, name in _AFTER:
            mp.setattr(owner, name, after(getattr(owner, name)))
        mp.setattr(VmemReport, "want", faulty_want)
        yield seen


SETUP = [
    "vmem resize vmem0 1G",
    "pin 0x140000000",
    "mmap 0xfebd0000 8K",
    "mmap 0xfebd0000 4096 private",
    "claim 0xfebd1000+4K mydrv",
    "vmem add vmem1 0x600000000 1G block=128M",
    "vmem resize vmem1 512M",
    "set io_strict_devmem on",
    "offline memory42",
]
FAULTY = [
    "vmem resize vmem0 2G",
    "vmem resize vmem0 256M",
    "vmem resize vmem1 0",
    "unplug-all vmem0",
    "online memory42",
    "offline memory41",
    "claim 0xfebd0000+4K newdrv",
    "release mydrv",
    "munmap m1",
    "mmap 0xfeb00000 4096",
    "pin 0x140400000",
    "unpin 0x140000000",
    "plug vmem0 0x180000000 2M",
    "unplug vmem0 0x140200000 2M",
    "set kernel 5.4",
    "vmem add vmem2 0x700000000 1G",
    "wait 400s",
    "machine qemu-x86",
    "pin 0x140400000 4K longterm",
    "set lockdown integrity",
    "kexec",
    "kdump 6.1.100",
]


@pytest.fixture(scope="module")
def rich_doc() -> dict[str, Any]:
    s = Session.new()
    for line in SETUP:
        r = s.execute(line)
        assert r is not None and r.ok and r.outcome in ("DONE", "OK"), (line, r)
    return state.to_dict(s.machine)


@pytest.mark.parametrize("line", FAULTY)
def test_a_command_failing_at_any_point_is_undone_exactly(
    line: str, rich_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    k = 1
    while True:
        s = Session(state.from_dict(rich_doc))
        m = s.machine
        with fault_at(k, monkeypatch) as seen:
            r = s.execute(line)
        assert r is not None
        if seen[0] < k:  # the command finished before the k-th point: every point was tried
            assert r.ok, (line, r.message)
            break
        assert not r.ok and "Injected: fault" in r.message, (line, k, r.message)
        assert s.machine is m, (line, k)
        assert state.to_dict(m) == rich_doc, f"{line!r} failing at point {k} left changes"
        m.tree.check()
        m.mappings.check()
        for vm in m.vmem.values():
            vm.check()
        assert m.journal.depth == 0 and not m.journal.entries
        k += 1
    assert k > 1 or line.startswith("machine"), f"{line}: no fault point was reached"


def test_failures_midway_on_the_100k_map_are_undone(
    big: tuple[Session, bigmap.StateWatch], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same on the 100,000-resource map, in the middle of a few commands (and after a
    successful run of each rolled back); the full saved state is compared (``StateWatch``)."""
    s, watch = big
    info = bigmap.big_map()
    lines = ["vmem resize vmem0 2G", f"claim {info.bars[0]:#x}+4K newdrv", "release mydrv"]
    for line in lines:
        with fault_at(10**9, monkeypatch) as seen:  # count the points of a clean run
            m = s.machine
            txn = m.begin()
            r = s.execute(line)
            points = seen[0]
            m.rollback(txn)
        assert r is not None and r.ok, (line, r.message)
        watch.check(s.machine, f"{line} (counted)")
        for k in (max(1, points // 2),):
            with fault_at(k, monkeypatch):
                r = s.execute(line)
            assert r is not None and not r.ok and "Injected" in r.message, (line, k, r.message)
            watch.check(s.machine, f"{line} failing at point {k} of {points}")


# ----------------------------------------------------------------------------- the journal
class Thing(Journaled):
    def __init__(self) -> None:
        self.a = 1


def journaled_thing() -> tuple[Journal, Thing]:
    j = Journal()
    t = Thing()
    attach(t, j)
    return j, t


def test_nested_transactions_commit_into_the_outer_one() -> None:
    j, t = journaled_thing()
    outer = j.begin()
    t.a = 2
    inner = j.begin()
    t.a = 3
    t.b = 4
    j.commit(inner)
    assert j.entries  # kept for the outer transaction
    assert j.rollback(outer) == 3
    assert t.a == 1 and not hasattr(t, "b")
    assert j.depth == 0 and not j.entries


def test_nothing_is_recorded_outside_a_transaction() -> None:
    j, t = journaled_thing()
    t.a = 5
    j.record(print, "x")
    assert not j.entries
    mark = j.begin()
    t.a = 6
    j.commit(mark)
    assert t.a == 6 and not j.entries


def test_an_inner_rollback_keeps_the_outer_changes() -> None:
    j, t = journaled_thing()
    outer = j.begin()
    t.a = 2
    inner = j.begin()
    t.a = 3
    assert j.rollback(inner) == 1
    assert t.a == 2 and j.depth == 1
    j.commit(outer)
    assert t.a == 2


# ----------------------------------------------------------------------------- structures
OPS = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, 60), st.integers(0, 12)),
    max_size=30,
)


@settings(max_examples=200, deadline=None, database=None)
@given(OPS, OPS)
def test_range_lists_match_a_plain_reference_and_undo(
    setup: list[tuple[str, int, int]], ops: list[tuple[str, int, int]]
) -> None:
    def apply(rs: list[tuple[int, int]], ref: set[int], op: str, a: int, n: int, j: Any) -> None:
        if op == "add":
            ranges.add(rs, a, a + n, j)
            ref.update(range(a, a + n + 1))
        else:
            freed = ranges.remove(rs, a, a + n, j)
            assert freed == len(ref & set(range(a, a + n + 1)))
            ref.difference_update(range(a, a + n + 1))

    rs: list[tuple[int, int]] = []
    ref: set[int] = set()
    for op in setup:
        apply(rs, ref, *op, None)
    before = list(rs)
    j = Journal()
    mark = j.begin()
    for op in ops:
        apply(rs, ref, *op, j)
        assert rs == merge_ranges([(x, x) for x in ref])
        for x in range(0, 75):
            assert ranges.covers(rs, x) == (x in ref)
        lo, hi = 10, 40
        hits = [x for x in range(lo, hi + 1) if x in ref]
        assert ranges.first_in(rs, lo, hi) == (hits[0] if hits else None)
    j.rollback(mark)
    assert rs == before


@settings(max_examples=100, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 40), st.integers(1, 5), st.booleans()),
        max_size=40,
    )
)
def test_the_mapping_table_keeps_order_and_index_through_undo(
    ops: list[tuple[bool, int, int, bool]],
) -> None:
    j = Journal()
    t = MappingTable(j)
    ref: dict[str, Mapping] = {}
    n = 0
    for i in range(5):
        n += 1
        t[f"m{n}"] = ref[f"m{n}"] = Mapping(f"m{n}", i << PAGE_SHIFT, 4096 * (i + 1))
    mark = j.begin()
    snapshot = dict(ref)
    for add, page, pages, pick_last in ops:
        if add or not ref:
            n += 1
            mid = f"m{n}"
            t[mid] = ref[mid] = Mapping(mid, page << PAGE_SHIFT, pages << PAGE_SHIFT)
        else:
            mid = list(ref)[-1 if pick_last else 0]
            del t[mid]
            del ref[mid]
        assert list(t) == list(ref)
        t.check()
        for q in range(0, 48, 3):
            lo, hi = q << PAGE_SHIFT, ((q + 2) << PAGE_SHIFT) - 1
            want = [m for m in ref.values() if m.start <= hi and lo <= m.end]
            assert t.overlapping(lo, hi) == want
    j.rollback(mark)
    assert list(t.items()) == list(snapshot.items())
    t.check()


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from([None, "a", "b"])), max_size=60))
def test_the_run_index_finds_the_runs_of_a_plain_dict(sets: list[tuple[int, str | None]]) -> None:
    values: dict[int, str] = {}
    index = RunIndex(values.get)
    for i, v in sets:
        if v is None:
            values.pop(i, None)
        else:
            values[i] = v
        index.touch(i)
        runs = list(index.runs(0, 32))
        assert runs[0][0] == 0 and runs[-1][1] == 32
        for (_a, b), (c, _d) in zip(runs, runs[1:], strict=False):
            assert b == c
            assert values.get(b) != values.get(b - 1)
        for a, b in runs:
            assert len({values.get(x) for x in range(a, b)}) == 1
        end = index.run_end(5)
        assert end is None or (values.get(end) != values.get(5) and end > 5)


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from([None, "a", "b"])), max_size=60))
def test_the_run_map_reads_like_a_dict(sets: list[tuple[int, str | None]]) -> None:
    ref: dict[int, str] = {}
    rm = RunMap()
    for i, v in sets:
        if v is None:
            ref.pop(i, None)
            rm.delete(i)
        else:
            ref[i] = v
            rm.set(i, v)
        rm.check()
        assert dict(rm.items()) == ref and len(rm) == len(ref)
        assert all(rm.get(k) == ref.get(k) and (k in rm) == (k in ref) for k in range(-1, 33))
        runs = list(rm.runs(-2, 34))
        assert runs[0][0] == -2 and runs[-1][1] == 34
        for a, b in runs:
            assert len({ref.get(x) for x in range(a, b)}) == 1
        for (_a, b), (c, _d) in zip(runs, runs[1:], strict=False):
            assert b == c and ref.get(b) != ref.get(b - 1)
        assert [(a, b, v) for a, b, v in rm.value_runs()] == [
            (a, b, ref[a]) for a, b in runs if a in ref
        ]
        end = rm.run_end(5)
        assert end is None or (end > 5 and ref.get(end) != ref.get(5))
        assert rm.bounds() == ((min(ref), max(ref) + 1) if ref else None)


def _diff(before: BlockRuns, after: BlockRuns) -> list[tuple[int, int]]:
    """The blocks whose state differs, block by block (the reference)."""
    out: list[tuple[int, int]] = []
    for i in range(0, 80):
        if before.is_set(i) != after.is_set(i):
            if out and out[-1][1] == i:
                out[-1] = (out[-1][0], i + 1)
            else:
                out.append((i, i + 1))
    return out


@settings(max_examples=200, deadline=None, database=None)
@given(OPS, OPS, st.booleans())
def test_the_bitmap_flip_log_and_its_undo(
    setup: list[tuple[str, int, int]], ops: list[tuple[str, int, int]], undo: bool
) -> None:
    runs = BlockRuns()
    for op, a, n in setup:
        (runs.set_range if op == "add" else runs.clear_range)(a, n)
    before = runs.copy()
    j = Journal()
    runs.attach(j)
    mark = j.begin()
    runs.watch()
    for op, a, n in ops:
        (runs.set_range if op == "add" else runs.clear_range)(a, n)
    if undo:
        j.rollback(mark)
        assert runs == before and runs.total() == before.total()
    assert runs.changed() == _diff(before, runs)


# ----------------------------------------------------------------------------- page runs
def _old_run_end(machine: Machine, pfn: int, last_pfn: int) -> int:
    """The run-by-run cut ``rules.spans`` replaced (every run inside a device region ends at
    the next 2 MiB boundary), kept here as the reference."""
    if pfn >= last_pfn:
        return last_pfn
    a = pfn << PAGE_SHIFT
    nb = machine.tree.next_boundary(a)
    if nb < a + 4096:
        return pfn
    e = min(last_pfn, (nb >> PAGE_SHIFT) - 1)
    if pfn < rules.LOW_PFNS:
        e = min(e, rules.LOW_PFNS - 1)
    for dev in machine.vmem.values():
        d = dev.device
        vs, ve = d.addr, d.addr + d.region_size - 1
        if vs <= a <= ve:
            e = min(e, (a | (rules.STATE_GRAIN - 1)) >> PAGE_SHIFT, ve >> PAGE_SHIFT)
        elif a < vs:
            e = min(e, (vs >> PAGE_SHIFT) - 1)
    return max(e, pfn)


def _expand(machine: Machine, first: int, last: int, states: bool) -> list[tuple[int, int]]:
    out = []
    for runs in rules.spans(machine, first, last, states):
        out += [runs[k] for k in range(len(runs))]
        assert [runs.index(p) for p, _q in out[-len(runs) :]] == list(range(len(runs)))
    return out


_SPAN_MACHINES: dict[int, Machine] = {}


def _span_machine(which: int) -> Machine:
    if which not in _SPAN_MACHINES:
        s = Session.new()
        for line in [
            ["vmem resize vmem0 1030M", "offline memory42"],
            ["vmem add vmem1 0x600000000 4G block=1M", "vmem resize vmem1 700M"],
            ["vmem resize vmem0 3G", "unplug vmem0 0x150000000 2M"],
        ][which]:
            assert s.execute(line) is not None
        _SPAN_MACHINES[which] = s.machine
    return _SPAN_MACHINES[which]


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.integers(0, 2),
    st.integers(0, 0x700000),
    st.integers(0, 0x300000),
    st.booleans(),
)
def test_spans_cut_exactly_the_runs_the_run_by_run_walk_cut(
    which: int, first: int, n: int, states: bool
) -> None:
    m = _span_machine(which)
    last = first + n
    want = []
    pfn = first
    while pfn <= last:
        e = _old_run_end(m, pfn, last)
        want.append((pfn, e))
        pfn = e + 1
    assert _expand(m, first, last, states) == want
    if states:  # and every run of a span starts in the same memory state
        for runs in rules.spans(m, first, last, True):
            got = {m.memory_state(runs[k][0] << PAGE_SHIFT) for k in range(len(runs))}
            assert len(got) == 1, (hex(runs.a), hex(runs.b), got)
