"""The sweep (engine/devmem/sweep.py, edges.py) against single accesses.

The property that matters: the sweep row holding an address says exactly what a 4 KiB
``read``/``write``/``mmap``/``kcore`` of that page says - the outcome, and also the deciding
check, its reason and the resource it named. It is checked on every preset after random
commands, and on random maps (unaligned edges, nesting, virtio-style parents, hwpoison, live
mappings of both memtypes), under random configurations: every page of small maps, and pages
around every edge plus random pages of large ones. Also: rows tile the range and are maximal,
and ``diff`` is the pointwise comparison of two sweeps.
"""

from __future__ import annotations

import random
from bisect import bisect_right

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from layouts import LAYOUTS

from devmem_tui.commands.session import Session
from devmem_tui.engine import presets
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem import edges
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.devmem.sweep import (
    OPS,
    Row,
    access,
    decision,
    diff,
    diff_totals,
    phys_limit,
    sweep,
    totals,
)
from devmem_tui.engine.devmem.verdict import render
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.units import ADDR_MAX, PAGE_SIZE, GiB, MiB

KERNELS = (
    "4.10",
    "4.11",
    "4.14",
    "4.17",
    "4.18",
    "5.7",
    "5.8",
    "5.12",
    "5.13",
    "5.14",
    "5.15",
    "5.16",
    "6.1",
    "6.11",
    "6.12",
    "6.15",
    "6.16",
)


@st.composite
def configs(draw: st.DrawFn, arch: str | None = None) -> KernelConfig:
    """Any configuration the rules distinguish (Kconfig-impossible ones included: `set` is a
    what-if too)."""
    cfg = KernelConfig()
    cfg.set("kernel", draw(st.sampled_from(KERNELS)))
    cfg.set("arch", arch or draw(st.sampled_from(("x86_64", "arm64"))))
    for key in ("pat", "devmem", "strict_devmem", "io_strict_devmem"):
        cfg.set(key, draw(st.sampled_from(("on", "off"))) if key != "devmem" else "on")
    if draw(st.integers(0, 9)) == 0:
        cfg.set("devmem", "off")
    cfg.set("iomem", draw(st.sampled_from(("default", "strict", "relaxed"))))
    cfg.set("proposal", draw(st.sampled_from(("none", "none", "rfc-2021", "busy-is-exclusive"))))
    cfg.set("phys_bits", str(draw(st.sampled_from((36, 39, 46, 52)))))
    if draw(st.integers(0, 4)) == 0:
        cfg.set("lockdown", draw(st.sampled_from(("integrity", "confidentiality"))))
    cfg.set("migration", draw(st.sampled_from(("on", "off"))))
    return cfg


def row_at(rows: list[Row], addr: int) -> Row:
    i = bisect_right([r.start for r in rows], addr) - 1
    assert i >= 0 and rows[i].start <= addr <= rows[i].end, hex(addr)
    return rows[i]


def check_tiling(rows: list[Row], lo: int, hi: int) -> None:
    """Rows cover [lo, hi] in order without gaps, and neighbours differ (merged)."""
    assert rows[0].start == lo and rows[-1].end == hi
    for a, b in zip(rows, rows[1:], strict=False):
        assert a.end + 1 == b.start
        assert a.key() != b.key(), (a, b)


def check_pages(m: Machine, op: str, rows: list[Row], addrs: list[int]) -> None:
    """At each address, the row's (outcome, check, reason, resource) is the single access's."""
    for addr in addrs:
        page = addr & ~(PAGE_SIZE - 1)
        got = decision(access(m, op, page), page)
        row = row_at(rows, addr)
        assert row.key() == got, (op, hex(addr), row, got, m.config.short())


def probe_addrs(m: Machine, rows: list[Row], lo: int, hi: int, rng: random.Random) -> list[int]:
    """Pages on both sides of every row edge and of every resource edge, plus random ones."""
    out: set[int] = {lo, hi}
    points = [r.start for r in rows]
    for _, r in m.tree.walk():
        points += (r.start, r.end, r.end + 1)
    points += (m.high_memory, 1 << 20, phys_limit(m))
    for p in points:
        for d in (-PAGE_SIZE, 0, PAGE_SIZE):
            if lo <= p + d <= hi:
                out.add(p + d)
    for _ in range(40):
        out.add(rng.randint(lo, hi))
    return sorted(out)


