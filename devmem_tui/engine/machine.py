"""The simulated machine: resource tree + kernel config + virtio-mem devices + live mappings.

``Machine`` is the engine's facade (usable as a library, no UI imports)::

    Machine.from_preset("qemu-x86-virtio-mem").read(0x1000, 4096)   # -> Verdict

It holds the state and delegates every kernel behaviour to the module that models it: the
/dev/mem rules (devmem/), /proc/kcore (devmem/kcore.py) and the virtio-mem driver
(virtio_mem/). Those modules see the machine through ``interfaces.MachineLike``, never import
this one. State changes append ``Event``s to ``machine.events`` so front ends redraw only what
changed.

Every change to the state is recorded in ``machine.journal`` while a transaction is open
(``begin`` / ``commit`` / ``rollback``, journal.py): a command that fails is undone at the cost
of what it changed.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from typing import Any

from devmem_tui.engine import presets
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem import kcore, mappings, mmap, rw
from devmem_tui.engine.devmem.mapping import MappingTable
from devmem_tui.engine.devmem.verdict import Verdict
from devmem_tui.engine.interfaces import (
    MAX_EVENTS,
    DumpImage,
    Event,
    EventKind,
    MemoryDevice,
    PfnSet,
)
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree
from devmem_tui.engine.journal import Journal, Journaled, attach
from devmem_tui.engine.mm.memory_blocks import MemoryBlocks
from devmem_tui.engine.mtrr import MtrrLayout, infer
from devmem_tui.engine.units import ADDR_MAX, PAGE_SHIFT
from devmem_tui.engine.virtio_mem import driver as vmem_driver
from devmem_tui.engine.virtio_mem.driver import VirtioMem

MEMORY_BLOCK_SIZE = 0x8000000  # 128 MiB: x86-64 probe_memory_block_size() below 64 GiB, arm64 4K

_TREE_EVENTS = {
    "add": EventKind.RESOURCE_ADDED,
    "remove": EventKind.RESOURCE_REMOVED,
    "change": EventKind.RESOURCE_CHANGED,
}


# A transaction's marks: the journal's, the number of events and of event-queue overflows.
Txn = tuple[int, int, int]
_MISSING: Any = object()


class DeviceTable(dict[str, VirtioMem]):
    """The machine's memory devices by name, in the order they were added, with their regions
    sorted by start address so that the device holding an address is found by bisection
    (every page of a kcore read or a pin check asks). Changes are journaled."""

    def __init__(self, journal: Journal | None = None) -> None:
        super().__init__()
        self._journal = journal
        self._starts: list[int] = []
        self._regions: list[tuple[int, int, VirtioMem]] = []

    def _reindex(self) -> None:
        regions = []
        for dev in self.values():
            d = getattr(dev, "device", None)
            if d is not None:
                regions.append((d.addr, d.addr + d.region_size - 1, dev))
        regions.sort(key=_first)
        self._regions = regions
        self._starts = [r[0] for r in regions]

    def __setitem__(self, name: str, dev: VirtioMem) -> None:
        old = self.get(name, _MISSING)
        super().__setitem__(name, dev)
        if self._journal is not None:
            self._journal.record(self._restore, name, old)
        self._reindex()

    def __delitem__(self, name: str) -> None:
        old = self[name]
        super().__delitem__(name)
        if self._journal is not None:
            self._journal.record(self._restore, name, old)
        self._reindex()

    def _restore(self, name: str, dev: VirtioMem) -> None:
        if dev is _MISSING:
            super().__delitem__(name)  # it was added last, so the order stays as it was
        else:
            super().__setitem__(name, dev)
        self._reindex()

    def region_at(self, addr: int) -> tuple[int, int, VirtioMem] | None:
        """(first byte, last byte, device) of the device region holding addr."""
        i = bisect_right(self._starts, addr) - 1
        if i >= 0:
            region = self._regions[i]
            if addr <= region[1]:
                return region
        return None

    def next_start(self, addr: int) -> int:
        """The start of the first device region above addr (2^64 if none)."""
        starts = self._starts
        i = bisect_right(starts, addr)
        return starts[i] if i < len(starts) else ADDR_MAX + 1


def _first(region: tuple[int, int, VirtioMem]) -> int:
    return region[0]


class Machine(Journaled):
    """One simulated machine. Construct with ``from_preset`` or ``from_iomem_text``."""

    journal: Journal  # the undo journal of its transactions (journal.py)
    events: list[Event]  # pending events for views (not state: never journaled)

    def __init__(
        self,
        tree: ResourceTree,
        config: KernelConfig | None = None,
        name: str = "custom",
        mtrr: MtrrLayout | None = None,
    ) -> None:
        journal = Journal()
        object.__setattr__(self, "journal", journal)
        attach(self, journal)
        self.tree = tree
        self.config = config or KernelConfig()
        self.name = name
        self.vmem = DeviceTable(journal)
        self.mappings = MappingTable(journal)
        self.next_mapping = 1
        self.clock = 0.0  # simulated seconds
        # unmovable page ranges (inclusive bytes, sorted and merged); only mm/hotplug.py's pin
        # functions read and change them
        self.pinned: list[tuple[int, int]] = []
        self.pinned_longterm: list[tuple[int, int]] = []  # FOLL_LONGTERM pins, likewise
        self.hwpoison = PfnSet()  # pfns
        object.__setattr__(self, "events", [])  # not state: never journaled
        self._overflows = 0  # times the event queue overflowed (see _push)
        self.memory_block_size = MEMORY_BLOCK_SIZE
        self.memory_blocks = MemoryBlocks(journal)  # the memoryN of hot-added memory, per device
        self.high_memory = self.boot_high_memory()
        # x86 firmware MTRRs (the preset's, else what OVMF would program for this map)
        self.mtrr = mtrr if mtrr is not None else infer(tree)
        self.dump: DumpImage | None = None  # the crashed kernel's memory, in a kdump kernel
        tree.observers.append(self._on_tree)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "hwpoison" and not isinstance(value, PfnSet):  # a plain set of pfns
            value = PfnSet(value)
        super().__setattr__(name, value)
        if name == "config":  # a config's changes are the machine's changes
            attach(value, self.journal)
        elif name == "tree":
            value.journal = self.journal

    # ------------------------------------------------------------------ transactions
    def begin(self) -> Txn:
        """Open a transaction: every change from now on can be undone (journal.py)."""
        return self.journal.begin(), len(self.events), self._overflows

    def commit(self, txn: Txn) -> None:
        """Keep the transaction's changes."""
        self.journal.commit(txn[0])

    def rollback(self, txn: Txn) -> bool:
        """Undo every change since ``begin``, newest first, and drop the events they emitted;
        True if there was anything to undo. Costs what the transaction changed."""
        undone = self.journal.rollback(txn[0])
        if self._overflows != txn[2]:  # the queue overflowed meanwhile: views redraw all
            object.__setattr__(self, "events", [Event(EventKind.OVERFLOW, "events")])
        else:
            del self.events[txn[1] :]
        return undone > 0

    # ------------------------------------------------------------------ events
    def _push(self, event: Event) -> None:
        """Queue an event. The queue is bounded: a session nobody drains (``run``, ``play``, a
        library user) must not grow without limit, so past MAX_EVENTS pending events they are
        replaced by one OVERFLOW event, after which views redraw everything."""
        events = self.events
        if len(events) >= MAX_EVENTS:
            events.clear()
            events.append(Event(EventKind.OVERFLOW, "events"))
            object.__setattr__(self, "_overflows", self._overflows + 1)
        events.append(event)

    def _on_tree(self, what: str, res: Resource) -> None:
        self._push(Event(_TREE_EVENTS[what], res.label()))

    def emit(self, kind: EventKind, what: str, **data: Any) -> None:
        self._push(Event(kind, what, dict(data)))

    def drain_events(self) -> list[Event]:
        out = self.events
        object.__setattr__(self, "events", [])
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

    def device_at(self, addr: int) -> VirtioMem | None:
        """The virtio-mem device whose region holds addr (bisection over the regions)."""
        region = self.vmem.region_at(addr)
        return None if region is None else region[2]

    def device_region_at(self, addr: int) -> tuple[int, int, VirtioMem] | None:
        """(first byte, last byte, device) of the device region holding addr."""
        return self.vmem.region_at(addr)

    def next_device_start(self, addr: int) -> int:
        """The start of the first device region above addr (2^64 if none)."""
        return self.vmem.next_start(addr)

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
        if self.hwpoison and addr >> PAGE_SHIFT in self.hwpoison:
            return "hwpoison"
        dev = self.device_at(addr)
        return "online" if dev is None else dev.memory_state(addr)

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
        cfg.set_from("arch", meta.arch, f"preset {name}")
        tree = iomem_text.parse(presets.iomem_text_of(name), source=f"presets/{name}.iomem")
        machine = cls(tree, cfg, name=name, mtrr=meta.mtrr)
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
        arch, why = presets.guess_arch(tree)
        if arch is not None:
            cfg.set_from("arch", arch, f"the map {source} (it has {why!r})")
        return cls(tree, cfg, name=os.path.basename(source) or source)
