"""/proc/iomem text: render as r_show prints it, parse with flag inference and annotations,
round trips (fixed and hypothesis), input tolerance, size limits and speed."""

from __future__ import annotations

import importlib.resources
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devmem_tui import files
from devmem_tui.engine import presets
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.text import infer_flags, parse, render
from devmem_tui.engine.iomem.tree import (
    DESCS,
    SYSTEM_RAM,
    F,
    Resource,
    ResourceTree,
)
from devmem_tui.engine.units import ADDR_MAX

REAL_Q35 = Path(__file__).parent / "fixtures" / "q35-guest-iomem.txt"
# The package's preset files, found where the presets module finds them (a wrong folder would
# leave the round-trip test with no cases: test_every_preset_file_is_checked guards that).
PRESET_DIR = Path(str(importlib.resources.files("devmem_tui") / "presets"))
PRESET_FILES = sorted(p.stem for p in PRESET_DIR.glob("*.iomem"))

MEM = F.MEM
MEM_BUSY = F.MEM | F.BUSY
RAM_BUSY = SYSTEM_RAM | F.BUSY
DRIVER_RAM = RAM_BUSY | F.SYSRAM_DRIVER_MANAGED


def shape(tree: ResourceTree) -> list[tuple[int, int, int, str, int, str]]:
    """Everything that makes two trees identical: order, nesting, ranges, names, flags, desc."""
    return [(d, r.start, r.end, r.name, int(r.flags), r.desc) for d, r in tree.walk()]


def build(spec: list[tuple[int, int, int, str, F, str]]) -> ResourceTree:
    """A tree from (depth, start, end, name, flags, desc) rows in /proc/iomem order."""
    tree = ResourceTree()
    stack: list[Resource] = []
    for depth, start, end, name, flags, desc in spec:
        del stack[depth:]
        parent = stack[-1] if stack else tree.root
        stack.append(tree.add_child(parent, Resource(start, end, name, flags, desc)))
    return tree


def by_name(tree: ResourceTree, name: str) -> Resource:
    found = tree.find(name)
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


# ------------------------------------------------------------------------------- render


def test_render_matches_r_show_format() -> None:
    tree = build(
        [
            (0, 0x0, 0xFFF, "Reserved", MEM_BUSY, "reserved"),
            (0, 0x100000, 0x7FFDFFFF, "System RAM", RAM_BUSY, "none"),
            (1, 0x1000000, 0x1FFFFFF, "Kernel code", RAM_BUSY, "none"),
            (0, 0x140000000, 0x53FFFFFFF, "virtio0", SYSTEM_RAM, "none"),
            (1, 0x140000000, 0x147FFFFFF, "System RAM (virtio_mem)", DRIVER_RAM, "none"),
            (0, 0xFD00000000, ADDR_MAX, "top", MEM, "none"),
        ]
    )
    assert render(tree) == (
        "00000000-00000fff : Reserved\n"
        "00100000-7ffdffff : System RAM\n"
        "  01000000-01ffffff : Kernel code\n"
        "140000000-53fffffff : virtio0\n"
        "  140000000-147ffffff : System RAM (virtio_mem)\n"
        "fd00000000-ffffffffffffffff : top\n"
    )


def test_render_empty_tree_is_empty_text() -> None:
    assert render(ResourceTree()) == ""


def test_render_caps_indentation_at_max_iores_level() -> None:
    # r_show stops counting depth at MAX_IORES_LEVEL (5): deeper lines print at depth 5.
    spec = [(d, 0x1000 * d, 0xFFFFF - d, f"level{d}", MEM_BUSY, "none") for d in range(8)]
    tree = build(spec)
    lines = render(tree).splitlines()
    indents = [len(line) - len(line.lstrip(" ")) for line in lines]
    assert indents == [0, 2, 4, 6, 8, 10, 10, 10]
    # ...and parse puts the capped lines back where they were (containment decides).
    assert shape(parse(render(tree, flags=True))) == shape(tree)
    assert shape(parse(render(tree))) == [
        (d, s, e, n, int(MEM_BUSY), "none") for d, s, e, n, _f, _x in spec
    ]


def test_parse_resolves_capped_depth_siblings_and_returns() -> None:
    text = (
        "00000000-000fffff : a\n"
        "  00000000-000fffff : b\n"
        "    00000000-000fffff : c\n"
        "      00000000-000fffff : d\n"
        "        00000000-000fffff : e\n"
        "          00000000-0000ffff : f5\n"
        "          00000000-00000fff : g6\n"
        "          00001000-00001fff : h6\n"
        "          00010000-0001ffff : i5\n"
    )
    tree = parse(text)
    depths = {r.name: d for d, r in tree.walk()}
    assert depths == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f5": 5, "g6": 6, "h6": 6, "i5": 5}
    assert render(tree) == text