# ----------------------------------------------------------------------------- random maps
NAMES = ("System RAM", "Reserved", "virtio0", "virtio1", "dev", 'it\'s "odd"', "PCI Bus 0000:00")
FLAGS = (
    F.MEM | F.SYSRAM | F.BUSY,  # System RAM
    F.MEM | F.SYSRAM | F.BUSY | F.SYSRAM_DRIVER_MANAGED,  # hot-added RAM
    F.MEM | F.SYSRAM,  # a virtio-mem parent
    F.MEM | F.SYSRAM | F.EXCLUSIVE,  # a 5.16 virtio-mem parent
    F.MEM | F.SYSRAM | F.BUSY | F.EXCLUSIVE,
    F.MEM | F.BUSY,  # a driver claim, firmware reserved
    F.MEM | F.BUSY | F.EXCLUSIVE,  # request_mem_region_exclusive
    F.MEM,  # a window, a BAR without driver
)


@st.composite
def random_machines(draw: st.DrawFn, top: int) -> Machine:
    """A well-nested map below ``top`` with up to ~30 resources whose edges are page aligned,
    sub-page, or on 2 MiB / 128 MiB lines; random high_memory, hwpoison and live mappings."""
    tree = ResourceTree()
    budget = [draw(st.integers(1, 30))]
    align = (1, 0x400, PAGE_SIZE, PAGE_SIZE, 2 * MiB, 128 * MiB)

    def point(lo: int, hi: int) -> int:
        p = draw(st.integers(lo, hi))
        a = draw(st.sampled_from(align))
        q = lo + (p - lo) // a * a
        return q if q >= lo else p

    def fill(parent: Resource, lo: int, hi: int, depth: int) -> None:
        if depth > 3 or budget[0] <= 0 or lo >= hi:
            return
        n = draw(st.integers(1 if depth == 0 else 0, 4 if depth == 0 else 2))
        pts = sorted({point(lo, hi + 1) for _ in range(2 * n)})
        if n and draw(st.integers(0, 5)) == 0:
            pts = [lo, hi + 1]  # a child as large as its parent
        for a, b in zip(pts[::2], pts[1::2], strict=False):
            if budget[0] <= 0 or b - 1 < a:
                continue
            budget[0] -= 1
            name = draw(st.sampled_from(NAMES))
            res = tree.add_child(parent, Resource(a, b - 1, name, draw(st.sampled_from(FLAGS))))
            fill(res, a, b - 1, depth + 1)

    fill(tree.root, 0, top - 1, 0)
    m = Machine(tree, draw(configs()), name="random")
    if draw(st.booleans()):
        m.high_memory = point(0, top)
    pages = top // PAGE_SIZE
    m.hwpoison = set(draw(st.lists(st.integers(0, pages - 1), max_size=3)))
    for i in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, pages - 1)) * PAGE_SIZE
        n = draw(st.integers(1, 64))
        m.mappings[f"m{i + 1}"] = Mapping(
            f"m{i + 1}", start, n * PAGE_SIZE, sync=draw(st.booleans())
        )
    return m


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=random_machines(4 * MiB), op=st.sampled_from(OPS))
def test_every_page_of_small_random_maps(m: Machine, op: str) -> None:
    """4 MiB maps (the first-MiB line, the ISA range, sub-page edges): every page."""
    hi = 4 * MiB - 1
    rows = sweep(m, op, 0, hi)
    check_tiling(rows, 0, hi)
    check_pages(m, op, rows, list(range(0, hi, PAGE_SIZE)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=random_machines(64 * GiB),
    op=st.sampled_from(OPS),
    seed=st.integers(0, 2**32),
    past=st.booleans(),
)
def test_pages_around_every_edge_of_large_random_maps(
    m: Machine, op: str, seed: int, past: bool
) -> None:
    """64 GiB maps (128 MiB sections, high_memory, phys_bits), the default range or a range
    that runs past it: pages on both sides of every edge and random pages."""
    hi = ADDR_MAX if past else phys_limit(m) - 1
    rows = sweep(m, op, 0, hi)
    check_tiling(rows, 0, hi)
    check_pages(m, op, rows, probe_addrs(m, rows, 0, hi, random.Random(seed)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=random_machines(4 * MiB),
    op=st.sampled_from(OPS),
    lo=st.integers(0, 4 * MiB - 1),
    size=st.integers(1, 4 * MiB),
)
def test_any_range_is_tiled_exactly(m: Machine, op: str, lo: int, size: int) -> None:
    """An unaligned RANGE: rows start and end exactly at its ends; the pages agree."""
    hi = min(lo + size - 1, 4 * MiB - 1)
    rows = sweep(m, op, lo, hi)
    check_tiling(rows, lo, hi)
    check_pages(m, op, rows, [lo, hi, *range((lo | (PAGE_SIZE - 1)) + 1, hi, PAGE_SIZE)])


# ----------------------------------------------------------------------------- presets
VMEM_SIZES = ("0", "256M", "1G", "1088M", "4G", "16G")


def preset_session(data: st.DataObject, name: str) -> Session:
    """A preset after random commands: resizes, raw requests, claims, mappings, offlined
    blocks, pins; then a random config."""
    session = Session(Machine.from_preset(name))
    m = session.machine
    if m.vmem:
        session.execute(f"vmem resize vmem0 {data.draw(st.sampled_from(VMEM_SIZES))}")
        dev = m.vmem["vmem0"].device
        for _ in range(data.draw(st.integers(0, 2))):
            kind = data.draw(st.sampled_from(("plug", "unplug")))
            addr = dev.addr + data.draw(st.integers(0, 63)) * 0x8000000
            session.execute(f"{kind} vmem0 {addr:#x} 2M")
        mbs = [mb for mb, z in m.vmem["vmem0"].mm.items() if z != "offline"]
        if mbs and data.draw(st.booleans()):
            session.execute(f"offline memory{data.draw(st.sampled_from(sorted(mbs)))}")
    rams = [r for _, r in m.tree.walk() if r.is_system_ram() and r.flags & F.BUSY]
    for _ in range(data.draw(st.integers(0, 3))):
        r = data.draw(st.sampled_from(rams))
        page = data.draw(st.integers(r.start >> 12, r.end >> 12)) << 12
        m.hwpoison.add(page >> 12)
    tops = [r for r in m.tree.root.children if not r.is_system_ram()]
    for i in range(data.draw(st.integers(0, 2))):
        r = data.draw(st.sampled_from(tops))
        start = data.draw(st.integers(r.start, r.end))
        session.execute(f"claim {start:#x}+{data.draw(st.sampled_from(('4K', '6K', '1M')))} c{i}")
    for _ in range(data.draw(st.integers(0, 3))):
        r = data.draw(st.sampled_from([r for _, r in m.tree.walk()]))
        page = data.draw(st.integers(r.start >> 12, r.end >> 12)) << 12
        sync = data.draw(st.sampled_from(("", " sync")))
        session.execute(f"mmap {page:#x} {data.draw(st.sampled_from(('4K', '64K')))}{sync}")
    arch = m.config.arch
    session.machine.config = data.draw(configs(arch=arch))
    return session


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(list(presets.PRESETS)),
    op=st.sampled_from(OPS),
    data=st.data(),
    seed=st.integers(0, 2**32),
)
def test_presets_after_random_commands(name: str, op: str, data: st.DataObject, seed: int) -> None:
    session = preset_session(data, name)
    m = session.machine
    hi = phys_limit(m) - 1
    rows = sweep(m, op, 0, hi)
    check_tiling(rows, 0, hi)
    check_pages(m, op, rows, probe_addrs(m, rows, 0, hi, random.Random(seed)))


@pytest.mark.parametrize("name", list(presets.PRESETS))
@pytest.mark.parametrize("op", OPS)
def test_default_config_every_row_start_and_end(name: str, op: str) -> None:
    m = Machine.from_preset(name)
    hi = phys_limit(m) - 1
    rows = sweep(m, op, 0, hi)
    check_tiling(rows, 0, hi)
    check_pages(m, op, rows, [a for r in rows for a in (r.start, r.end)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layout=st.sampled_from(sorted(LAYOUTS)),
    op=st.sampled_from(OPS),
    data=st.data(),
    seed=st.integers(0, 2**32),
)
def test_test_layouts(layout: str, op: str, data: st.DataObject, seed: int) -> None:
    """The hand-built layouts of the policy tests, with their memory states (an unplugged
    sub-block, a nested kmem region, arm64)."""
    arch = "arm64" if layout == "L4" else "x86_64"
    m = LAYOUTS[layout](data.draw(configs(arch=arch)))
    hi = phys_limit(m) - 1
    rows = sweep(m, op, 0, hi)
    check_tiling(rows, 0, hi)
    check_pages(m, op, rows, probe_addrs(m, rows, 0, hi, random.Random(seed)))


# ----------------------------------------------------------------------------- what rows say
def test_default_preset_read_rows() -> None:
    m = Machine.from_preset("qemu-x86-virtio-mem")
    rows = sweep(m, "read", 0, phys_limit(m) - 1)
    by = {(r.start, r.end): r for r in rows}
    low = by[(0x1000, 0x9EFFF)]
    assert low.outcome == "ZEROS" and low.check == "devmem_is_allowed"
    assert low.reason.endswith("below 1 MiB -> 2")
    assert low.resource == "'System RAM' 0x1000-0x9fbff"
    ram = by[(0x100000, 0xBFFDFFFF)]
    assert ram.outcome == "EPERM" and ram.resource == "'System RAM' 0x100000-0xbffdffff"
    top = rows[-1]
    assert top.outcome == "EFAULT" and top.check == "valid_phys_addr_range"
    assert top.reason == ("[x86] last byte <page>+0xfff > __pa(high_memory - 1) = 0x13fffffff -> 0")
    assert top.resource is None
    assert top.start == m.high_memory and top.end == (1 << 46) - 1
    assert sum(r.size for r in rows) == 1 << 46
    assert totals(rows)["EFAULT"] == (1 << 46) - m.high_memory


def test_exclusive_claims_are_named() -> None:
    m = Machine.from_preset("qemu-x86-virtio-mem")
    rows = sweep(m, "mmap", 0xFEB80000, 0xFEBFFFFF)
    first = rows[0]
    assert first.outcome == "EPERM" and first.resource is not None
    assert "'e1000e'" in first.resource and "exclusive -> 0" in first.reason


def test_page_numbers_are_written_page() -> None:
    """arm64 read below RAM: every page's reason names the page itself, written <page>, so
    one row covers the resources there (the UART, its claim, the holes)."""
    m = Machine.from_preset("arm64-virt")
    assert len(m.tree.overlapping(0, 0x3FFFFFFF)) > 2
    rows = sweep(m, "read", 0, 0x3FFFFFFF)
    assert [r.reason for r in rows] == ["[arm64] <page> is not in memblock memory -> 0"]
    assert rows[0].outcome == "EFAULT" and rows[0].check == "valid_phys_addr_range"


def test_kcore_rows_follow_memory_state() -> None:
    """Offline blocks and unplugged sub-blocks are zeros on 5.14+, read raw before."""
    s = Session.new()
    s.execute("vmem resize vmem0 1G")
    s.execute("offline memory41")
    s.execute("unplug vmem0 0x140000000 2M")  # the device only: the driver still has it
    m = s.machine
    rows = sweep(m, "kcore", 0x140000000, 0x17FFFFFFF)
    assert [(r.start, r.outcome.value) for r in rows] == [
        (0x140000000, "OK"),
        (0x148000000, "ZEROS"),
        (0x150000000, "OK"),
    ]
    s.execute("set kernel 5.13")
    assert {r.outcome.value for r in sweep(m, "kcore", 0x140000000, 0x17FFFFFFF)} == {"OK"}


def test_live_mappings_and_mmap_rows() -> None:
    """PAT memtypes of live mappings (reserve_pfn_range, arch/x86/mm/pat/memtype.c): the rows
    of a one-page WB mmap around two overlapping mappings are what the page-by-page mmaps say.
    m2 overlaps m1, so memtype_reserve() hands it m1's UC- (is_new_memtype_allowed(WB, UC-));
    a one-page WB request gets the live entry's type and is never refused, so the mappings
    change the memtype each page would map with, not the outcome."""
    s = Session.new()
    s.execute("mmap 0x540000000 64K sync")  # 64-bit PCI window: MTRR default WB (SeaBIOS)
    assert "(shared, UC-)" in s.execute("mmap 0x540008000 64K").message
    lo, hi = 0x53FFF0000, 0x54002FFFF
    rows = sweep(s.machine, "mmap", lo, hi)
    want: list[list[object]] = []
    for page in range(lo, hi, PAGE_SIZE):
        outcome = access(s.machine, "mmap", page).outcome
        if want and want[-1][2] == outcome:
            want[-1][1] = page + PAGE_SIZE - 1
        else:
            want.append([page, page + PAGE_SIZE - 1, outcome])
    assert [[r.start, r.end, r.outcome] for r in rows] == want
    assert "UC-" in render(access(s.machine, "mmap", 0x540010000).message)
    assert "WB" in render(access(s.machine, "mmap", 0x540020000).message)


def test_bad_arguments() -> None:
    m = Machine.from_preset("qemu-x86")
    with pytest.raises(ValueError):
        sweep(m, "touch", 0, 1)
    with pytest.raises(ValueError):
        sweep(m, "read", 2, 1)
    with pytest.raises(ValueError):
        edges.verdict_edges(m, "frob", 0, 1)


# ----------------------------------------------------------------------------- diff
def pointwise(old: list[Row], new: list[Row]) -> list[tuple[int, int, str, str]]:
    """The changed pieces by walking every boundary of both sweeps."""
    cuts = sorted({r.start for r in old} | {r.start for r in new})
    end = old[-1].end
    out: list[tuple[int, int, str, str]] = []
    for i, a in enumerate(cuts):
        b = cuts[i + 1] - 1 if i + 1 < len(cuts) else end
        o, n = row_at(old, a), row_at(new, a)
        if o.outcome != n.outcome:
            out.append((a, b, o.outcome.value, n.outcome.value))
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(list(presets.PRESETS)),
    op=st.sampled_from(OPS),
    data=st.data(),
)
@example(name="qemu-x86-virtio-mem", op="read", data=None)  # type: ignore[arg-type]
def test_diff_is_the_pointwise_comparison(name: str, op: str, data: st.DataObject) -> None:
    m = Machine.from_preset(name)
    other = Machine(m.tree, data.draw(configs(arch=m.config.arch)) if data else KernelConfig())
    other.vmem, other.high_memory, other.mappings = m.vmem, m.high_memory, m.mappings
    if data is None:
        other.config.set("iomem", "relaxed")
    hi = max(phys_limit(m), phys_limit(other)) - 1
    old, new = sweep(m, op, 0, hi), sweep(other, op, 0, hi)
    d = diff(old, new)
    assert [(r.start, r.end, r.old.outcome.value, r.new.outcome.value) for r in d] == pointwise(
        old, new
    )
    for r in d:
        assert r.old is row_at(old, r.start) and r.new is row_at(new, r.end)
    assert sum(diff_totals(d).values()) == sum(r.size for r in d)
    assert diff(old, old) == []


def test_diff_needs_the_same_range() -> None:
    m = Machine.from_preset("qemu-x86")
    with pytest.raises(ValueError):
        diff(sweep(m, "read", 0, 0xFFFF), sweep(m, "read", 0, 0x1FFFF))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_memory_state_edges_are_where_the_state_changes(data: st.DataObject) -> None:
    """VirtioMemCore.memory_state_edges against memory_state() at every 2 MiB (the smallest
    sub-block): constant between two edges, different across each edge inside the region."""
    session = preset_session(data, "qemu-x86-virtio-mem")
    vm = session.machine.vmem["vmem0"]
    start, end = vm.region()
    edges = vm.memory_state_edges()
    assert edges == sorted(set(edges)) and edges[0] == start and edges[-1] == end + 1
    grain = 2 * MiB
    for a, b in zip(edges, edges[1:], strict=False):
        states = {vm.memory_state(x) for x in range(a, b, grain)}
        assert len(states) == 1, (hex(a), hex(b), states)
        if b <= end:
            assert vm.memory_state(b - grain) != vm.memory_state(b), hex(b)
