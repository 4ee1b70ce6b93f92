"""Four test machines, built directly with ``ResourceTree.add_child`` (independent of the
/proc/iomem parser): L1, an x86-64 QEMU-like guest with 8 GiB of boot RAM and one virtio-mem
device (blocks A and C added, B not, a sub-block of C unplugged); L2, L1 with busy ACPI Tables
above 1 MiB; L3, a CXL window whose capacity dax kmem added as System RAM (kmem); L4, an arm64
virt guest. Plus the config shorthands S / SI / SIR / SR / N / X and a tiny fake virtio-mem
entry for memory states."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, Resource, ResourceTree
from devmem_tui.engine.machine import Machine

MEM = F.MEM
MEM_BUSY = F.MEM | F.BUSY
RAM_BUSY = SYSTEM_RAM | F.BUSY
DRIVER_RAM = RAM_BUSY | F.SYSRAM_DRIVER_MANAGED
VIRTIO_MEM_RAM = DRIVER_RAM | F.SYSRAM_MERGEABLE


def config(
    kernel: str = "6.1", mode: str = "S", arch: str = "x86_64", **extra: str
) -> KernelConfig:
    """A config from a shorthand: S (STRICT_DEVMEM), SI (+ IO_STRICT_DEVMEM), SIR (+ iomem=relaxed),
    SR (S + iomem=relaxed), N (STRICT_DEVMEM off, PAT on), X (DEVMEM off)."""
    cfg = KernelConfig()
    cfg.set("kernel", kernel)
    cfg.set("arch", arch)
    settings = {
        "S": {"strict_devmem": "on", "io_strict_devmem": "off", "iomem": "default"},
        "SI": {"strict_devmem": "on", "io_strict_devmem": "on", "iomem": "default"},
        "SIR": {"strict_devmem": "on", "io_strict_devmem": "on", "iomem": "relaxed"},
        "SR": {"strict_devmem": "on", "io_strict_devmem": "off", "iomem": "relaxed"},
        "N": {"strict_devmem": "off", "io_strict_devmem": "off", "pat": "on"},
        "X": {"devmem": "off", "strict_devmem": "off", "io_strict_devmem": "off"},
    }[mode]
    for k, v in {**settings, **extra}.items():
        cfg.set(k, v)
    return cfg


@dataclass
class FakeVmem:
    """Stands in for a probed virtio-mem device + driver: only what the access code asks
    (``device.addr/region_size/name``, ``probed``, ``covers``, ``memory_state`` and where it
    changes)."""

    name: str
    addr: int
    size: int
    online: list[tuple[int, int]] = field(default_factory=list)  # added + online (inclusive)
    offline: list[tuple[int, int]] = field(default_factory=list)  # added, block offline
    page_offline: list[tuple[int, int]] = field(default_factory=list)  # unplugged sub-blocks
    probed: bool = True

    @property
    def device(self) -> SimpleNamespace:
        return SimpleNamespace(
            name=self.name, addr=self.addr, region_size=self.size, unplugged_inaccessible=False
        )

    def covers(self, addr: int) -> bool:
        return self.addr <= addr < self.addr + self.size

    def region(self) -> tuple[int, int]:
        return self.addr, self.addr + self.size - 1

    def memory_state_edges(self) -> list[int]:
        spans = [(self.addr, self.addr + self.size - 1), *self.online, *self.offline]
        return [e for a, b in spans + self.page_offline for e in (a, b + 1)]

    def memory_state(self, addr: int) -> str:
        def inside(spans: list[tuple[int, int]]) -> bool:
            return any(a <= addr <= b for a, b in spans)

        if inside(self.page_offline):
            return "page_offline"
        if inside(self.offline):
            return "offline"
        if inside(self.online):
            return "online"
        return "not_added"


def _add(
    tree: ResourceTree, parent: Resource | None, start: int, end: int, name: str, flags: F
) -> Resource:
    return tree.add_child(parent or tree.root, Resource(start, end, name, flags))


def l1_tree(with_virtio: bool = True, virtio_exclusive: bool = False) -> ResourceTree:
    t = ResourceTree()
    _add(t, None, 0x0, 0xFFF, "Reserved", MEM_BUSY)
    _add(t, None, 0x1000, 0x9FBFF, "System RAM", RAM_BUSY)
    _add(t, None, 0x9FC00, 0x9FFFF, "Reserved", MEM_BUSY)
    _add(t, None, 0xA0000, 0xBFFFF, "PCI Bus 0000:00", MEM)
    _add(t, None, 0xC0000, 0xC99FF, "Video ROM", MEM_BUSY | F.READONLY)
    rsv = _add(t, None, 0xF0000, 0xFFFFF, "Reserved", MEM_BUSY)
    _add(t, rsv, 0xF0000, 0xFFFFF, "System ROM", MEM_BUSY | F.READONLY)
    _add(t, None, 0x100000, 0x7FFDFFFF, "System RAM", RAM_BUSY)
    _add(t, None, 0x7FFE0000, 0x7FFFFFFF, "Reserved", MEM)
    pci = _add(t, None, 0xC0000000, 0xFEBFFFFF, "PCI Bus 0000:00", MEM)
    bar4 = _add(t, pci, 0xFD000000, 0xFD0FFFFF, "0000:00:04.0", MEM)
    _add(t, bar4, 0xFD000000, 0xFD0FFFFF, "exdrv", MEM_BUSY | F.EXCLUSIVE)
    bar3 = _add(t, pci, 0xFE000000, 0xFE003FFF, "0000:00:03.0", MEM)
    _add(t, bar3, 0xFE000000, 0xFE003FFF, "virtio-pci-modern", MEM_BUSY)
    _add(t, pci, 0xFEBD0000, 0xFEBD0FFF, "0000:00:02.0", MEM)
    _add(t, None, 0xFEC00000, 0xFEC003FF, "IOAPIC 0", MEM_BUSY)
    _add(t, None, 0x100000000, 0x27FFFFFFF, "System RAM", RAM_BUSY)
    if with_virtio:
        vflags = SYSTEM_RAM | (F.EXCLUSIVE if virtio_exclusive else F(0))
        v0 = _add(t, None, 0x280000000, 0x47FFFFFFF, "virtio0", vflags)
        _add(t, v0, 0x280000000, 0x287FFFFFF, "System RAM (virtio_mem)", VIRTIO_MEM_RAM)  # A
        _add(t, v0, 0x290000000, 0x297FFFFFF, "System RAM (virtio_mem)", VIRTIO_MEM_RAM)  # C
    return t


L1_VMEM_ADDR, L1_VMEM_SIZE = 0x280000000, 0x200000000


def l1_vmem() -> FakeVmem:
    return FakeVmem(
        "vmem0",
        L1_VMEM_ADDR,
        L1_VMEM_SIZE,
        online=[(0x280000000, 0x287FFFFFF), (0x290000000, 0x293FFFFFF)],
        page_offline=[(0x294000000, 0x297FFFFFF)],
    )


def l1(
    cfg: KernelConfig | None = None, with_virtio: bool = True, virtio_exclusive: bool | None = None
) -> Machine:
    """L1: x86-64 QEMU-like guest, high_memory 0x298000000 (raised by block C). By default
    ``virtioN`` gets EXCLUSIVE as the driver of ``cfg``'s kernel would set it."""
    cfg = cfg or config()
    if virtio_exclusive is None:
        virtio_exclusive = cfg.exclusive_system_ram
    m = Machine(l1_tree(with_virtio, virtio_exclusive), cfg, name="L1")
    if with_virtio:
        m.vmem["vmem0"] = l1_vmem()  # type: ignore[assignment]
        m.high_memory = 0x298000000
    else:
        m.high_memory = 0x280000000  # no virtio-mem memory added: no driver
    return m