def test_annotation_round_trips_every_flag_and_desc() -> None:
    rows = []
    addr = 0
    members = [
        F.MEM,
        F.READONLY,
        F.SYSRAM,
        F.SYSRAM_DRIVER_MANAGED,
        F.SYSRAM_MERGEABLE,
        F.EXCLUSIVE,
        F.BUSY,
    ]
    for i in range(1 << len(members)):
        fl = F(0)
        for bit, m in enumerate(members):
            if i >> bit & 1:
                fl |= m
        desc = DESCS[i % len(DESCS)]
        rows.append((0, addr, addr + 0xFFF, f"r{i}", fl, desc))
        addr += 0x1000
    tree = build(rows)
    text = render(tree, flags=True)
    assert shape(parse(text)) == shape(tree)
    line = {r.name: iomem_text.annotation(r) for _, r in tree.walk()}
    assert len(DESCS) == 8 and DESCS[1] == "acpi_tables"
    assert line["r0"] == "[-mem]"  # nothing at all
    assert line["r8"] == "[-mem driver_managed]"
    assert line["r1"] == "[desc=acpi_tables]"  # MEM is implied
    assert line["r65"] == "[busy desc=acpi_tables]"  # 65 = MEM (bit 0) + BUSY (bit 6)


@pytest.mark.parametrize(
    ("flags", "desc", "annotation"),
    [
        (MEM, "none", "[mem]"),
        (MEM_BUSY, "none", "[busy]"),
        (MEM_BUSY | F.EXCLUSIVE, "none", "[busy exclusive]"),
        (RAM_BUSY, "none", "[busy sysram]"),
        (SYSTEM_RAM | F.EXCLUSIVE, "none", "[exclusive sysram]"),
        (DRIVER_RAM | F.SYSRAM_MERGEABLE, "none", "[busy sysram driver_managed mergeable]"),
        (MEM_BUSY | F.READONLY, "none", "[busy readonly]"),
        (MEM, "soft_reserved", "[desc=soft_reserved]"),
        (MEM_BUSY, "acpi_tables", "[busy desc=acpi_tables]"),
        (F.BUSY, "none", "[-mem busy]"),
    ],
)
def test_annotation_words(flags: F, desc: str, annotation: str) -> None:
    res = Resource(0x1000, 0x1FFF, "x", flags, desc)
    assert iomem_text.annotation(res) == annotation
    tree = parse(f"00001000-00001fff : x {annotation}\n")
    r = by_name(tree, "x")
    assert (r.flags, r.desc) == (flags, desc)


def test_render_range_shows_overlapping_resources_with_ancestors() -> None:
    text = REAL_Q35.read_text()
    tree = parse(text)
    assert render(tree, 0xFE000000, 0xFE000FFF) == (
        "c0000000-febfffff : PCI Bus 0000:00\n"
        "  fe000000-fe003fff : 0000:00:03.0\n"
        "    fe000000-fe003fff : virtio-pci-modern\n"
    )
    # A range touching two top-level resources and a child of one of them.
    assert render(tree, 0x9F000, 0xA0000) == (
        "00001000-0009fbff : System RAM\n"
        "0009fc00-0009ffff : Reserved\n"
        "000a0000-000bffff : PCI Bus 0000:00\n"
    )
    # Children outside the range are left out even though their parent is shown.
    assert render(tree, 0x100000, 0x100FFF) == "00100000-7ffdefff : System RAM\n"
    assert render(tree, 0x200000000, 0x23FFFFFFF) == ""


# ------------------------------------------------------------------------------- inference


def _parent(name: str, flags: F, desc: str = "none") -> Resource:
    return Resource(0, ADDR_MAX, name, flags, desc)


BAR = _parent("0000:00:03.0", MEM)
RAM = _parent("System RAM", RAM_BUSY)
WINDOW = _parent("PCI Bus 0000:00", MEM)
RESERVED_HI = _parent("Reserved", MEM, "reserved")
PL011 = _parent("pl011@9000000", MEM)
BUSY_CLAIM = _parent("IOAPIC 0", MEM_BUSY)


