"""Built-in presets: data files, what each layout must contain, build() and from_iomem()."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devmem_tui.engine import presets
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, Resource, ResourceTree
from devmem_tui.engine.machine import Machine

PRESET_DIR = Path(presets.__file__).resolve().parent.parent / "presets"
NAMES = ["qemu-x86-virtio-mem", "arm64-virt", "qemu-x86", "server-cxl"]
MEM = F.MEM
MEM_BUSY = F.MEM | F.BUSY
RAM_BUSY = SYSTEM_RAM | F.BUSY


def boot_tree(name: str) -> ResourceTree:
    """The preset's map before any device probes (straight from the .iomem file)."""
    return iomem_text.parse(presets.iomem_text_of(name), name)


def one(tree: ResourceTree, name: str, start: int | None = None) -> Resource:
    found = [r for r in tree.find(name) if start is None or r.start == start]
    assert len(found) == 1, (name, found)
    return found[0]


def chain(tree: ResourceTree, addr: int) -> list[tuple[str, int, int, F]]:
    return [(r.name, r.start, r.end, r.flags) for r in tree.chain_at(addr)]


# ----------------------------------------------------------------------------- the data files


def test_presets_dict_lists_every_preset_default_first() -> None:
    assert list(presets.PRESETS) == NAMES
    assert presets.DEFAULT == NAMES[0]
    assert all(len(d) > 20 for d in presets.PRESETS.values())
    assert {p.stem for p in PRESET_DIR.glob("*.json")} == set(NAMES)
    assert {p.stem for p in PRESET_DIR.glob("*.iomem")} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_json_metadata_is_complete(name: str) -> None:
    meta: dict[str, Any] = json.loads((PRESET_DIR / f"{name}.json").read_text())
    assert meta["arch"] in ("x86_64", "arm64")
    assert meta["description"] == presets.PRESETS[name]
    assert meta["source"]
    for dev in meta["devices"]:
        assert set(dev) == {"name", "addr", "region_size", "block_size", "requested_size", "index"}
    info = presets.info(name)
    assert len(info.devices) == len(meta["devices"])


@pytest.mark.parametrize("name", NAMES)
def test_iomem_file_cites_its_sources_and_parses(name: str) -> None:
    text = presets.iomem_text_of(name)
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("Where the facts come from" in line for line in header)
    tree = boot_tree(name)
    tree.check()
    assert len(tree) > 15


@pytest.mark.parametrize("name", NAMES)
def test_device_regions_are_holes_at_boot_and_fit_the_machine(name: str) -> None:
    tree = boot_tree(name)
    for dev in presets.info(name).devices:
        end = dev.addr + dev.region_size - 1
        assert tree.overlapping(dev.addr, end) == [], "the driver creates virtioN at probe"
        assert dev.region_size % dev.block_size == 0 and dev.addr % dev.block_size == 0
        assert dev.requested_size <= dev.region_size
        assert end < 1 << KernelConfig().phys_bits


# ----------------------------------------------------------------------------- layouts


def test_qemu_x86_virtio_mem_layout() -> None:
    t = boot_tree("qemu-x86-virtio-mem")
    ram = [(r.start, r.end) for r in t.root.children if r.name == "System RAM"]
    assert ram == [(0x1000, 0x9FBFF), (0x100000, 0xBFFDFFFF), (0x100000000, 0x13FFFFFFF)]
    assert all(r.flags == RAM_BUSY for r in t.find("System RAM"))
    kernel = [c.name for c in one(t, "System RAM", 0x100000).children]
    assert kernel == ["Kernel code", "Kernel rodata", "Kernel data", "Kernel bss"]
    assert chain(t, 0xFE000000) == [
        ("PCI Bus 0000:00", 0xC0000000, 0xFEBFFFFF, MEM),
        ("0000:00:04.0", 0xFE000000, 0xFE003FFF, MEM),
        ("virtio-pci-modern", 0xFE000000, 0xFE003FFF, MEM_BUSY),
    ]
    bar = one(t, "0000:00:02.0", 0xFEBD0000)
    assert (bar.end, bar.flags, bar.children) == (0xFEBD0FFF, MEM, ())  # no driver
    assert t.chain_at(0xFEB80000)[-1].flags == MEM_BUSY | F.EXCLUSIVE  # e1000e
    for name in ("IOAPIC 0", "HPET 0", "Local APIC"):
        assert one(t, name).flags == MEM_BUSY
    assert one(t, "Video ROM").flags == MEM_BUSY | F.READONLY
    assert one(t, "Reserved", 0x0).flags == MEM_BUSY
    assert one(t, "Reserved", 0xBFFE0000).flags == MEM  # >= 1 MiB: not busy
    hole64 = one(t, "PCI Bus 0000:00", 0x540000000)
    assert hole64.end == 0x5BFFFFFFF  # right after the 16 GiB device region
    dev = presets.info("qemu-x86-virtio-mem").devices
    assert [
        (d.name, d.addr, d.region_size, d.block_size, d.requested_size, d.index) for d in dev
    ] == [("vmem0", 0x140000000, 0x400000000, 0x200000, 0, 0)]


