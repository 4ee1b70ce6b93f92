"""The read/write/mmap vectors (numbered 1-52) and the per-page cheat sheet of
``devmem_is_allowed()`` values, run through the command layer on the test layouts of
tests/layouts.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from layouts import LAYOUTS, config, l1, l2, l4

from devmem_tui.commands.session import Session
from devmem_tui.engine.devmem import rules as policy
from devmem_tui.engine.devmem import rw
from devmem_tui.engine.devmem.arch_hooks import Xlate, valid_phys_addr_range, xlate_dev_mem_ptr
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, Resource, ResourceTree
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.units import PAGE_SHIFT, PAGE_SIZE


@dataclass(frozen=True)
class Vec:
    no: str
    kernel: str
    mode: str
    layout: str
    command: str
    outcome: str
    trace: str  # a substring of one trace line: the deciding kernel check
    nbytes: int | None = None
    message: str = ""  # a substring of the message
    arch: str = "x86_64"
    then: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (cmd, outcome, msg)


RAM_ABOVE = "devmem_is_allowed(0x100): System RAM (region_intersects() INTERSECTS) -> 0"

VECTORS = [
    Vec(
        "1",
        "6.1",
        "S",
        "L1",
        "read 0x0",
        "OK",
        "devmem_is_allowed(0x0): not RAM (region_intersects() DISJOINT), not exclusive -> 1",
        4096,
        "firmware memory ('Reserved')",  # page 0 (e820 Reserved): the firmware's bytes
    ),
    Vec(
        "2",
        "6.1",
        "SI",
        "L1",
        "read 0x0",
        "OK",
        "exclusive, but the low 1 MiB bypasses iomem restrictions -> 1",
        4096,
    ),
    Vec(
        "3",
        "6.1",
        "S",
        "L1",
        "read 0x1000",
        "ZEROS",
        "devmem_is_allowed(0x1): System RAM (region_intersects() INTERSECTS) below 1 MiB -> 2",
        4096,
        "all zero-filled",
    ),
    Vec(
        "4",
        "6.1",
        "S",
        "L1",
        "read 0x9f000",
        "ZEROS",
        "devmem_is_allowed(0x9f): System RAM (region_intersects() MIXED) below 1 MiB -> 2",
        4096,
    ),
    Vec(
        "5",
        "4.14",
        "S",
        "L1",
        "read 0x9f000",
        "EFAULT",
        "memremap(0x9f000, PAGE_SIZE, MEMREMAP_WB): mixed range -> NULL",
        0,
    ),
    Vec(
        "5-ram-test",
        "4.14",
        "S",
        "L1",
        "read 0x9f000",
        "EFAULT",
        "devmem_is_allowed(0x9f): not RAM (page_is_ram() 0), not exclusive -> 1",
        0,
    ),
    Vec(
        "6",
        "6.1",
        "S",
        "L1",
        "read 0x0 0x100000",
        "OK",
        "read_mem: pfns 0x1-0x9e zero-filled",
        1048576,
        "zero-filled: 0x1000-0x9ffff",
    ),
    Vec(
        "7",
        "4.10",
        "S",
        "L1",
        "read 0x1000",
        "OK",
        "devmem_is_allowed(0x1) [x86 <= 4.10]: pfn < 256 is always allowed -> 1",
        4096,
        "System RAM contents",
    ),
    Vec(
        "7-3.x",
        "4.4",
        "S",
        "L1",
        "read 0x1000",
        "OK",
        "pfn < 256 is always allowed -> 1",
        4096,
        "System RAM contents",
    ),
    Vec("8", "6.1", "S", "L1", "read 0x100000", "EPERM", RAM_ABOVE, 0),
    Vec(
        "9",
        "6.1",
        "S",
        "L1",
        "read 0xff000 8192",
        "EPERM",
        RAM_ABOVE,
        0,
        "0xff000-0xfffff was already copied into the buffer",
    ),
    Vec(
        "10",
        "6.1",
        "S",
        "L1",
        "read 0x7ffe0000",
        "OK",
        "devmem_is_allowed(0x7ffe0): not RAM (region_intersects() DISJOINT), not exclusive -> 1",
        4096,
    ),
    Vec(
        "11",
        "6.1",
        "S",
        "L2",
        "read 0x7ffe0000",
        "OK",
        "iomem_is_exclusive(0x7ffe0000): no busy IORESOURCE_EXCLUSIVE resource here",
        4096,
    ),
    Vec(
        "12",
        "6.1",
        "SI",
        "L2",
        "read 0x7ffe0000",
        "EPERM",
        "iomem_is_exclusive(0x7ffe0000): busy 'ACPI Tables' 0x7ffe0000-0x7fffffff, "
        "IO_STRICT_DEVMEM=y -> true",
        0,
    ),
    Vec(
        "13",
        "6.1",
        "S",
        "L1",
        "read 0xfe000000",
        "OK",
        "not exclusive -> 1",
        4096,
        "device/bus data (not modelled)",
    ),
    Vec(
        "14",
        "6.1",
        "SI",
        "L1",
        "read 0xfe000000",
        "EPERM",
        "busy 'virtio-pci-modern' 0xfe000000-0xfe003fff, IO_STRICT_DEVMEM=y -> true",
        0,
    ),
    Vec(
        "15",
        "6.1",
        "SIR",
        "L1",
        "read 0xfe000000",
        "OK",
        "strict_iomem_checks=0 (iomem=relaxed) -> false",
        4096,
    ),
    Vec(
        "16",
        "6.1",
        "SI",
        "L1",
        "read 0xfebd0000",
        "OK",
        "iomem_is_exclusive(0xfebd0000): nothing busy here -> false",
        4096,
    ),
    Vec("17", "6.1", "SI", "L1", "read 0xfec00000", "EPERM", "busy 'IOAPIC 0'", 0),
    Vec(
        "18",
        "6.1",
        "S",
        "L1",
        "read 0xfd000000",
        "EPERM",
        "busy 'exdrv' 0xfd000000-0xfd0fffff has IORESOURCE_EXCLUSIVE -> true",
        0,
    ),
    Vec(
        "19-5.15",
        "5.15",
        "SR",
        "L1",
        "read 0xfd000000",
        "OK",
        "iomem_is_exclusive(0xfd000000): strict_iomem_checks=0",
        4096,
    ),
    Vec(
        "19-6.1",
        "6.1",
        "SR",
        "L1",
        "read 0xfd000000",
        "OK",
        "strict_iomem_checks=0 (iomem=relaxed) -> false",
        4096,
    ),
    Vec(
        "20-5.15",
        "5.15",
        "S",
        "L1",
        "read 0x280000000",
        "EPERM",
        "System RAM 'virtio0' 0x280000000-0x47fffffff -> INTERSECTS",
        0,
    ),
    Vec(
        "20-6.1",
        "6.1",
        "S",
        "L1",
        "read 0x280000000",
        "EPERM",
        "devmem_is_allowed(0x280000): System RAM (region_intersects() INTERSECTS) -> 0",
        0,
    ),
    Vec(
        "21-5.15",
        "5.15",
        "S",
        "L1",
        "read 0x288000000",
        "EPERM",
        "System RAM 'virtio0' 0x280000000-0x47fffffff -> INTERSECTS",
        0,
    ),
    Vec(
        "21-6.1",
        "6.1",
        "S",
        "L1",
        "read 0x288000000",
        "EPERM",
        "System RAM 'virtio0' 0x280000000-0x47fffffff -> INTERSECTS",
        0,
    ),
    Vec(
        "22",
        "6.1",
        "S",
        "L1",
        "read 0x300000000",
        "EFAULT",
        "valid_phys_addr_range(0x300000000, 0x1000) [x86]: last byte 0x300000fff > "
        "__pa(high_memory - 1) = 0x297ffffff -> 0",
        0,
        "past high_memory (0x298000000)",
    ),
    Vec(
        "23",
        "6.1",
        "S",
        "L1",
        "read 0x297fff000 8192",
        "EFAULT",
        "last byte 0x298000fff > __pa(high_memory - 1) = 0x297ffffff -> 0",
        0,
    ),
    Vec(
        "24",
        "5.15",
        "N",
        "L1",
        "read 0x100000",
        "OK",
        "memremap(0x100000, PAGE_SIZE, MEMREMAP_WB): RAM with a memmap -> direct map",
        4096,
        "System RAM contents",
    ),
    Vec(
        "25",
        "5.15",
        "N",
        "L1",
        "read 0x288000000",
        "OK",
        "ioremap_cache(0x288000000) [walk_mem_res, any depth]: no busy System RAM -> mapped",
        4096,
        "unplugged virtio-mem memory: reads zeros in QEMU legacy mode / undefined with "
        "unplugged-inaccessible",
    ),
    Vec(
        "26",
        "6.1",
        "N",
        "L1-no-virtio",
        "read 0x288000000",
        "EFAULT",
        "last byte 0x288000fff > __pa(high_memory - 1) = 0x27fffffff -> 0",
        0,
    ),
    Vec(
        "27",
        "5.15",
        "N",
        "L1",
        "read 0x9e000 8192",
        "EFAULT",
        "memremap(0x9f000, PAGE_SIZE, MEMREMAP_WB): mixed range -> NULL",
        0,
        "read never returns a short count",
    ),
    Vec(
        "28",
        "6.1",
        "S",
        "L1",
        "write 0x1000",
        "DROPPED",
        "below 1 MiB -> 2",
        4096,
        "discarded every byte",
    ),
    Vec("29", "6.1", "S", "L1", "write 0x100000", "EPERM", RAM_ABOVE, 0),
    Vec(
        "30",
        "6.1",
        "SI",
        "L1",
        "write 0xfdfff000 8192",
        "EPERM",
        "busy 'virtio-pci-modern' 0xfe000000-0xfe003fff, IO_STRICT_DEVMEM=y -> true",
        0,
        "0xfdfff000-0xfdffffff was already written",
    ),
    Vec(
        "31",
        "5.15",
        "N",
        "L1",
        "write 0x9e000 8192",
        "SHORT",
        "memremap(0x9f000, PAGE_SIZE, MEMREMAP_WB): mixed range -> NULL",
        4096,
        "returns 4096 of 8192 bytes",
    ),
    Vec(
        "32",
        "6.1",
        "S",
        "L1",
        "mmap 0x0 0x100000",
        "OK",
        "range_is_allowed(0x0, 0x100000): every page != 0 -> 1",
        0x100000,
        "mapped m1",
        then=(("touch m1 0x1000", "OK", "System RAM contents"), ("read 0x1000", "ZEROS", "")),
    ),
    Vec(
        "33",
        "6.1",
        "S",
        "L1",
        "mmap 0xff000 8192",
        "EPERM",
        "range_is_allowed(0xff, 0x2000): pfn 0x100 -> 0",
        None,
        "nothing is mapped",
    ),
    Vec(
        "34",
        "6.1",
        "S",
        "L1",
        "mmap 0xfe000000 16384",
        "OK",
        "range_is_allowed(0xfe000, 0x4000): every page != 0 -> 1",
        16384,
        "shared",
    ),
    Vec(
        "35",
        "6.1",
        "SI",
        "L1",
        "mmap 0xfe000000 16384",
        "EPERM",
        "range_is_allowed(0xfe000, 0x4000): pfns 0xfe000-0xfe003 -> 0",
    ),
    Vec(
        "36",
        "6.1",
        "S",
        "L1",
        "mmap 0xfe000000 16384 private",
        "OK",
        "private_mapping_ok(MAP_PRIVATE): MMU kernel -> 1",
        16384,
        "copy-on-write",
    ),
    Vec(
        "37-5.15",
        "5.15",
        "S",
        "L1",
        "mmap 0x288000000 0x8000000",
        "EPERM",
        "range_is_allowed(0x288000, 0x8000000): pfns 0x288000-0x2881ff -> 0",
    ),
    Vec(
        "37-6.1",
        "6.1",
        "S",
        "L1",
        "mmap 0x288000000 0x8000000",
        "EPERM",
        "System RAM 'virtio0' 0x280000000-0x47fffffff -> INTERSECTS",
    ),
    Vec(
        "38",
        "6.1",
        "S",
        "L1",
        "mmap 0x10000000000000 4096",
        "EINVAL",
        "last byte 0x10000000000fff is beyond 46 physical address bits -> 0",
    ),
    Vec(
        "39",
        "5.15",
        "N",
        "L1",
        "mmap 0x100000 4096",
        "EINVAL",
        "phys_mem_access_prot_allowed(0x100, 0x1000) [x86 PAT, STRICT_DEVMEM=n, <= 6.15]: "
        "devmem_is_allowed(0x100) == 0 -> 0",
    ),
    Vec(
        "40",
        "5.15",
        "N",
        "L1",
        "mmap 0x1000 4096",
        "OK",
        "[x86 PAT, STRICT_DEVMEM=n, <= 6.15]: every page != 0 -> 1",
        4096,
    ),
    Vec(
        "41",
        "6.16",
        "N",
        "L1",
        "mmap 0x100000 4096",
        "OK",
        "[x86 PAT]: 6.16+: no devmem re-check -> 1",
        4096,
    ),
    Vec(
        "42",
        "6.1",
        "X",
        "L1",
        "read 0x0",
        "ENXIO",
        "no /dev/mem in devlist -> -ENXIO",
        0,
        then=(("write 0x0", "ENXIO", ""), ("mmap 0x0 4096", "ENXIO", "")),
    ),
    Vec(
        "43",
        "6.11",
        "S",
        "L3",
        "write 0x490000000 1024",
        "EFAULT",
        "busy 'System RAM (kmem)' 0x490000000-0x50fffffff is RAM -> NULL ('ioremap on RAM')",
        0,
    ),
    Vec(
        "44-write",
        "6.12",
        "S",
        "L3",
        "write 0x490000000 1024",
        "EPERM",
        "[incl. descendants]: System RAM 'System RAM (kmem)' 0x490000000-0x50fffffff -> INTERSECTS",
        0,
    ),
    Vec(
        "44-read",
        "6.12",
        "S",
        "L3",
        "read 0x490000000 1024",
        "EPERM",
        "devmem_is_allowed(0x490000): System RAM (region_intersects() INTERSECTS) -> 0",
        0,
    ),
    Vec(
        "45",
        "6.11",
        "S",
        "L3",
        "mmap 0x490000000 4096",
        "OK",
        "devmem_is_allowed(0x490000): not RAM (region_intersects() DISJOINT), not exclusive -> 1",
        4096,
        "mapped m1",
        then=(("touch m1", "OK", "System RAM contents"),),
    ),
    Vec(
        "46",
        "6.11",
        "SI",
        "L3",
        "mmap 0x490000000 4096",
        "EPERM",
        "busy 'System RAM (kmem)' 0x490000000-0x50fffffff, IO_STRICT_DEVMEM=y -> true",
    ),
    Vec(
        "47",
        "6.1",
        "S",
        "L4",
        "read 0x09000000",
        "EFAULT",
        "valid_phys_addr_range(0x9000000, 0x1000) [arm64]: 0x9000000 is not in memblock memory",
        0,
        arch="arm64",
    ),
    Vec(
        "48",
        "6.1",
        "S",
        "L4",
        "read 0x40000000",
        "EPERM",
        "devmem_is_allowed(0x40000) [generic]: page_is_ram() -> 0",
        0,
        arch="arm64",
    ),
    Vec(
        "49",
        "6.1",
        "S",
        "L4",
        "mmap 0x09000000 4096",
        "OK",
        "devmem_is_allowed(0x9000) [generic]: not exclusive, not RAM -> 1",
        4096,
        arch="arm64",
    ),
    Vec(
        "50",
        "6.1",
        "SI",
        "L4",
        "mmap 0x09000000 4096",
        "EPERM",
        "busy '9000000.pl011' 0x9000000-0x9000fff, IO_STRICT_DEVMEM=y -> true",
        arch="arm64",
    ),
    Vec(
        "51",
        "6.1",
        "SR",
        "L4",
        "mmap 0x8008000000 4096",
        "EPERM",
        "'virtio0' 0x8000000000-0x80ffffffff is SYSTEM_RAM|EXCLUSIVE (5.16+",
        arch="arm64",
    ),
    Vec(
        "52",
        "5.15",
        "S",
        "L4-no-exclusive",
        "mmap 0x8008000000 4096",
        "OK",
        "devmem_is_allowed(0x8008000) [generic]: not exclusive, not RAM -> 1",
        4096,
        arch="arm64",
    ),
]


def build(layout: str, kernel: str, mode: str, arch: str) -> Machine:
    cfg = config(kernel, mode, arch)
    if layout == "L1-no-virtio":
        return l1(cfg, with_virtio=False)
    if layout == "L4-no-exclusive":
        return l4(cfg, virtio_exclusive=False)
    return LAYOUTS[layout](cfg)


def check(result_trace: list[str], want: str) -> None:
    assert any(want in line for line in result_trace), "\n".join(result_trace)


@pytest.mark.parametrize("vec", VECTORS, ids=[v.no for v in VECTORS])
def test_vector(vec: Vec) -> None:
    s = Session(build(vec.layout, vec.kernel, vec.mode, vec.arch))
    r = s.execute(vec.command)
    assert r is not None and r.ok, r and r.message
    assert r.outcome == vec.outcome, r.message
    if vec.nbytes is not None:
        assert r.data["nbytes"] == vec.nbytes
    check(r.trace, vec.trace)
    assert vec.message in r.message
    for cmd, outcome, msg in vec.then:
        r = s.execute(cmd)
        assert r is not None and r.ok, r and r.message
        assert r.outcome == outcome, (cmd, r.message)
        assert msg in r.message


def test_every_vector_is_covered() -> None:
    numbers = {v.no.split("-")[0] for v in VECTORS}
    assert numbers == {str(i) for i in range(1, 53)}


def test_vector_6_zero_and_data_pages() -> None:
    v = l1(config("6.1", "S")).read(0x0, 0x100000)
    assert v.zero_pages == [(0x1000, 0x9FFFF)]
    assert v.data_pages == [(0x0, 0xFFF), (0xA0000, 0xFFFFF)]


def test_vector_9_position_and_count() -> None:
    v = l1(config("6.1", "S")).read(0xFF000, 8192)
    assert v.nbytes == 0
    assert v.data_pages == [(0xFF000, 0xFFFFF)]  # copied into the buffer before the failure


def test_vector_30_write_happened() -> None:
    v = l1(config("6.1", "SI")).write(0xFDFFF000, 8192)
    assert v.outcome == "EPERM" and v.data_pages == [(0xFDFFF000, 0xFDFFFFFF)]


# ----------------------------------------------------------------------------- cheat sheet
CHEAT_ROWS = {
    # row: (addresses, values for S / SI / SIR)
    "RAM-typed, pfn >= 256": ([0x100000, 0x280000000, 0x288000000, 0x290000000], (0, 0, 0)),
    "RAM-typed, pfn < 256": ([0x1000, 0x9F000], (2, 2, 2)),
    "busy non-RAM, pfn >= 256": ([0xFE000000, 0xFEC00000, 0x7FFE0000], (1, 0, 1)),
    "busy + EXCLUSIVE non-RAM, pfn >= 256": ([0xFD000000], (0, 0, 1)),
    "busy or exclusive non-RAM, pfn < 256": ([0x0, 0xF0000, 0xC0000, 0xA0000], (1, 1, 1)),
    "only non-busy resources": ([0xFEBD0000, 0xC0000000, 0xFDFFF000], (1, 1, 1)),
    "no resource at all": ([0xFED00000, 0x200000000000], (1, 1, 1)),
}
CHEAT = [
    (row, mode, addr, values[i])
    for row, (addrs, values) in CHEAT_ROWS.items()
    for i, mode in enumerate(("S", "SI", "SIR"))
    for addr in addrs
]


def cheat_machine(mode: str) -> Machine:
    m = l2(config("6.1", mode))  # busy ACPI Tables at 0x7ffe0000
    # a busy exclusive claim inside the low PCI window (request_mem_region_exclusive)
    m.tree.request_region(0xA0000, 0x1000, "lowdrv", exclusive=True)
    return m


@pytest.mark.parametrize(
    ("row", "mode", "addr", "value"), CHEAT, ids=[f"{r}|{m}|{a:#x}" for r, m, a, _ in CHEAT]
)
def test_cheat_sheet(row: str, mode: str, addr: int, value: int) -> None:
    m = cheat_machine(mode)
    got, trace = policy.devmem_is_allowed(m, addr >> PAGE_SHIFT)
    assert got == value, trace
    assert trace[-1].endswith(f"-> {value}")


@pytest.mark.parametrize("mode", ["S", "SI", "SIR"])
def test_cheat_sheet_outcomes(mode: str) -> None:
    """value 0 -> read EPERM and mmap EPERM; 2 -> read ZEROS, write DROPPED, mmap OK."""
    m = cheat_machine(mode)
    s = Session(m)
    for _row, addr, value in [
        (r, a, v[("S", "SI", "SIR").index(mode)])
        for r, (addrs, v) in CHEAT_ROWS.items()
        for a in addrs
    ]:
        if addr + 4096 > m.high_memory:
            continue
        read = s.execute(f"read {addr:#x}")
        mm = s.execute(f"mmap {addr:#x} 4096")
        assert read is not None and mm is not None
        if value == 0:
            assert (read.outcome, mm.outcome) == ("EPERM", "EPERM"), read.message
        elif value == 2:
            w = s.execute(f"write {addr:#x}")
            assert w is not None
            assert (read.outcome, w.outcome, mm.outcome) == ("ZEROS", "DROPPED", "OK")
        else:
            assert (read.outcome, mm.outcome) == ("OK", "OK"), read.message


def test_cheat_sheet_no_strict_devmem() -> None:
    """STRICT_DEVMEM=n: every page is allowed for read (real data, even low-MiB RAM)."""
    m = l1(config("6.1", "N"))
    for addr in (0x1000, 0x100000, 0xFE000000, 0xFD000000, 0x290000000):
        v = m.read(addr, 4096)
        assert v.outcome == "OK", v.message
        assert any("CONFIG_STRICT_DEVMEM=n -> 1" in line for line in v.trace)


# ----------------------------------------------------------------------------- runs
def naive_read(m: Machine, addr: int, length: int) -> tuple[str, list[int], list[int], set[str]]:
    """read_mem() page by page without runs: (outcome, zero pfns, data pfns, data kinds)."""
    ok, _ = valid_phys_addr_range(m, addr, length)
    if not ok:
        return "EFAULT", [], [], set()
    zeros: list[int] = []
    data: list[int] = []
    kinds: set[str] = set()
    for pfn in range(addr >> PAGE_SHIFT, ((addr + length - 1) >> PAGE_SHIFT) + 1):
        value, _ = policy.page_is_allowed(m, pfn)
        if value == 0:
            return "EPERM", zeros, data, kinds
        if value == 2:
            zeros.append(pfn)
            continue
        at = max(addr, pfn << PAGE_SHIFT)
        x, _ = xlate_dev_mem_ptr(m, at)
        if x is Xlate.FAILED:
            return "EFAULT", zeros, data, kinds
        data.append(pfn)
        kinds.add(rw.data_kind(m, at, x))
    return ("OK" if data else "ZEROS"), zeros, data, kinds


def pfns(ranges: list[tuple[int, int]]) -> list[int]:
    return [p for a, b in ranges for p in range(a >> PAGE_SHIFT, (b >> PAGE_SHIFT) + 1)]


def spanning_machine(kernel: str, mode: str) -> Machine:
    """Resources that cross the 1 MiB line (so a run must stop at pfn 256 by itself)."""
    t = ResourceTree()
    t.add_child(t.root, Resource(0x0, 0x3FFFFFFF, "System RAM", SYSTEM_RAM | F.BUSY))
    t.add_child(t.root, Resource(0x40000000, 0x400FFFFF, "Reserved", F.MEM))
    rom = t.add_child(t.root, Resource(0x40100000, 0x401FFFFF, "ROM", F.MEM | F.BUSY))
    t.add_child(rom, Resource(0x40100000, 0x40100FFF, "part", F.MEM | F.BUSY))
    m = Machine(t, config(kernel, mode), name="spanning")
    m.high_memory = 0x40200000
    return m


INTERESTING = [
    0x0,
    0x9E000,
    0xF0000,
    0xFF000,
    0x7FFDE000,
    0xFCFFE000,
    0xFDFFE000,
    0xFEBCF000,
    0xFEBFE000,
    0x27FFFE000,
    0x287FFE000,
    0x28FFFE000,
    0x293FFE000,
    0x2941FE000,
]
SPANNING = [0x0, 0xF8000, 0xFE000, 0x3FFFE000, 0x400FE000]


CASES = [("L1", b) for b in INTERESTING] + [("spanning", b) for b in SPANNING]


@settings(max_examples=80, deadline=None)
@given(
    case=st.sampled_from(CASES),
    off=st.integers(0, 6 * PAGE_SIZE),
    length=st.integers(1, 12 * PAGE_SIZE),
    mode=st.sampled_from(["S", "SI", "N", "SR"]),
    kernel=st.sampled_from(["4.10", "4.14", "5.15", "6.1", "6.16"]),
)
@example(case=("spanning", 0xF8000), off=0, length=0x10000, mode="S", kernel="6.1")
@example(case=("spanning", 0xFE000), off=0x800, length=0x3000, mode="SR", kernel="4.14")
@example(case=("L1", 0x293FFE000), off=0, length=0x4000, mode="N", kernel="5.15")
@example(case=("L1", 0x9E000), off=0x10, length=0x2000, mode="N", kernel="6.1")
def test_runs_agree_with_page_by_page(
    case: tuple[str, int], off: int, length: int, mode: str, kernel: str
) -> None:
    """Deciding whole runs of alike pages gives what a page-by-page walk gives."""
    layout, base = case
    m = l1(config(kernel, mode)) if layout == "L1" else spanning_machine(kernel, mode)
    addr = base + off
    v = rw.read_mem(m, addr, length)
    outcome, zeros, data, kinds = naive_read(m, addr, length)
    if kernel == "4.10" and outcome == "EPERM":
        assert v.outcome == "EPERM"  # <= 4.10 fails before copying (range_is_allowed)
        return
    assert v.outcome == outcome, v.message
    assert pfns(v.zero_pages) == zeros
    assert pfns(v.data_pages) == data
    if outcome == "OK":  # the message names what real data each part of the call moved
        for kind in kinds:
            assert kind in v.message, (kind, v.message)
