"""What the kernel-side layers may see of a machine, and the events they report.

``Machine`` (machine.py) sits on top of the engine: it holds the state and offers the facade
(``Machine.from_preset(...).read(...)``), so it imports the rules, the memory-hotplug code and
the virtio-mem driver. Those layers act on a machine without importing it: they are written
against ``MachineLike`` below, which ``Machine`` satisfies. That keeps every import pointing
down, with no cycle even for type annotations.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, MutableSet
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem.mapping import MappingTable
from devmem_tui.engine.iomem.tree import ResourceTree
from devmem_tui.engine.journal import Journal
from devmem_tui.engine.mm.memory_blocks import MemoryBlocks
from devmem_tui.engine.mtrr import MtrrLayout

# The simulated clock's ceiling (about 31,700 years): far below where a float loses the 50 s
# timer steps (~5e17), so retry deadlines always move forward (wait/open refuse more).
MAX_CLOCK = 1e12

# Pending events a machine keeps before it replaces them by one OVERFLOW event (a session that
# nobody drains must not grow: ``run`` and ``play`` never read them). The TUI drains after every
# command; a single command emits this many only when it revokes thousands of mappings.
MAX_EVENTS = 10_000


class EventKind(StrEnum):
    """What changed. The values are the words front ends match on."""

    RESOURCE_ADDED = "resource-added"
    RESOURCE_REMOVED = "resource-removed"
    RESOURCE_CHANGED = "resource-changed"
    BLOCKS = "blocks"  # a device's blocks, memory blocks or pins
    MAPPING_ADDED = "mapping-added"
    MAPPING_REMOVED = "mapping-removed"
    MAPPING_REVOKED = "mapping-revoked"
    CONFIG = "config"  # the config or a derived value such as high_memory
    CLOCK = "clock"
    MACHINE = "machine"  # a different machine: views redraw everything
    OVERFLOW = "overflow"  # events were dropped (see MAX_EVENTS): views redraw everything


@dataclass
class Event:
    """Something that changed, for observers (the TUI redraws only what changed)."""

    kind: EventKind
    what: str
    data: dict[str, Any] = field(default_factory=dict)


class PfnSet(MutableSet[int]):
    """A set of pfns (the hwpoisoned pages) that also answers "which of them lie in
    [first, last]" by bisection: the sorted list is kept on the set itself and dropped by
    every change."""

    def __init__(self, pfns: Iterable[int] = ()) -> None:
        self._pfns = set(pfns)
        self._sorted: list[int] | None = None

    def __contains__(self, pfn: object) -> bool:
        return pfn in self._pfns

    def __iter__(self) -> Iterator[int]:
        return iter(self._pfns)

    def __len__(self) -> int:
        return len(self._pfns)

    def __repr__(self) -> str:
        return f"PfnSet({sorted(self._pfns)!r})"

    def add(self, pfn: int) -> None:
        self._pfns.add(pfn)
        self._sorted = None

    def discard(self, pfn: int) -> None:
        self._pfns.discard(pfn)
        self._sorted = None

    def in_range(self, first: int, last: int) -> list[int]:
        """The pfns in [first, last], ascending."""
        if not self._pfns:
            return []
        s = self._sorted
        if s is None:
            s = self._sorted = sorted(self._pfns)
        return s[bisect_left(s, first) : bisect_right(s, last)]


@dataclass
class DumpImage:
    """What a kdump kernel's /proc/vmcore holds of the kernel that crashed: its version, the
    System RAM it had (the elfcorehdr's PT_LOAD ranges, whole pages, inclusive) and the pages
    it had marked PG_offline (virtio-mem unplugged sub-blocks), which makedumpfile excludes
    (vmcoreinfo PAGE_OFFLINE_MAPCOUNT_VALUE)."""

    kernel: str
    segments: list[tuple[int, int]]
    page_offline: list[tuple[int, int]]


class MemoryDevice(Protocol):
    """What the MM and the /dev/mem rules ask of a hot-pluggable memory device."""

    @property
    def name(self) -> str: ...

    def covers(self, addr: int) -> bool:
        """Whether addr lies in the device's memory region."""
        ...

    def region(self) -> tuple[int, int]:
        """The device's memory region, inclusive."""
        ...

    def memory_state(self, addr: int) -> str:
        """The Linux MM state of the page at addr (see ``Machine.memory_state``)."""
        ...

    def memory_state_edges(self) -> list[int]:
        """The addresses where ``memory_state`` can change (unsorted)."""
        ...

    def state_end(self, addr: int) -> int:
        """The last byte of the stretch from addr on with the same memory state (or an
        earlier byte: callers cut there and ask again), found without visiting every block."""
        ...


class MachineLike(Protocol):
    """The machine as the rules, the memory-hotplug code and the drivers use it."""

    tree: ResourceTree
    config: KernelConfig
    high_memory: int
    memory_block_size: int
    clock: float
    mappings: MappingTable
    next_mapping: int
    pinned: list[tuple[int, int]]  # read and changed only through mm/hotplug.py's pin functions
    pinned_longterm: list[tuple[int, int]]  # likewise: FOLL_LONGTERM pins
    hwpoison: PfnSet
    memory_blocks: MemoryBlocks  # Linux MM's memory blocks of hot-added memory
    journal: Journal  # the undo journal of the open transaction (journal.py)
    mtrr: MtrrLayout  # x86: the MTRRs the firmware programmed
    dump: DumpImage | None  # in a kdump kernel: the crashed kernel's memory for /proc/vmcore

    @property
    def vmem(self) -> Mapping[str, MemoryDevice]: ...

    def add_device(self, name: str, device: MemoryDevice) -> None:
        """Register a hot-added device under name, and its memory group with the MM (before
        its driver probes)."""
        ...

    def emit(self, kind: EventKind, what: str, **data: Any) -> None: ...

    def raise_high_memory(self, end_exclusive: int) -> None: ...

    def memory_state(self, addr: int) -> str: ...

    def device_at(self, addr: int) -> MemoryDevice | None:
        """The device whose memory region holds addr, found by bisection."""
        ...

    def device_region_at(self, addr: int) -> tuple[int, int, MemoryDevice] | None:
        """(first byte, last byte, device) of the device region holding addr."""
        ...

    def next_device_start(self, addr: int) -> int:
        """The start of the first device region above addr (2^64 if none)."""
        ...
