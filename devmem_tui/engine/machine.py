"""The simulated machine: resource tree + kernel config + virtio-mem devices + live mappings.

``Machine`` is the engine's facade (usable as a library, no UI imports)::

    Machine.from_preset("qemu-x86-virtio-mem").read(0x1000, 4096)   # -> Verdict

It holds the state and delegates every kernel behaviour to the module that models it: the
/dev/mem rules (devmem/), /proc/kcore (devmem/kcore.py) and the virtio-mem driver
(virtio_mem/). Those modules see the machine through ``interfaces.MachineLike``, never import
this one. State changes append ``Event``s to ``machine.events`` so front ends redraw only what
changed.
"""

from __future__ import annotations

import os
from typing import Any

from devmem_tui.engine import presets
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem import kcore, mappings, mmap, rw
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.devmem.verdict import Verdict
from devmem_tui.engine.interfaces import Event, EventKind, MemoryDevice
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree
from devmem_tui.engine.mm.memory_blocks import MemoryBlocks
from devmem_tui.engine.units import PAGE_SHIFT
from devmem_tui.engine.virtio_mem import driver as vmem_driver
from devmem_tui.engine.virtio_mem.driver import VirtioMem

MEMORY_BLOCK_SIZE = 0x8000000  # 128 MiB: x86-64 probe_memory_block_size() below 64 GiB, arm64 4K

_TREE_EVENTS = {
    "add": EventKind.RESOURCE_ADDED,
    "remove": EventKind.RESOURCE_REMOVED,
    "change": EventKind.RESOURCE_CHANGED,
}


class Machine:
    """One simulated machine. Construct with ``from_preset`` or ``from_iomem_text``."""

    def __init__(
        self, tree: ResourceTree, config: KernelConfig | None = None, name: str = "custom"
    ) -> None:
        self.tree = tree
        self.config = config or KernelConfig()
        self.name = name
        self.vmem: dict[str, VirtioMem] = {}
        self.mappings: dict[str, Mapping] = {}
        self.next_mapping = 1
        self.clock = 0.0  # simulated seconds
        self.pinned: list[tuple[int, int]] = []  # unmovable page ranges (inclusive bytes)
        self.hwpoison: set[int] = set()  # pfns
        self.events: list[Event] = []
        self.memory_block_size = MEMORY_BLOCK_SIZE
        self.memory_blocks = MemoryBlocks()  # the memoryN of hot-added memory, per device
        self.high_memory = self.boot_high_memory()
        tree.observers.append(self._on_tree)

    # ------------------------------------------------------------------ events
    def _on_tree(self, what: str, res: Resource) -> None:
        self.events.append(Event(_TREE_EVENTS[what], res.label()))

    def emit(self, kind: EventKind, what: str, **data: Any) -> None:
        self.events.append(Event(kind, what, dict(data)))

    def drain_events(self) -> list[Event]:
        out, self.events = self.events, []
        return out

    # ------------------------------------------------------------------ devices
    def add_device(self, name: str, device: MemoryDevice) -> None:
        """Register a hot-added virtio-mem device and its memory group
        (``virtio_mem.driver.add_device`` calls this before the driver probes, so the probe
        sees the device in the machine; a restored session calls it for each saved device)."""
        if not isinstance(device, VirtioMem):
            raise TypeError(f"{name}: only virtio-mem devices are modelled")
        self.vmem[name] = device
        self.memory_blocks.register(device.group)

    # ------------------------------------------------------------------ memory facts
    def boot_high_memory(self) -> int:
        """``high_memory`` at boot: one past the highest busy System RAM byte (max_pfn)."""
        top = 0
        for _, r in self.tree.walk():
            if r.is_system_ram() and r.flags & F.BUSY:
                top = max(top, r.end + 1)
        return top

    def raise_high_memory(self, end_exclusive: int) -> None:
        """``update_end_of_memory_vars()`` (x86-64 add_pages): high_memory only ever rises."""
        if end_exclusive > self.high_memory:
            self.high_memory = end_exclusive
            self.emit(EventKind.CONFIG, "high_memory", value=end_exclusive)

    def memory_state(self, addr: int) -> str:
        """Linux MM state of the page holding addr, for /proc/kcore (5.14+ filters):
        'online' (normal RAM or online hot-added memory), 'offline' (added, memory block
        offline), 'page_offline' (PG_offline: unplugged sub-block of an added block),
        'not_added' (device memory never added), 'hwpoison'. Holes and MMIO are decided by the
        resource tree, not here."""
        if addr >> PAGE_SHIFT in self.hwpoison:
            return "hwpoison"
        for dev in self.vmem.values():
            if dev.covers(addr):
                return dev.memory_state(addr)
        return "online"

    # ------------------------------------------------------------------ accesses
    def read(self, addr: int, length: int = 4096) -> Verdict:
        return rw.read_mem(self, addr, length)

    def write(self, addr: int, length: int = 4096) -> Verdict:
        return rw.write_mem(self, addr, length)

    def mmap(self, addr: int, length: int, private: bool = False) -> Verdict:
        return mmap.mmap_mem(self, addr, length, private)

    def kcore(self, addr: int, length: int = 4096) -> Verdict:
        return kcore.read_kcore(self, addr, length)

    def touch(self, mapping_id: str, offset: int = 0) -> Verdict:
        return mappings.touch(self, mapping_id, offset)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, config: KernelConfig | None = None) -> Machine:
        """A fresh machine for a preset: its /proc/iomem at boot, then each virtio-mem device
        added (and probed, if the config can build the driver). The preset sets
        ``config.arch``; every other config key is kept (on a copy, so a failed build changes
        nothing)."""
        meta = presets.info(name)
        cfg = config.copy() if config is not None else KernelConfig()
        cfg.arch = meta.arch
        tree = iomem_text.parse(presets.iomem_text_of(name), source=f"presets/{name}.iomem")
        machine = cls(tree, cfg, name=name)
        for d in meta.devices:
            vmem_driver.add_device(
                machine,
                name=d.name,
                addr=d.addr,
                region_size=d.region_size,
                block_size=d.block_size,
                requested_size=d.requested_size,
                index=d.index,
            )
        machine.drain_events()  # a fresh machine starts with no pending events
        return machine

    @classmethod
    def from_iomem_text(
        cls, text: str, source: str = "<text>", config: KernelConfig | None = None
    ) -> Machine:
        """A fresh machine whose map is a saved /proc/iomem (``load iomem FILE``), without
        virtio-mem devices. Like a preset, the map decides the arch when its names tell
        (``presets.guess_arch``); every other config key is kept (on a copy)."""
        tree = iomem_text.parse(text, source=source)
        cfg = config.copy() if config is not None else KernelConfig()
        arch, _why = presets.guess_arch(tree)
        if arch is not None:
            cfg.arch = arch
        return cls(tree, cfg, name=os.path.basename(source) or source)