@pytest.mark.parametrize(
    ("name", "start", "parent", "flags", "desc"),
    [
        ("System RAM", 0x1000, None, RAM_BUSY, "none"),
        ("System RAM", 0x100000000, None, RAM_BUSY, "none"),
        ("Reserved", 0x0, None, MEM_BUSY, "reserved"),
        ("Reserved", 0x9FC00, None, MEM_BUSY, "reserved"),  # below 1 MiB: do_mark_busy
        ("Reserved", 0x100000, None, MEM, "reserved"),  # at 1 MiB: not busy
        ("Reserved", 0x7FFE0000, None, MEM, "reserved"),
        (
            "Reserved",
            0xB0000000,
            _parent("PCI MMCONFIG 0000 [bus 00-ff]", MEM_BUSY),
            MEM,
            "reserved",
        ),
        ("Soft Reserved", 0x480000000, None, MEM, "soft_reserved"),
        ("Persistent Memory", 0x510000000, None, MEM, "persistent_memory"),
        ("Persistent Memory (legacy)", 0x510000000, None, MEM, "persistent_memory_legacy"),
        ("Persistent Memory", 0x80000, None, MEM_BUSY, "persistent_memory"),
        ("ACPI Tables", 0x7FFE0000, None, MEM_BUSY, "acpi_tables"),
        ("ACPI Non-volatile Storage", 0x5F7FF000, None, MEM_BUSY, "acpi_nv_storage"),
        ("Unusable memory", 0x5F7FF000, None, MEM_BUSY, "none"),
        ("Kernel code", 0x1000000, RAM, RAM_BUSY, "none"),
        ("Kernel bss", 0x1000000, RAM, RAM_BUSY, "none"),
        ("Crash kernel", 0x1000000, RAM, RAM_BUSY, "none"),
        ("Video ROM", 0xC0000, None, MEM_BUSY | F.READONLY, "none"),
        ("Adapter ROM", 0xCA000, None, MEM_BUSY | F.READONLY, "none"),
        ("System ROM", 0xF0000, _parent("Reserved", MEM_BUSY), MEM_BUSY | F.READONLY, "none"),
        ("Video RAM area", 0xA0000, None, MEM_BUSY, "none"),
        ("PCI Bus 0000:00", 0xC0000000, None, MEM, "none"),
        ("PCI Bus 0000:01", 0xC0000000, WINDOW, MEM, "none"),
        ("0000:00:02.0", 0xFD000000, WINDOW, MEM, "none"),
        ("0000:05:00.1", 0x38000800000, WINDOW, MEM, "none"),
        ("virtio-pci-modern", 0xFE000000, BAR, MEM_BUSY, "none"),
        ("ahci", 0xFEBD5000, BAR, MEM_BUSY, "none"),
        ("nvme", 0x92000000, BAR, MEM_BUSY, "none"),
        ("IOAPIC 0", 0xFEC00000, None, MEM_BUSY, "none"),
        ("HPET 0", 0xFED00000, None, MEM_BUSY, "none"),
        ("PNP0103:00", 0xFED00000, BUSY_CLAIM, MEM_BUSY, "none"),
        ("Local APIC", 0xFEE00000, None, MEM_BUSY, "none"),
        ("pnp 00:05", 0xB0000000, RESERVED_HI, MEM_BUSY, "reserved"),  # desc inherited
        ("pnp 00:00", 0xFD000000, WINDOW, MEM_BUSY, "none"),
        ("PCI MMCONFIG 0000 [bus 00-ff]", 0xB0000000, None, MEM_BUSY, "none"),
        ("virtio0", 0x140000000, None, SYSTEM_RAM, "none"),
        ("virtio12", 0x140000000, None, SYSTEM_RAM, "none"),
        (
            "System RAM (virtio_mem)",
            0x140000000,
            _parent("virtio0", SYSTEM_RAM),
            DRIVER_RAM | F.SYSRAM_MERGEABLE,
            "none",
        ),
        ("System RAM (kmem)", 0x490000000, _parent("dax0.0", SYSTEM_RAM), DRIVER_RAM, "none"),
        ("System RAM (foo)", 0x490000000, None, DRIVER_RAM, "none"),
        ("CXL Window 0", 0x490000000, None, MEM, "cxl"),
        ("region0", 0x490000000, _parent("CXL Window 0", MEM), MEM, "none"),
        ("dax0.0", 0x490000000, _parent("region0", MEM), SYSTEM_RAM, "none"),
        (
            "namespace0.0",
            0x510000000,
            _parent("Persistent Memory", MEM, "persistent_memory"),
            MEM_BUSY,
            "persistent_memory",
        ),
        ("GICD", 0x8000000, None, MEM_BUSY, "none"),
        ("PCI ECAM", 0x4010000000, None, MEM_BUSY, "none"),
        ("pl011@9000000", 0x9000000, None, MEM, "none"),
        ("pcie@10000000", 0x10000000, None, MEM, "none"),
        ("9000000.pl011 pl011@9000000", 0x9000000, PL011, MEM_BUSY, "none"),
        ("0000:00:01.0", 0x10000000, _parent("pcie@10000000", MEM), MEM, "none"),
        ("dmar0", 0xFED90000, None, MEM_BUSY, "none"),  # unknown at top level: busy
        ("a000000.virtio_mmio virtio_mmio@a000000", 0xA000000, None, MEM_BUSY, "none"),
        ("iTCO_wdt", 0xFED1F410, RESERVED_HI, MEM_BUSY, "reserved"),  # a claim in Reserved
        ("mystery", 0xC0000000, WINDOW, MEM, "none"),  # a device resource in a bus window
    ],
)
def test_infer_flags(name: str, start: int, parent: Resource | None, flags: F, desc: str) -> None:
    assert infer_flags(name, start, parent) == (flags, desc)