def l2(cfg: KernelConfig | None = None) -> Machine:
    """L2: L1 with busy ACPI Tables at 7ffe0000-7fffffff instead of the >= 1 MiB Reserved."""
    m = l1(cfg)
    rsv = next(r for r in m.tree.root.children if r.start == 0x7FFE0000)
    m.tree.release(rsv)
    m.tree.add_child(
        m.tree.root, Resource(0x7FFE0000, 0x7FFFFFFF, "ACPI Tables", MEM_BUSY, "acpi_tables")
    )
    return m


def l3(cfg: KernelConfig | None = None) -> Machine:
    """L3: CXL / dax kmem: System RAM (kmem) nested three levels under a CXL window."""
    t = ResourceTree()
    _add(t, None, 0x1000, 0x9FBFF, "System RAM", RAM_BUSY)
    _add(t, None, 0x100000, 0x7FFFFFFF, "System RAM", RAM_BUSY)
    _add(t, None, 0x100000000, 0x48FFFFFFF, "System RAM", RAM_BUSY)
    win = _add(t, None, 0x490000000, 0x50FFFFFFF, "CXL Window 0", MEM)
    reg = _add(t, win, 0x490000000, 0x50FFFFFFF, "region0", MEM)
    dax = _add(t, reg, 0x490000000, 0x50FFFFFFF, "dax0.0", MEM)
    _add(t, dax, 0x490000000, 0x50FFFFFFF, "System RAM (kmem)", DRIVER_RAM)
    m = Machine(t, cfg or config(), name="L3")
    m.high_memory = 0x510000000
    return m


L4_VMEM_ADDR, L4_VMEM_SIZE = 0x8000000000, 0x100000000


def l4(cfg: KernelConfig | None = None, virtio_exclusive: bool = True) -> Machine:
    """L4: arm64 virt guest: PL011 with a bound driver, RAM, virtio-mem with one added block."""
    cfg = cfg or config(arch="arm64")
    t = ResourceTree()
    uart = _add(t, None, 0x09000000, 0x09000FFF, "pl011@9000000", MEM)
    _add(t, uart, 0x09000000, 0x09000FFF, "9000000.pl011", MEM_BUSY)
    _add(t, None, 0x40000000, 0x13FFFFFFF, "System RAM", RAM_BUSY)
    vflags = SYSTEM_RAM | (F.EXCLUSIVE if virtio_exclusive else F(0))
    v0 = _add(t, None, L4_VMEM_ADDR, L4_VMEM_ADDR + L4_VMEM_SIZE - 1, "virtio0", vflags)
    _add(t, v0, 0x8000000000, 0x8007FFFFFF, "System RAM (virtio_mem)", VIRTIO_MEM_RAM)
    m = Machine(t, cfg, name="L4")
    m.vmem["vmem0"] = FakeVmem(
        "vmem0",
        L4_VMEM_ADDR,
        L4_VMEM_SIZE,  # type: ignore[assignment]
        online=[(0x8000000000, 0x8007FFFFFF)],
    )
    m.high_memory = 0x8008000000
    return m


LAYOUTS: dict[str, Callable[[KernelConfig], Machine]] = {"L1": l1, "L2": l2, "L3": l3, "L4": l4}