def test_qemu_x86_is_the_same_machine_without_virtio_mem() -> None:
    with_vmem = iomem_text.render(boot_tree("qemu-x86-virtio-mem"), flags=True)
    without = iomem_text.render(boot_tree("qemu-x86"), flags=True)
    assert with_vmem == without
    assert presets.info("qemu-x86").devices == ()
    m = Machine.from_preset("qemu-x86")
    assert m.vmem == {} and m.tree.chain_at(0x140000000) == []


def test_arm64_virt_layout() -> None:
    t = boot_tree("arm64-virt")
    assert presets.info("arm64-virt").arch == "arm64"
    assert chain(t, 0x9000000) == [
        ("pl011@9000000", 0x9000000, 0x9000FFF, MEM),
        ("9000000.pl011 pl011@9000000", 0x9000000, 0x9000FFF, MEM_BUSY),
    ]
    assert one(t, "GICD").flags == MEM_BUSY and one(t, "GICR").start == 0x80A0000
    assert one(t, "System RAM").start == 0x40000000
    assert one(t, "System RAM").end == 0x13FFFFFFF
    assert t.chain_at(0x8000000000)[0].name == "pcie@10000000"
    assert t.chain_at(0x8000000000)[-1].flags == MEM_BUSY  # virtio-pci-modern
    assert one(t, "PCI ECAM").flags == MEM_BUSY
    dev = presets.info("arm64-virt").devices[0]
    # QEMU virt_set_memmap: device memory at ROUND_UP(0x40000000 + 4 GiB, 1 GiB).
    assert (dev.addr, dev.region_size, dev.block_size) == (0x140000000, 16 << 30, 2 << 20)


def test_server_cxl_layout() -> None:
    t = boot_tree("server-cxl")
    assert chain(t, 0x490000000) == [
        ("CXL Window 0", 0x490000000, 0x50FFFFFFF, MEM),
        ("region0", 0x490000000, 0x50FFFFFFF, MEM),
        ("dax0.0", 0x490000000, 0x50FFFFFFF, SYSTEM_RAM),
        ("System RAM (kmem)", 0x490000000, 0x50FFFFFFF, RAM_BUSY | F.SYSRAM_DRIVER_MANAGED),
    ]
    assert one(t, "CXL Window 0").desc == "cxl"
    acpi = one(t, "ACPI Tables")
    assert (acpi.flags, acpi.desc) == (MEM_BUSY, "acpi_tables")
    nvs = one(t, "ACPI Non-volatile Storage")
    assert (nvs.flags, nvs.desc) == (MEM_BUSY, "acpi_nv_storage")
    soft = one(t, "Soft Reserved")
    assert (soft.flags, soft.desc) == (MEM, "soft_reserved")
    pmem = one(t, "Persistent Memory")
    assert (pmem.flags, pmem.desc) == (MEM, "persistent_memory")
    ns = one(t, "namespace0.0")
    assert (ns.flags, ns.desc) == (MEM_BUSY, "persistent_memory")
    numa = [
        (r.start, r.end) for r in t.root.children if r.name == "System RAM" and r.start >= 1 << 32
    ]
    assert numa == [(0x100000000, 0x27FFFFFFF), (0x280000000, 0x47FFFFFFF)]
    for drv in ("nvme", "igb", "i40e"):
        for claim in t.find(drv):
            assert claim.busy and claim.parent is not None and not claim.parent.busy
    m = Machine.from_preset("server-cxl")
    assert m.high_memory == 0x510000000  # the kmem RAM is busy System RAM