def test_parse_infers_like_the_reference_layout() -> None:
    tree = parse(REAL_Q35.read_text(), "q35")
    assert by_name(tree, "virtio-pci-modern").flags == MEM_BUSY
    assert by_name(tree, "0000:00:03.0").flags == MEM
    pnp = by_name(tree, "pnp 00:05")
    assert (pnp.flags, pnp.desc) == (MEM_BUSY, "reserved")
    assert by_name(tree, "virtio0").flags == SYSTEM_RAM
    assert by_name(tree, "System RAM (virtio_mem)").flags == DRIVER_RAM | F.SYSRAM_MERGEABLE
    assert by_name(tree, "Kernel code").flags == RAM_BUSY
    reserved = {r.start: r for r in tree.find("Reserved")}
    assert reserved[0x0].flags == MEM_BUSY and reserved[0x9FC00].flags == MEM_BUSY
    assert reserved[0x7FFDF000].flags == MEM and reserved[0xB0000000].flags == MEM
    assert all(r.desc == "reserved" for r in reserved.values())


def test_annotation_overrides_inference_exactly() -> None:
    text = (
        "00100000-7ffdffff : System RAM [mem]\n"
        "fd000000-fd0fffff : 0000:00:04.0\n"
        "  fd000000-fd0fffff : exdrv [busy exclusive]\n"
        "140000000-53fffffff : virtio0 [exclusive sysram]\n"
        "540000000-540000fff : Reserved [busy]\n"
    )
    tree = parse(text)
    assert by_name(tree, "System RAM").flags == MEM
    assert by_name(tree, "exdrv").flags == MEM_BUSY | F.EXCLUSIVE
    assert by_name(tree, "virtio0").flags == SYSTEM_RAM | F.EXCLUSIVE
    reserved = by_name(tree, "Reserved")
    assert (reserved.flags, reserved.desc) == (MEM_BUSY, "none")  # desc overridden too


def test_brackets_that_are_not_an_annotation_stay_in_the_name() -> None:
    tree = parse("b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]\n")
    r = by_name(tree, "PCI MMCONFIG 0000 [bus 00-ff]")
    assert r.flags == MEM_BUSY
    annotated = parse("b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff] [mem]\n")
    assert by_name(annotated, "PCI MMCONFIG 0000 [bus 00-ff]").flags == MEM


# ------------------------------------------------------------------------------- tolerance


def test_crlf_cr_trailing_spaces_comments_blank_lines_and_bom() -> None:
    plain = REAL_Q35.read_text()
    expected = shape(parse(plain))
    crlf = "\ufeff# saved on a Windows box\r\n\r\n" + plain.replace("\n", "  \t\r\n")
    assert shape(parse(crlf)) == expected
    assert shape(parse(plain.replace("\n", "\r"))) == expected
    commented = "".join(f"{line}\n   # note\n\n" for line in plain.splitlines())
    assert shape(parse(commented)) == expected


