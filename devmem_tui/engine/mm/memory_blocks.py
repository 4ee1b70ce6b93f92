"""Linux memory blocks (``memoryN``) of virtio-mem devices: zones, sysfs onlining, pins,
and the lsmem-style ``blocks`` table.

The Linux MM layer of the model (reference/virtio-mem.md §3.4, §2.11): a memory block exists
only while its memory is added; it is ``offline`` or online in one zone. The virtio-mem driver
(vmem_driver.py) owns the per-device ``mm`` dicts; this module holds the rules that look across
devices (zone spans, ``online`` zone choice, ``valid_zones``) and the sysfs front door used by
the ``online`` / ``offline`` commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast
from weakref import WeakKeyDictionary

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F
from devmem_tui.engine.units import merge_ranges

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike
    from devmem_tui.engine.virtio_mem.driver import VirtioMem, VmemReport


def _devices(machine: MachineLike) -> list[VirtioMem]:
    # Until the MM keeps its own memory-block table, the blocks live in the virtio-mem
    # drivers' records; every device of a machine is one.
    return cast("list[VirtioMem]", list(machine.vmem.values()))


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


def boot_zone_of(addr: int) -> str:
    """Zone of a boot RAM page on x86-64: DMA below 16 MiB, DMA32 below 4 GiB, else Normal.

    arm64 uses the same names with different limits; the simulator applies the x86 split
    (only the zone of RAM above 4 GiB matters for virtio-mem, and that is Normal on both)."""
    if addr < _16M:
        return DMA
    if addr < _4G:
        return DMA32
    return NORMAL


_BOOT_SPANS: WeakKeyDictionary[MachineLike, tuple[int, dict[str, tuple[int, int]]]] = (
    WeakKeyDictionary()
)


def boot_zone_spans(machine: MachineLike) -> dict[str, tuple[int, int]]:
    """Spans [start, end) of the boot zones, from busy System RAM that is not driver-managed
    (cached per tree generation: the plug path asks once per memory block)."""
    gen = machine.tree.generation
    cached = _BOOT_SPANS.get(machine)
    if cached is not None and cached[0] == gen:
        return cached[1]
    spans: dict[str, tuple[int, int]] = {}
    for r in machine.tree.root.children:
        if (r.flags & SYSTEM_RAM) != SYSTEM_RAM or not r.busy:
            continue
        if r.flags & F.SYSRAM_DRIVER_MANAGED:
            continue
        lo, hi = r.start, r.end + 1
        for zone, zlo, zhi in ((DMA, 0, _16M), (DMA32, _16M, _4G), (NORMAL, _4G, 1 << 64)):
            a, b = max(lo, zlo), min(hi, zhi)
            if a < b:
                old = spans.get(zone)
                spans[zone] = (min(a, old[0]), max(b, old[1])) if old else (a, b)
    _BOOT_SPANS[machine] = (gen, spans)
    return spans


def zone_spans(machine: MachineLike) -> dict[str, tuple[int, int]]:
    """Current span [start, end) of every populated zone: boot RAM plus online hot-added
    memory of every virtio-mem device (zone spans shrink again when memory is offlined)."""
    spans = dict(boot_zone_spans(machine))
    for vm in _devices(machine):
        for zone, (a, b) in vm.online_spans().items():
            old = spans.get(zone)
            spans[zone] = (min(a, old[0]), max(b, old[1])) if old else (a, b)
    return spans


def _intersects(span: tuple[int, int] | None, start: int, end: int) -> bool:
    return span is not None and span[0] < end and start < span[1]


def default_kernel_zone(
    machine: MachineLike, start: int, end: int, spans: dict[str, tuple[int, int]] | None = None
) -> str:
    """``default_kernel_zone_for_pfn()`` (mm/memory_hotplug.c, 4.13+): the first of DMA/DMA32
    whose span intersects the range, else ZONE_NORMAL."""
    spans = zone_spans(machine) if spans is None else spans
    for zone in (DMA, DMA32):
        if _intersects(spans.get(zone), start, end):
            return zone
    return NORMAL


def default_zone(machine: MachineLike, start: int, end: int) -> str:
    """``default_zone_for_pfn()`` = online_policy ``contig-zones`` (the default since 5.15;
    the only policy before): inherit the zone if the range intersects exactly one of the kernel
    zone and ZONE_MOVABLE, otherwise the kernel zone (ZONE_MOVABLE only with movable_node,
    which the simulator does not model)."""
    spans = zone_spans(machine)
    kernel = default_kernel_zone(machine, start, end, spans)
    in_kernel = _intersects(spans.get(kernel), start, end)
    in_movable = _intersects(spans.get(MOVABLE), start, end)
    if in_kernel != in_movable:
        return kernel if in_kernel else MOVABLE
    return kernel


def zone_for_online_type(machine: MachineLike, start: int, end: int, online_type: str) -> str:
    """``zone_for_pfn_range()``: online_kernel -> default kernel zone, online_movable ->
    ZONE_MOVABLE, online -> ``default_zone_for_pfn`` (contig-zones)."""
    if online_type == "online_kernel":
        return default_kernel_zone(machine, start, end)
    if online_type == "online_movable":
        return MOVABLE
    return default_zone(machine, start, end)


def valid_zones(machine: MachineLike, vm: VirtioMem, mb: int) -> str:
    """``valid_zones`` of memoryN (drivers/base/memory.c): the zone when online; when offline
    the default zone first, then the other zones it may be onlined to."""
    zone = vm.mm.get(mb)
    if zone is None:
        return "-"
    if zone != OFFLINE:
        return zone
    mbs = machine.memory_block_size
    start, end = mb * mbs, (mb + 1) * mbs
    default = default_zone(machine, start, end)
    out = [default]
    for other in (default_kernel_zone(machine, start, end), MOVABLE):
        if other not in out:
            out.append(other)
    return " ".join(out)


# ----------------------------------------------------------------------------- sysfs
@dataclass
class SysfsResult:
    """The answer to ``echo X > /sys/devices/system/memory/memoryN/state``: outcome 'DONE' or
    the errno word the write fails with, the kernel trace, and what the driver did after."""

    outcome: str
    message: str
    trace: list[str] = field(default_factory=list)
    reports: list[VmemReport] = field(default_factory=list)


def owner_of_block(machine: MachineLike, mb: int) -> VirtioMem:
    """The virtio-mem device whose added memory block ``memory<mb>`` is; DevmemError (one
    line) when no such memory block exists or it is boot memory (not modelled)."""
    for vm in _devices(machine):
        if mb in vm.mm:
            return vm
    mbs = machine.memory_block_size
    addr = mb * mbs
    for vm in _devices(machine):
        if vm.device.addr <= addr < vm.device.end:
            raise DevmemError(
                f"memory{mb} does not exist: {addr:#x} belongs to {vm.device.name} but is not "
                f"added to Linux (no /sys/devices/system/memory/memory{mb})"
            )
    raise DevmemError(
        f"memory{mb} is not virtio-mem memory: only memory blocks added by a virtio-mem "
        "driver are modelled (boot memory cannot be onlined/offlined here)"
    )


def parse_memory_block(text: str) -> int:
    """'memory40' (or '40') -> 40."""
    t = text.strip()
    if t.startswith("memory"):
        t = t[len("memory") :]
    if not t.isdigit():
        raise DevmemError(f"bad memory block {text!r}: expected memoryN, e.g. memory40")
    return int(t)


def sysfs_online(machine: MachineLike, mb: int, how: str | None = None) -> SysfsResult:
    """``state_store()`` writing ``online`` / ``online_kernel`` / ``online_movable`` to
    memoryN/state (drivers/base/memory.c -> ``online_pages()``), all kernels with
    memory hot-add. ``how`` is None (zone by policy), 'kernel' or 'movable'."""
    vm = owner_of_block(machine, mb)
    online_type = {None: "online", "kernel": "online_kernel", "movable": "online_movable"}.get(how)
    if online_type is None:
        raise DevmemError(f"bad zone {how!r}: expected kernel or movable")
    return vm.sysfs_online(mb, online_type)


def sysfs_offline(machine: MachineLike, mb: int) -> SysfsResult:
    """``state_store()`` writing ``offline`` to memoryN/state (``offline_pages()``)."""
    vm = owner_of_block(machine, mb)
    return vm.sysfs_offline(mb)


# ----------------------------------------------------------------------------- pins
def pin_problem(machine: MachineLike, start: int, end: int) -> str | None:
    """Why [start, end] cannot be pinned, or None. Only pages in the page allocator can be
    pinned: the range must be busy System RAM and, inside a virtio-mem device, online and
    plugged (unplugged sub-blocks are PG_offline, offline blocks are not in the buddy)."""
    pos = start
    while pos <= end:
        chain = machine.tree.chain_at(pos)
        ram = [r for r in chain if r.is_system_ram() and r.busy]
        if not ram:
            return f"{pos:#x} is not System RAM (nothing there can be pinned)"
        pos = min(r.end for r in ram) + 1
        if pos == 0:  # wrapped past 2^64
            break
    for vm in _devices(machine):
        problem = vm.unpinnable(start, end)
        if problem:
            return problem
    return None


def add_pin(machine: MachineLike, start: int, end: int) -> None:
    """Record [start, end] (page-rounded) as pinned, merging with touching pins."""
    start &= ~0xFFF
    end |= 0xFFF
    machine.pinned[:] = merge_ranges([*machine.pinned, (start, end)])


def remove_pin(machine: MachineLike, start: int, end: int) -> int:
    """Unpin [start, end] (page-rounded); returns how many bytes were pinned there."""
    start &= ~0xFFF
    end |= 0xFFF
    out: list[tuple[int, int]] = []
    freed = 0
    for a, b in machine.pinned:
        if b < start or a > end:
            out.append((a, b))
            continue
        freed += min(b, end) - max(a, start) + 1
        if a < start:
            out.append((a, start - 1))
        if b > end:
            out.append((end + 1, b))
    machine.pinned[:] = out
    return freed


def first_pinned(machine: MachineLike, start: int, end: int) -> int | None:
    """Lowest pinned address in [start, end], or None."""
    best: int | None = None
    for a, b in machine.pinned:
        if a <= end and start <= b:
            hit = max(a, start)
            best = hit if best is None else min(best, hit)
    return best