# ----------------------------------------------------------------------------- build


@pytest.mark.parametrize("name", NAMES)
def test_build_gives_a_consistent_fresh_machine(name: str) -> None:
    m = Machine.from_preset(name)
    m.tree.check()
    assert m.name == name
    assert m.config.arch == presets.info(name).arch
    assert m.mappings == {} and m.clock == 0.0
    assert m.events == []
    assert sorted(m.vmem) == sorted(d.name for d in presets.info(name).devices)


def test_build_sets_arch_and_keeps_the_rest_of_a_copied_config() -> None:
    cfg = KernelConfig()
    cfg.set("kernel", "5.15")
    cfg.set("io_strict_devmem", "on")
    cfg.set("iomem", "relaxed")
    m = Machine.from_preset("arm64-virt", cfg)
    assert m.config.arch == "arm64"
    assert (m.config.kernel, m.config.io_strict_devmem, m.config.iomem) == (
        "5.15.0",
        True,
        "relaxed",
    )
    assert cfg.arch == "x86_64" and m.config is not cfg  # the caller's config is untouched
    assert Machine.from_preset("qemu-x86", cfg).config.kernel == "5.15.0"


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(DevmemError) as info:
        Machine.from_preset("qemu-arm")
    msg = str(info.value)
    assert "unknown machine preset 'qemu-arm'" in msg
    assert all(n in msg for n in NAMES) and "\n" not in msg


def test_build_adds_each_device_with_the_json_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from devmem_tui.engine.virtio_mem import driver as vmem_driver

    calls: list[dict[str, Any]] = []

    def fake_add_device(machine: Machine, **kw: Any) -> None:
        assert isinstance(machine, Machine) and machine.config.arch == "arm64"
        calls.append(kw)

    monkeypatch.setattr(vmem_driver, "add_device", fake_add_device)
    Machine.from_preset("arm64-virt")
    assert calls == [
        {
            "name": "vmem0",
            "addr": 0x140000000,
            "region_size": 0x400000000,
            "block_size": 0x200000,
            "requested_size": 0,
            "index": 0,
        }
    ]


def test_default_preset_probes_its_device() -> None:
    m = Machine.from_preset("qemu-x86-virtio-mem")
    virtio0 = one(m.tree, "virtio0")
    assert (virtio0.start, virtio0.end) == (0x140000000, 0x53FFFFFFF)
    assert virtio0.flags & SYSTEM_RAM == SYSTEM_RAM and not virtio0.busy
    m.tree.check()


# ----------------------------------------------------------------------------- from_iomem


def test_from_iomem_keeps_config_and_guesses_arch() -> None:
    cfg = KernelConfig()
    cfg.set("arch", "arm64")
    cfg.set("kernel", "6.1")
    x86_text = (Path(__file__).parent / "fixtures" / "q35-guest-iomem.txt").read_text()
    m = Machine.from_iomem_text(x86_text, "/tmp/saved/iomem.txt", cfg)
    assert m.config.arch == "x86_64" and m.config.kernel == "6.1.0" and m.name == "iomem.txt"
    assert cfg.arch == "arm64"
    arm = Machine.from_iomem_text(presets.iomem_text_of("arm64-virt"), "a.txt")
    assert arm.config.arch == "arm64"
    neutral = Machine.from_iomem_text("00001000-00001fff : System RAM\n", "n.txt", cfg)
    assert neutral.config.arch == "arm64"  # nothing says otherwise: kept
    assert neutral.vmem == {}


def test_guess_arch_refuses_contradictions() -> None:
    tree = iomem_text.parse("08000000-0800ffff : GICD\nfee00000-fee00fff : Local APIC\n")
    assert presets.guess_arch(tree) == (None, "")