def test_tabs_uppercase_hex_and_loose_separator() -> None:
    text = (
        "00100000-7FFDFFFF\t:\tSystem RAM\n"
        "\t01000000-01ffffff : Kernel code\n"
        "C0000000-FEBFFFFF:PCI Bus 0000:00\n"
        "\tFE000000-FE003FFF :  0000:00:03.0\n"
        "\t\tfe000000-fe003fff : virtio-pci-modern\n"
    )
    tree = parse(text)
    assert render(tree) == (
        "00100000-7ffdffff : System RAM\n"
        "  01000000-01ffffff : Kernel code\n"
        "c0000000-febfffff : PCI Bus 0000:00\n"
        "  fe000000-fe003fff : 0000:00:03.0\n"
        "    fe000000-fe003fff : virtio-pci-modern\n"
    )


def test_names_keep_inner_spaces_colons_and_unicode() -> None:
    text = "00001000-00001fff : a : b  c\n00002000-00002fff : ünïcode 0000:00:01.0\n"
    tree = parse(text)
    assert [r.name for _, r in tree.walk()] == ["a : b  c", "ünïcode 0000:00:01.0"]
    assert render(tree) == text


# ------------------------------------------------------------------------------- round trips


def test_real_q35_file_round_trips_exactly() -> None:
    text = REAL_Q35.read_text()
    tree = parse(text, str(REAL_Q35))
    tree.check()
    tree.index.verify()
    assert render(tree) == text
    assert shape(parse(render(tree, flags=True))) == shape(tree)


def test_every_preset_file_is_checked() -> None:
    assert set(PRESET_FILES) >= set(presets.PRESETS)


@pytest.mark.parametrize("name", PRESET_FILES)
def test_preset_files_round_trip(name: str) -> None:
    text = (PRESET_DIR / f"{name}.iomem").read_text()
    tree = parse(text, name)
    tree.check()
    kernel_text = "".join(
        line + "\n" for line in text.splitlines() if line and not line.startswith("#")
    )
    # Plain kernel text comes back exactly (annotations and comments are not kernel text).
    if "[" not in kernel_text.replace("[bus 00-ff]", ""):
        assert render(tree) == kernel_text
    assert shape(parse(render(tree, flags=True))) == shape(tree)


def test_parsed_tree_supports_kernel_operations() -> None:
    tree = parse(REAL_Q35.read_text())
    res = tree.request_region(0xFEBD0000, 0x1000, "newdrv")
    assert res.parent is not None and res.parent.name == "0000:00:02.0"
    tree.release_region(0xFEBD0000, 0x1000)
    tree.check()
    tree.index.verify()
    assert [r.name for r in tree.overlapping(0xFED00000, 0xFED00000)] == ["HPET 0", "PNP0103:00"]


_NAME_CHARS = st.sampled_from(list("abcXYZ019 :._-()@/#[]ü"))


def _names(plain: bool) -> st.SearchStrategy[str]:
    chars = st.sampled_from(list("abcXYZ019 :._-()@/#ü")) if plain else _NAME_CHARS
    return st.text(chars, min_size=1, max_size=12).map(str.strip).filter(bool)


_FLAGS = st.sets(
    st.sampled_from(
        [
            F.MEM,
            F.READONLY,
            F.SYSRAM,
            F.SYSRAM_DRIVER_MANAGED,
            F.SYSRAM_MERGEABLE,
            F.EXCLUSIVE,
            F.BUSY,
        ]
    )
)


