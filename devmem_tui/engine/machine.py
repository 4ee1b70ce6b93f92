"""The simulated machine: resource tree + kernel config + virtio-mem devices + live mappings.

``Machine`` is the engine's facade (usable as a library, no UI imports)::

    Machine.from_preset("qemu-x86-virtio-mem").read(0x1000, 4096)   # -> Verdict

State changes append ``Event``s to ``machine.events`` so front ends redraw only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem import access, kcore
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree

if TYPE_CHECKING:
    from devmem_tui.engine.devmem.verdict import Verdict
    from devmem_tui.engine.virtio_mem.driver import VirtioMem

MEMORY_BLOCK_SIZE = 0x8000000  # 128 MiB: x86-64 probe_memory_block_size() below 64 GiB, arm64 4K
# The simulated clock's ceiling (about 31,700 years): far below where a float loses the
# 50 s timer steps (~5e17), so retry deadlines always move forward (wait/open refuse more).
MAX_CLOCK = 1e12


@dataclass
class Event:
    """Something that changed, for observers: kind is one of 'resource-added',
    'resource-removed', 'resource-changed', 'blocks', 'mapping-added', 'mapping-removed',
    'mapping-revoked', 'config', 'clock', 'machine'."""

    kind: str
    what: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mapping:
    """A live /dev/mem mmap: [start, start+length), and the page ranges revocation zapped."""

    id: str
    start: int
    length: int
    private: bool = False
    zapped: list[tuple[int, int]] = field(default_factory=list)  # inclusive byte ranges
    sync: bool = False  # opened O_SYNC: PAT memtype UC- instead of WB (x86 PAT conflicts)

    @property
    def end(self) -> int:
        return self.start + self.length - 1


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
        self.high_memory = self.boot_high_memory()
        tree.observers.append(self._on_tree)

    # ------------------------------------------------------------------ events
    def _on_tree(self, what: str, res: Resource) -> None:
        self.events.append(
            Event(f"resource-{what}d" if what != "add" else "resource-added", res.label())
        )

    def emit(self, kind: str, what: str, **data: Any) -> None:
        self.events.append(Event(kind, what, dict(data)))

    def drain_events(self) -> list[Event]:
        out, self.events = self.events, []
        return out

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
            self.emit("config", "high_memory", value=end_exclusive)

    def memory_state(self, addr: int) -> str:
        """Linux MM state of the page holding addr, for /proc/kcore (5.14+ filters):
        'online' (normal RAM or online hot-added memory), 'offline' (added, memory block
        offline), 'page_offline' (PG_offline: unplugged sub-block of an added block),
        'not_added' (device memory never added), 'hwpoison'. Holes and MMIO are decided by the
        resource tree, not here."""
        if addr >> 12 in self.hwpoison:
            return "hwpoison"
        for dev in self.vmem.values():
            if dev.covers(addr):
                return dev.memory_state(addr)
        return "online"

    # ------------------------------------------------------------------ accesses
    def read(self, addr: int, length: int = 4096) -> Verdict:
        return access.read_mem(self, addr, length)

    def write(self, addr: int, length: int = 4096) -> Verdict:
        return access.write_mem(self, addr, length)

    def mmap(self, addr: int, length: int, private: bool = False) -> Verdict:
        return access.mmap_mem(self, addr, length, private)

    def kcore(self, addr: int, length: int = 4096) -> Verdict:
        return kcore.read_kcore(self, addr, length)

    def touch(self, mapping_id: str, offset: int = 0) -> Verdict:
        return access.touch(self, mapping_id, offset)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, config: KernelConfig | None = None) -> Machine:
        from devmem_tui.engine import presets

        return presets.build(name, config)
