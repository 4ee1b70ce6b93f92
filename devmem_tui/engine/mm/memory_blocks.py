"""Linux MM's memory-block table (drivers/base/memory.c, include/linux/memory.h): which
``memoryN`` exist, whether each is offline or online in which zone, which driver's memory group
it belongs to, and the zone spans the onlining policy reads.

A memory block exists only while its memory is added. Each driver that adds memory owns one
``MemoryGroup`` (``memory_group_register_dynamic()``, 5.15+), registered in the machine's
``MemoryBlocks`` with the device; the MM calls back into the group's owner through the memory
notifier (``MemoryNotifier``). This module imports no driver: drivers implement the protocols.
The operations on the table (add, remove, online, offline, the sysfs state file) are in
hotplug.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, ResourceTree
from devmem_tui.engine.journal import Journal, Journaled, attach
from devmem_tui.engine.runs import RunMap

OFFLINE = "offline"
NORMAL = "Normal"
DMA32 = "DMA32"
DMA = "DMA"
MOVABLE = "Movable"
KERNEL_ZONES = (DMA, DMA32, NORMAL)

_16M = 16 << 20
_4G = 4 << 30

# sysfs online types (include/linux/memory_hotplug.h MMOP_*), as auto_online_blocks spells them
ONLINE_TYPES = ("online", "online_kernel", "online_movable")

Spans = dict[str, tuple[int, int]]  # zone -> [start, end)


def boot_zone_of(addr: int) -> str:
    """Zone of a boot RAM page on x86-64: DMA below 16 MiB, DMA32 below 4 GiB, else Normal.

    arm64 uses the same names with different limits; the simulator applies the x86 split
    (only the zone of RAM above 4 GiB matters for virtio-mem, and that is Normal on both)."""
    if addr < _16M:
        return DMA
    if addr < _4G:
        return DMA32
    return NORMAL


def _widen(spans: Spans, zone: str, a: int, b: int) -> None:
    old = spans.get(zone)
    spans[zone] = (min(a, old[0]), max(b, old[1])) if old else (a, b)


# ----------------------------------------------------------------------------- protocols
class OperationLog(Protocol):
    """Where the MM writes what it did during the owning driver's current operation: kernel
    messages and the memory blocks it added and removed (the driver's report)."""

    added: list[int]
    removed: list[int]

    def want(self) -> bool:
        """True while trace lines are still kept (callers skip formatting otherwise)."""
        ...

    def t(self, line: str) -> None: ...


class DriverReport(OperationLog, Protocol):
    """The report a driver hands back at the end of an operation the MM started."""

    @property
    def requests(self) -> Sequence[object]: ...

    def full_trace(self) -> list[str]: ...

    def text(self) -> str: ...


class MemoryNotifier(Protocol):
    """``register_memory_notifier()``: the callbacks (include/linux/memory.h ``MEM_*``) the
    driver that owns a memory group gets for each of its memory blocks."""

    def memory_going_online(self, mb: int) -> int:
        """MEM_GOING_ONLINE: 0, or -EPERM when the driver refuses (NOTIFY_BAD)."""
        ...

    def memory_online(self, mb: int, zone: str) -> None:
        """MEM_ONLINE: the block is online in zone."""
        ...

    def memory_going_offline(self, mb: int) -> list[tuple[int, int]]:
        """MEM_GOING_OFFLINE: the driver lets go of its PG_offline pages; returns the ranges
        [start, end] that ``offline_pages()`` must still migrate (the plugged ones)."""
        ...

    def memory_offline(self, mb: int) -> None:
        """MEM_OFFLINE: the block is offline."""
        ...


class GroupOwner(MemoryNotifier, Protocol):
    """The driver behind a memory group, as the MM sees it: its notifier, which of its pages
    are PG_offline, and the framing of an operation the MM starts (a sysfs write), so that what
    the driver does in reaction lands in its own report."""

    @property
    def name(self) -> str: ...

    def page_offline_reason(self, mb: int, start: int, end: int) -> str | None:
        """Why a page of [start, end] (inside online block mb) is PG_offline, or None."""
        ...

    def begin_operation(self, action: str) -> DriverReport: ...

    def run_work(self) -> None:
        """Run the work the notifier callbacks queued (a workqueue item in the kernel)."""
        ...

    def end_operation(self) -> DriverReport: ...


# ----------------------------------------------------------------------------- the table
@dataclass(eq=False)
class MemoryGroup(Journaled):
    """``struct memory_group``: the memory blocks one driver added (memoryN -> zone, or
    'offline'), the name its memory gets in /proc/iomem, and the resource changes of the
    current operation not yet applied (consecutive adds or removes are coalesced into one
    tree operation, see hotplug.flush).

    ``blocks`` is read like a dict (memoryN -> zone) and kept as runs of one zone
    (``runs.RunMap``); it is changed only through the methods below, which record each change
    in the machine's journal."""

    owner: GroupOwner
    resource_name: str
    blocks: RunMap = field(default_factory=RunMap)
    pending_add: tuple[int, int] | None = None  # [start, end] inclusive
    pending_remove: tuple[int, int] | None = None
    # the span [first, end) of memory block ids per zone of the online blocks; None: recompute
    _spans: Spans | None = field(default_factory=dict, repr=False)
    _table: MemoryBlocks | None = None  # the table it is registered in (for the zone spans)

    @property
    def runs(self) -> RunMap:
        """The blocks as runs of one zone (``runs.cut`` and the state queries read them)."""
        return self.blocks

    def _set(self, mb: int, zone: str | None) -> None:
        """memory<mb> is now in zone ('offline'), or gone (None)."""
        blocks = self.blocks
        old = blocks.get(mb)
        if old == zone:
            return
        j = self._journal
        if j is not None and j.depth:
            j.record(self._set, mb, old)
        if zone is None:
            blocks.delete(mb)
        else:
            blocks.set(mb, zone)
        table = self._table
        if old is not None and old != OFFLINE:
            self._spans = None  # a zone may shrink: recomputed from the runs on demand
            if table is not None:
                table.spans_dropped()
        elif zone is not None and zone != OFFLINE:
            if self._spans is not None:
                _widen(self._spans, zone, mb, mb + 1)
            if table is not None:
                table.spans_widened(zone, mb, mb + 1)

    def online_spans(self, mbs: int) -> Spans:
        """Span [start, end) of the group's online memory per zone (cached until a block goes
        offline or away: onlining only widens it); from the zone runs, not block by block."""
        spans = self._spans
        if spans is None:
            spans = {}
            for a, b, zone in self.zone_runs():
                if zone != OFFLINE:
                    _widen(spans, zone, a, b)
            self._spans = spans
        return {zone: (a * mbs, b * mbs) for zone, (a, b) in spans.items()}

    def zone_runs(
        self, lo: int | None = None, hi: int | None = None
    ) -> Iterator[tuple[int, int, str]]:
        """Runs [a, b) of added blocks in one zone (or offline), in order, within [lo, hi)."""
        return self.blocks.value_runs(lo, hi)

    def add_block(self, mb: int) -> None:
        """memory<mb> was added: offline until onlined."""
        self._set(mb, OFFLINE)

    def set_online(self, mb: int, zone: str, mbs: int) -> None:
        self._set(mb, zone)

    def set_offline(self, mb: int) -> None:
        self._set(mb, OFFLINE)

    def drop(self, ids: range) -> None:
        for mb in ids:
            self._set(mb, None)

    def restore(self, runs: Iterable[tuple[int, int, str]]) -> None:
        """Replace the blocks by runs (first, count, zone), ascending and apart (a saved
        session); the spans are recomputed on demand."""
        self.blocks = RunMap(runs)
        self._spans = None

    def reset(self) -> None:
        """No blocks and nothing pending (a new kernel: kexec)."""
        self.blocks = RunMap()
        self._spans = {}
        self.pending_add = self.pending_remove = None


class MemoryBlocks:
    """The machine's memory-block table: the registered memory groups (one per hot-pluggable
    device, in the order they were added) and the zones' spans (boot RAM plus every group's
    online memory), kept up to date as groups online memory (a span only widens then) and
    recomputed only after one goes offline."""

    def __init__(self, journal: Journal | None = None) -> None:
        attach(self, journal)
        self.groups: dict[str, MemoryGroup] = {}
        # boot zone spans of (tree, its generation): the plug path asks once per memory block
        self._boot: tuple[ResourceTree, int, Spans] | None = None
        # every zone's span of (tree, generation, memory block size), or None after a group's
        # span shrank
        self._all: tuple[ResourceTree, int, int, Spans] | None = None

    def register(self, group: MemoryGroup) -> None:
        name = group.owner.name
        self.groups[name] = group
        j: Journal | None = getattr(self, "_journal", None)
        if j is not None:
            j.record(self._unregister, name)
        object.__setattr__(group, "_table", self)
        self._all = None

    def _unregister(self, name: str) -> None:
        del self.groups[name]
        self._all = None

    def spans_widened(self, zone: str, first: int, end: int) -> None:
        """A group's online memory now also covers memory blocks [first, end) of zone."""
        cached = self._all
        if cached is not None:
            mbs = cached[2]
            _widen(cached[3], zone, first * mbs, end * mbs)

    def spans_dropped(self) -> None:
        """A group's span of some zone may have shrunk: recompute on the next question."""
        self._all = None

    def zone_of(self, mb: int) -> str | None:
        """memory<mb>'s zone, 'offline', or None when no such block exists."""
        for g in self.groups.values():
            zone = g.blocks.get(mb)
            if zone is not None:
                return zone
        return None

    def existing(self, lo: int, hi: int) -> list[int]:
        """The memory blocks of [lo, hi] that exist, ascending (run by run: a range of one
        block on a device of millions costs one bisection per group)."""
        return sorted(
            mb
            for g in self.groups.values()
            for a, b, _zone in g.zone_runs(lo, hi + 1)
            for mb in range(a, b)
        )

    def boot_zone_spans(self, tree: ResourceTree) -> Spans:
        """Spans [start, end) of the boot zones, from busy System RAM that is not
        driver-managed (cached until the tree changes)."""
        cached = self._boot
        if cached is not None and cached[0] is tree and cached[1] == tree.generation:
            return cached[2]
        spans: Spans = {}
        for r in tree.root.children:
            if (r.flags & SYSTEM_RAM) != SYSTEM_RAM or not r.busy:
                continue
            if r.flags & F.SYSRAM_DRIVER_MANAGED:
                continue
            lo, hi = r.start, r.end + 1
            for zone, zlo, zhi in ((DMA, 0, _16M), (DMA32, _16M, _4G), (NORMAL, _4G, 1 << 64)):
                a, b = max(lo, zlo), min(hi, zhi)
                if a < b:
                    _widen(spans, zone, a, b)
        self._boot = (tree, tree.generation, spans)
        return spans

    def zone_spans(self, tree: ResourceTree, mbs: int) -> Spans:
        """Current span [start, end) of every populated zone: boot RAM plus the online memory
        of every group (zone spans shrink again when memory is offlined). A copy."""
        cached = self._all
        if (
            cached is None
            or cached[0] is not tree
            or cached[1] != tree.generation
            or cached[2] != mbs
        ):
            spans = dict(self.boot_zone_spans(tree))
            for g in self.groups.values():
                for zone, (a, b) in g.online_spans(mbs).items():
                    _widen(spans, zone, a, b)
            self._all = cached = (tree, tree.generation, mbs, spans)
        return dict(cached[3])