@st.composite
def trees(draw: st.DrawFn, plain: bool = False) -> ResourceTree:
    """Random well-nested trees: up to 40 resources, up to 8 levels (past the r_show cap),
    ranges anywhere in 64 bits, children equal to their parent now and then."""
    tree = ResourceTree()
    budget = [draw(st.integers(1, 40))]
    big = draw(st.booleans())
    hi_top = ADDR_MAX if big else 0xFFFFF

    def fill(parent: Resource, lo: int, hi: int, depth: int) -> None:
        if depth > 7 or budget[0] <= 0 or lo > hi:
            return
        span = hi - lo + 1
        n = draw(st.integers(1 if depth == 0 else 0, min(3 if depth < 2 else 2, span // 2)))
        if n and draw(st.integers(0, 4)) == 0:
            bounds = [lo, hi]  # one child exactly as large as its parent
        else:
            pts = draw(
                st.lists(st.integers(0, span - 1), min_size=2 * n, max_size=2 * n, unique=True)
            )
            bounds = sorted(lo + p for p in pts)
        for a, b in zip(bounds[::2], bounds[1::2], strict=True):
            if budget[0] <= 0:
                return
            budget[0] -= 1
            fl = F(0)
            for bit in draw(_FLAGS):
                fl |= bit
            res = Resource(a, b, draw(_names(plain)), fl, draw(st.sampled_from(DESCS)))
            tree.add_child(parent, res)
            fill(res, a, b, depth + 1)

    fill(tree.root, 0, hi_top, 0)
    return tree


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_hypothesis_render_parse_gives_identical_tree(tree: ResourceTree) -> None:
    text = render(tree, flags=True)
    back = parse(text)
    assert shape(back) == shape(tree)
    back.check()
    back.index.verify()
    assert render(back, flags=True) == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(plain=True))
def test_hypothesis_parse_render_gives_identical_text(tree: ResourceTree) -> None:
    text = render(tree)
    if not text:
        return
    back = parse(text)
    assert render(back) == text
    # Without annotations the structure still comes back; only flags are re-inferred.
    assert [s[:4] for s in shape(back)] == [s[:4] for s in shape(tree)]


# ------------------------------------------------------------------------------- size, speed


def _big_text(target: int) -> str:
    """Realistic lines: a virtio-mem region with merged RAM and sub-claims, repeated."""
    parts: list[str] = []
    size, addr, i = 0, 0x100000000, 0
    while size < target:
        chunk = (
            f"{addr:08x}-{addr + 0x7FFFFFF:08x} : virtio{i}\n"
            f"  {addr:08x}-{addr + 0x3FFFFFF:08x} : System RAM (virtio_mem)\n"
            f"  {addr + 0x4000000:08x}-{addr + 0x4000FFF:08x} : 0000:00:{i % 32:02x}.0\n"
            f"    {addr + 0x4000000:08x}-{addr + 0x4000FFF:08x} : virtio-pci-modern\n"
        )
        parts.append(chunk)
        size += len(chunk)
        addr += 0x8000000
        i += 1
    return "".join(parts)


def test_twenty_megabyte_file_parses_in_linear_time(tmp_path: Path) -> None:
    path = tmp_path / "big-iomem.txt"
    text = _big_text(20 * 1024 * 1024)
    path.write_text(text)
    assert path.stat().st_size >= 20 * 1024 * 1024
    lines = text.count("\n")
    del text
    t0 = time.perf_counter()
    tree = files.load_iomem(str(path))
    elapsed = time.perf_counter() - t0
    assert len(tree) == lines
    # Linear parsing takes ~10 s here on a slow core; anything quadratic takes hours.
    assert elapsed < 90, f"parsing {lines} lines took {elapsed:.1f}s"
    last = tree.root.children[-1]
    assert last.name.startswith("virtio") and last.children[1].children[0].busy
    assert tree.chain_at(last.start + 0x4000000)[-1].name == "virtio-pci-modern"


def test_files_over_64_mib_are_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as fh:  # sparse: no 64 MiB written to disk
        fh.truncate(64 * 1024 * 1024 + 1)
    with pytest.raises(DevmemError, match=r"huge\.txt: file is 64 MiB, more than the 64 MiB"):
        files.load_iomem(str(path))


def test_exactly_64_mib_limit_applies_to_text_too() -> None:
    class Huge(str):
        def __len__(self) -> int:
            return 64 * 1024 * 1024 + 1

    with pytest.raises(DevmemError, match="more than the 64 MiB limit"):
        parse(Huge("00000000-00000fff : x\n"), "big")


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DevmemError, match=r"nope\.txt: cannot read: No such file"):
        files.load_iomem(str(tmp_path / "nope.txt"))
    if os.geteuid() != 0:  # root reads anything
        p = tmp_path / "secret.txt"
        p.write_text("00000000-00000fff : x\n")
        p.chmod(0)
        with pytest.raises(DevmemError, match="Permission denied"):
            files.load_iomem(str(p))


@pytest.mark.parametrize(
    ("name", "bad"),
    [("A\\xZZ", "\\xZZ"), ("A\\q", "\\q"), ("tail\\", "\\"), ("u\\u12", "\\u12")],
)
def test_a_bad_escape_in_an_annotated_name_is_an_error(name: str, bad: str) -> None:
    """encode_name writes \\xHH, \\uHHHH and \\\\ only: any other backslash in an annotated
    name is a damaged file, said in one line, not a name kept as written."""
    with pytest.raises(DevmemError) as e:
        parse(f"00000000-00000fff : {name} [busy]\n", "x.iomem")
    assert str(e.value).startswith(f"x.iomem:1: bad escape '{bad}' in an annotated name")


def test_escaped_backslashes_before_x_are_not_escapes() -> None:
    tree = parse("00000000-00000fff : B\\\\xZZ [busy]\n", "x.iomem")
    assert tree.root.children[0].name == "B\\xZZ"
