"""Memory hot(un)plug as mm/memory_hotplug.c and drivers/base/memory.c do it, on the
memory-block table (memory_blocks.py): adding and removing driver-managed memory, onlining and
offlining memory blocks (with the zone policy and the memory notifier), the sysfs
``memoryN/state`` file, and the pinned pages that make offlining fail: unmovable ones (slab,
page tables) fail isolation with -EBUSY, long-term pins (FOLL_LONGTERM) make migration fail
forever, so ``offline_pages()`` retries until a signal arrives (-EINTR).

Drivers call in here with their ``MemoryGroup`` and the log of their current operation; the
MM calls back through the group's owner (``memory_blocks.GroupOwner``), never importing a
driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devmem_tui.engine import ranges
from devmem_tui.engine.devmem import mappings
from devmem_tui.engine.errors import DevmemError, quoted
from devmem_tui.engine.interfaces import MachineLike
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, Resource, ResourceTree
from devmem_tui.engine.mm.memory_blocks import (
    DMA,
    DMA32,
    MOVABLE,
    NORMAL,
    OFFLINE,
    MemoryGroup,
    OperationLog,
    Spans,
)
from devmem_tui.engine.units import EBUSY, EEXIST, EINTR, EINVAL, merge_ranges

UNMOVABLE = "unmovable"
LONGTERM = "longterm"
PIN_KINDS = (UNMOVABLE, LONGTERM)


# ----------------------------------------------------------------------------- zones
def _intersects(span: tuple[int, int] | None, start: int, end: int) -> bool:
    return span is not None and span[0] < end and start < span[1]


def zone_spans(machine: MachineLike) -> Spans:
    return machine.memory_blocks.zone_spans(machine.tree, machine.memory_block_size)


def default_kernel_zone(
    machine: MachineLike, start: int, end: int, spans: Spans | None = None
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


def valid_zones(machine: MachineLike, mb: int) -> str:
    """``valid_zones`` of memoryN (drivers/base/memory.c): the zone when online; when offline
    the default zone first, then the other zones it may be onlined to; '-' when no such
    block exists."""
    group = group_of(machine, mb)
    zone = None if group is None else group.blocks.get(mb)
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


# ----------------------------------------------------------------------------- add / remove
def add_memory_driver_managed(
    machine: MachineLike, group: MemoryGroup, addr: int, size: int, log: OperationLog
) -> int:
    """``add_memory_driver_managed()`` -> ``add_memory_resource()`` (mm/memory_hotplug.c,
    5.8+): ``register_memory_resource`` (a busy SYSTEM_RAM|DRIVER_MANAGED request that nests
    under the non-busy parent; -EEXIST on conflict; revokes /dev/mem mappings),
    ``arch_add_memory`` (x86: high_memory rises), memory block devices, resource merge (5.10+),
    then auto-onlining per memhp_default_state."""
    mbs = machine.memory_block_size
    if addr % mbs or size % mbs:
        return -EINVAL  # check_hotplug_memory_range
    _flush_remove(machine, group)
    conflict = _region_conflict(machine.tree, addr, size)
    if conflict:
        log.t(f"register_memory_resource({addr:#x}, {size:#x}): {conflict} -> -EEXIST")
        return -EEXIST
    _queue_add(machine, group, addr, size, log)  # arch_add_memory: high_memory rises at flush
    first = addr // mbs
    ids = range(first, first + size // mbs)
    for mb in ids:
        group.add_block(mb)
    log.added.extend(ids)
    if log.want():
        log.t(
            f"add_memory_driver_managed({addr:#x}, {size:#x}, "
            f"{group.resource_name!r}) -> 0: memory{first}"
            + (f"-memory{ids[-1]}" if len(ids) > 1 else "")
            + " added"
        )
    online_type = machine.config.auto_online
    if online_type != "offline":
        for mb in ids:
            online_pages(machine, group, mb, online_type, log, auto=True)
    return 0


def remove_memory(
    machine: MachineLike, group: MemoryGroup, addr: int, size: int, log: OperationLog
) -> int:
    """``remove_memory()``: every block must be offline (else -EBUSY); resources trimmed or
    split by ``release_mem_region_adjustable``; the memoryN devices deleted."""
    mbs = machine.memory_block_size
    ids = range(addr // mbs, (addr + size) // mbs)
    if any(group.blocks.get(mb, OFFLINE) != OFFLINE for mb in ids):
        return -EBUSY
    group.drop(ids)
    _queue_remove(machine, group, addr, size, log)
    log.removed.extend(ids)
    if log.want():
        log.t(
            f"remove_memory({addr:#x}, {size:#x}) -> 0: memory{ids[0]}"
            + (f"-memory{ids[-1]}" if len(ids) > 1 else "")
            + " removed"
        )
    return 0


def offline_and_remove_memory(
    machine: MachineLike, group: MemoryGroup, addr: int, size: int, log: OperationLog
) -> int:
    """``offline_and_remove_memory()`` (5.8+): offline every online block (remembering its
    zone); if one fails, online again those it offlined and fail with -EBUSY; else remove."""
    mbs = machine.memory_block_size
    done: list[tuple[int, str]] = []
    for mb in range(addr // mbs, (addr + size) // mbs):
        zone = group.blocks.get(mb, OFFLINE)
        if zone == OFFLINE:
            continue
        if offline_pages(machine, group, mb, log):
            for back, z in done:
                online_pages(machine, group, back, "online", log, zone=z)
            return -EBUSY
        done.append((mb, zone))
    return remove_memory(machine, group, addr, size, log)


def _region_conflict(tree: ResourceTree, start: int, size: int) -> str | None:
    """What ``__request_region`` would conflict with (it descends into non-busy resources
    that contain the range), checked without inserting anything."""
    end = start + size - 1
    node = tree.root
    while True:
        clash = tree.children_overlapping(node, start, end)
        if not clash:
            return None
        c = clash[0]
        if len(clash) > 1 or not c.contains(start, end):
            return f"partially overlaps {c.label()}"
        if c.busy:
            return f"conflicts with busy {c.label()}"
        node = c


# -- the resource changes of one operation, coalesced: with merge_system_ram_resource (5.10+)
# the tree is the same as after per-block requests, and revoking the coalesced range zaps
# exactly what per-block revocations would (each block's end pages lie in the SYSTEM_RAM
# parent). Before 5.10 every block gets its own request, as in the kernel.
def _queue_add(
    machine: MachineLike, group: MemoryGroup, addr: int, size: int, log: OperationLog
) -> None:
    end = addr + size - 1
    merges = machine.config.virtio_mem_merges_resources
    p = group.pending_add
    if p is not None and merges and p[1] + 1 == addr:
        group.pending_add = (p[0], end)
        return
    _flush_add(machine, group, log)
    group.pending_add = (addr, end)
    if not merges:
        _flush_add(machine, group, log)


def _queue_remove(
    machine: MachineLike, group: MemoryGroup, addr: int, size: int, log: OperationLog
) -> None:
    _flush_add(machine, group, log)
    end = addr + size - 1
    p = group.pending_remove
    if p is not None and (end + 1 == p[0] or p[1] + 1 == addr):
        group.pending_remove = (min(p[0], addr), max(p[1], end))
        return
    _flush_remove(machine, group)
    group.pending_remove = (addr, end)


def flush(machine: MachineLike, group: MemoryGroup, log: OperationLog) -> None:
    """Apply the group's coalesced resource changes (the end of a driver's pass)."""
    _flush_add(machine, group, log)
    _flush_remove(machine, group)


def _flush_add(machine: MachineLike, group: MemoryGroup, log: OperationLog) -> None:
    """The coalesced ``register_memory_resource`` (+ revocation, + merge)."""
    p = group.pending_add
    if p is None:
        return
    group.pending_add = None
    start, end = p
    tree = machine.tree
    res = tree.request_region(
        start, end - start + 1, group.resource_name, SYSTEM_RAM | F.SYSRAM_DRIVER_MANAGED
    )
    for line in mappings.revoke_iomem(machine, start, end):
        log.t(line)
    if machine.config.x86:
        # update_end_of_memory_vars() in x86-64 add_pages(): once for the coalesced range
        machine.raise_high_memory(end + 1)
    if machine.config.virtio_mem_merges_resources:
        tree.merge_system_ram_resource(res)


def _flush_remove(machine: MachineLike, group: MemoryGroup) -> None:
    """The coalesced ``release_mem_region_adjustable`` calls, one per resource the range
    spans under the resource the memory nests in."""
    p = group.pending_remove
    if p is None:
        return
    group.pending_remove = None
    start, end = p
    tree = machine.tree
    parent = _container(tree, start, end)
    for child in list(tree.children_overlapping(parent, start, end)):
        a, b = max(child.start, start), min(child.end, end)
        tree.release_mem_region_adjustable(a, b - a + 1)


def _container(tree: ResourceTree, start: int, end: int) -> Resource:
    """The deepest non-busy resource holding [start, end] (the device's ``virtioN``), where
    ``release_mem_region_adjustable`` descends to."""
    node = tree.root
    while True:
        inner = next(
            (
                c
                for c in tree.children_overlapping(node, start, end)
                if not c.busy and c.contains(start, end)
            ),
            None,
        )
        if inner is None:
            return node
        node = inner


# ----------------------------------------------------------------------------- online / offline
def online_pages(
    machine: MachineLike,
    group: MemoryGroup,
    mb: int,
    online_type: str,
    log: OperationLog,
    auto: bool = False,
    zone: str | None = None,
) -> int:
    """``online_memory_block()`` / ``memory_block_online()`` -> ``online_pages()``: zone by
    online type (``zone_for_pfn_range``), MEM_GOING_ONLINE (the driver may refuse), the
    online-page callback (plugged sub-blocks to the buddy, unplugged ones stay PG_offline),
    MEM_ONLINE."""
    mbs = machine.memory_block_size
    if zone is None:
        zone = zone_for_online_type(machine, mb * mbs, (mb + 1) * mbs, online_type)
    rc = group.owner.memory_going_online(mb)
    if rc:
        log.t(f"online_pages(memory{mb}): MEM_GOING_ONLINE -> NOTIFY_BAD -> -EPERM")
        return rc
    group.set_online(mb, zone, mbs)
    if log.want():
        how = f"auto_online_blocks={online_type}" if auto else online_type
        log.t(f"online_pages(memory{mb}) -> 0: zone {zone} ({how})")
    group.owner.memory_online(mb, zone)
    return 0


def offline_pages(machine: MachineLike, group: MemoryGroup, mb: int, log: OperationLog) -> int:
    """``offline_pages()`` for one memory block: MEM_GOING_OFFLINE (the driver drops its
    references on PG_offline pages so they are skipped), ``start_isolate_page_range()``, then
    ``do_migrate_range()`` for everything else; else MEM_OFFLINE.

    An unmovable page (``pin ... unmovable``) fails isolation (``has_unmovable_pages()``):
    -EBUSY, MEM_CANCEL_OFFLINE. A long-term pinned page is movable, so isolation succeeds, but
    its migration fails every time, and since 72b39cfc4d75 "mm, memory_hotplug: do not fail
    offlining too early" (4.15; every kernel with virtio-mem) ``offline_pages()`` retries until
    ``signal_pending()``: -EINTR once the writer is interrupted (the write hangs until then)."""
    pins: list[tuple[int, str]] = []
    for a, b in group.owner.memory_going_offline(mb):
        pins += pins_in(machine, a, b)
    unmovable = [addr for addr, kind in pins if kind == UNMOVABLE]
    if unmovable:
        log.t(
            f"offline_pages(memory{mb}): start_isolate_page_range: has_unmovable_pages() "
            f"finds page {min(unmovable):#x} (unmovable) -> -EBUSY (MEM_CANCEL_OFFLINE)"
        )
        return -EBUSY
    if pins:
        page = min(addr for addr, _ in pins)
        log.t(
            f"offline_pages(memory{mb}): do_migrate_range: page {page:#x} has a long-term pin "
            "(FOLL_LONGTERM), migration fails -> retry, again and again, until "
            "signal_pending() -> -EINTR (MEM_CANCEL_OFFLINE)"
        )
        return -EINTR
    group.set_offline(mb)
    if log.want():
        log.t(f"offline_pages(memory{mb}) -> 0")
    group.owner.memory_offline(mb)
    return 0


# ----------------------------------------------------------------------------- sysfs
@dataclass
class SysfsResult:
    """The answer to ``echo X > /sys/devices/system/memory/memoryN/state``: outcome 'DONE' or
    the errno word the write fails with, the kernel trace, and what the driver did after."""

    outcome: str
    message: str
    trace: list[str] = field(default_factory=list)
    # the owning driver's reports, of the driver's own type (a VmemReport for virtio-mem)
    reports: list[Any] = field(default_factory=list)


def parse_memory_block(text: str) -> int:
    """'memory40' (or '40') -> 40."""
    t = text.strip()
    if t.startswith("memory"):
        t = t[len("memory") :]
    # ASCII digits, at most 20 (a block number of a 64-bit address space): str.isdigit also
    # takes other scripts' digits, and int() refuses 4301 digits with a ValueError
    if not (t.isascii() and t.isdigit()) or len(t.lstrip("0")) > 20:
        raise DevmemError(f"bad memory block {quoted(text)}: expected memoryN, e.g. memory40")
    return int(t)


def group_of(machine: MachineLike, mb: int) -> MemoryGroup | None:
    """The memory group memory<mb> belongs to, or None when no such block exists: the group of
    the device whose region holds the block (found by bisection over the regions)."""
    dev = machine.device_at(mb * machine.memory_block_size)
    if dev is None:
        return None
    group = machine.memory_blocks.groups.get(dev.name)
    return group if group is not None and mb in group.blocks else None


def owning_group(machine: MachineLike, mb: int) -> MemoryGroup:
    """The memory group ``memory<mb>`` belongs to; DevmemError (one line) when no such memory
    block exists or it is boot memory (not modelled)."""
    group = group_of(machine, mb)
    if group is not None:
        return group
    addr = mb * machine.memory_block_size
    dev = machine.device_at(addr)
    if dev is not None:
        raise DevmemError(
            f"memory{mb} does not exist: {addr:#x} belongs to {dev.name} but is not "
            f"added to Linux (no /sys/devices/system/memory/memory{mb})"
        )
    raise DevmemError(
        f"memory{mb} is not virtio-mem memory: only memory blocks added by a virtio-mem "
        "driver are modelled (boot memory cannot be onlined/offlined here)"
    )


def sysfs_online(machine: MachineLike, mb: int, how: str | None = None) -> SysfsResult:
    """``state_store()`` writing ``online`` / ``online_kernel`` / ``online_movable`` to
    memoryN/state (drivers/base/memory.c ``device_online()`` -> ``online_pages()``), all
    kernels with memory hot-add: -EINVAL when already online. ``how`` is None (zone by
    policy), 'kernel' or 'movable'."""
    group = owning_group(machine, mb)
    online_type = {None: "online", "kernel": "online_kernel", "movable": "online_movable"}.get(how)
    if online_type is None:
        raise DevmemError(f"bad zone {how!r}: expected kernel or movable")
    owner = group.owner
    log = owner.begin_operation(f"echo {online_type} > /sys/devices/system/memory/memory{mb}/state")
    zone = group.blocks[mb]
    if zone != OFFLINE:
        log.t(f"device_online(memory{mb}): already online ({zone}) -> 1 -> -EINVAL")
        return SysfsResult(
            "EINVAL",
            f"memory{mb} is already online ({zone}): write fails with EINVAL",
            owner.end_operation().full_trace(),
        )
    if online_pages(machine, group, mb, online_type, log):
        return SysfsResult(
            "EPERM",
            f"memory{mb}: onlining denied by the virtio-mem driver",
            owner.end_operation().full_trace(),
        )
    zone = group.blocks[mb]  # before the work, which may remove the block again
    owner.run_work()
    report = owner.end_operation()
    msg = f"memory{mb} online ({zone})"
    if report.requests:
        msg += f"; {owner.name} driver ran:\n" + report.text()
    return SysfsResult("DONE", msg, report.full_trace(), [report])


def sysfs_offline(machine: MachineLike, mb: int) -> SysfsResult:
    """``state_store()`` writing ``offline`` to memoryN/state (``device_offline()`` ->
    ``offline_pages()``): -EINVAL when already offline, -EBUSY when an unmovable page fails
    isolation, -EINTR (after hanging until a signal) when a long-term pinned page never
    migrates."""
    group = owning_group(machine, mb)
    owner = group.owner
    log = owner.begin_operation(f"echo offline > /sys/devices/system/memory/memory{mb}/state")
    zone = group.blocks[mb]
    if zone == OFFLINE:
        log.t(f"device_offline(memory{mb}): already offline -> 1 -> -EINVAL")
        return SysfsResult(
            "EINVAL",
            f"memory{mb} is already offline: write fails with EINVAL",
            owner.end_operation().full_trace(),
        )
    rc = offline_pages(machine, group, mb, log)
    if rc == -EINTR:
        return SysfsResult(
            "EINTR",
            f"memory{mb} cannot be offlined: a long-term pinned page never migrates, so the "
            "real 'echo offline > memory"
            f"{mb}/state' would hang until interrupted (Ctrl-C) and then fail with EINTR; "
            "nothing changed",
            owner.end_operation().full_trace(),
        )
    if rc:
        return SysfsResult(
            "EBUSY",
            f"memory{mb} cannot be offlined: unmovable pages fail isolation -> EBUSY",
            owner.end_operation().full_trace(),
        )
    owner.run_work()
    report = owner.end_operation()
    return SysfsResult(
        "DONE",
        f"memory{mb} offline (was {zone}); valid_zones now {valid_zones(machine, mb)}",
        report.full_trace(),
        [report],
    )


# ----------------------------------------------------------------------------- pins
# Every access to the pins goes through the functions below (machine.pinned holds unmovable
# pages, machine.pinned_longterm FOLL_LONGTERM pins; inclusive, page-rounded, merged).
def pin_problem(machine: MachineLike, start: int, end: int) -> str | None:
    """Why [start, end] cannot be pinned, or None. Only pages in the page allocator can be
    pinned: the range must be busy System RAM and, inside a hot-pluggable device, in an added
    memory block that is online, and not PG_offline (an unplugged virtio-mem sub-block)."""
    pos = start
    while pos <= end:
        chain = machine.tree.chain_at(pos)
        ram = [r for r in chain if r.is_system_ram() and r.busy]
        if not ram:
            return f"{pos:#x} is not System RAM (nothing there can be pinned)"
        pos = min(r.end for r in ram) + 1
        if pos == 0:  # wrapped past 2^64
            break
    mbs = machine.memory_block_size
    groups = machine.memory_blocks.groups
    pos = start
    while pos <= end:  # the device regions the range meets, found by bisection
        region = machine.device_region_at(pos)
        if region is None:
            pos = machine.next_device_start(pos)
            continue
        lo, hi, dev = region
        a, b = max(start, lo), min(end, hi)
        group = groups.get(dev.name)
        blocks = group.blocks if group is not None else {}
        for mb in range(a // mbs, b // mbs + 1):
            zone = blocks.get(mb)
            if zone is None:
                return f"{max(a, mb * mbs):#x} is {dev.name} memory that is not added"
            if zone == OFFLINE:
                return f"{max(a, mb * mbs):#x} is in memory{mb}, which is offline"
            assert group is not None  # the block exists, so its group does
            why = group.owner.page_offline_reason(mb, max(a, mb * mbs), min(b, (mb + 1) * mbs - 1))
            if why:
                return why
        pos = hi + 1
    return None


def _movable_parts(machine: MachineLike, start: int, end: int) -> list[tuple[int, int, int]]:
    """The parts of [start, end] in memory blocks onlined to ZONE_MOVABLE: (start, end, mb)."""
    mbs = machine.memory_block_size
    out: list[tuple[int, int, int]] = []
    for mb in range(start // mbs, end // mbs + 1):
        if machine.memory_blocks.zone_of(mb) == MOVABLE:
            out.append((max(start, mb * mbs), min(end, (mb + 1) * mbs - 1), mb))
    return out


@dataclass
class PinResult:
    """What ``pin_pages`` did: the ranges now pinned, the ranges whose pages FOLL_LONGTERM
    migrated out of ZONE_MOVABLE first (pinned elsewhere, nothing here), and the trace."""

    pinned: list[tuple[int, int]]
    migrated: list[tuple[int, int, int]]
    trace: list[str]


def pin_pages(machine: MachineLike, start: int, end: int, kind: str) -> PinResult:
    """Pin [start, end] (page-rounded) as ``kind``: ``unmovable`` records the pages (a kernel
    allocation or pin the MM cannot move); ``longterm`` is ``pin_user_pages(FOLL_LONGTERM)``:
    since d1e153fea2a8 "mm/gup: migrate pinned pages out of movable zone" (5.13)
    ``check_and_migrate_movable_pages()`` first migrates pages in ZONE_MOVABLE elsewhere, so a
    long-term pin never sits in ZONE_MOVABLE; before 5.13 only CMA pages were migrated and the
    pin stays where it is. Validate with ``pin_problem`` first."""
    start &= ~0xFFF
    end |= 0xFFF
    if kind not in PIN_KINDS:
        raise DevmemError(f"bad pin kind {kind!r}: expected {' or '.join(PIN_KINDS)}")
    trace: list[str] = []
    migrated: list[tuple[int, int, int]] = []
    keep = [(start, end)]
    if kind == LONGTERM:
        trace.append(f"pin_user_pages({start:#x}-{end:#x}, FOLL_LONGTERM)")
        moves = _movable_parts(machine, start, end)
        # d1e153fea2a8 "mm/gup: migrate pinned pages out of movable zone" (5.13)
        if moves and machine.config.at_least(5, 13):
            migrated = moves
            for a, b, mb in moves:
                trace.append(
                    f"check_and_migrate_movable_pages(): {a:#x}-{b:#x} is in ZONE_MOVABLE "
                    f"(memory{mb}) -> migrated to a kernel zone first, the pin holds the copy"
                )
            keep = _subtract([(start, end)], [(a, b) for a, b, _ in moves])
        elif moves:
            trace.append(
                "check_and_migrate_cma_pages() [< 5.13]: only CMA pages are migrated; the pin "
                "stays in ZONE_MOVABLE"
            )
    for a, b in keep:
        _add(machine, a, b, kind)
    if keep:
        trace.append(f"pinned {', '.join(f'{a:#x}-{b:#x}' for a, b in keep)} ({kind})")
    return PinResult(keep, migrated, trace)


def _subtract(have: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(have)
    for ca, cb in cut:
        nxt: list[tuple[int, int]] = []
        for a, b in out:
            if b < ca or a > cb:
                nxt.append((a, b))
                continue
            if a < ca:
                nxt.append((a, ca - 1))
            if b > cb:
                nxt.append((cb + 1, b))
        out = nxt
    return out


def _pins(machine: MachineLike, kind: str) -> list[tuple[int, int]]:
    return machine.pinned if kind == UNMOVABLE else machine.pinned_longterm


# The pins of each kind are a sorted list of merged inclusive ranges (``machine.pinned``,
# ``machine.pinned_longterm``); the functions below are the only code that reads or changes
# them, each by bisection (engine/ranges.py), recording its inverse in the machine's journal.
def _add(machine: MachineLike, start: int, end: int, kind: str) -> None:
    ranges.add(_pins(machine, kind), start, end, machine.journal)


def add_pin(machine: MachineLike, start: int, end: int, kind: str = UNMOVABLE) -> None:
    """Record [start, end] (page-rounded) as pinned, merging with touching pins (no zone
    rules: ``pin_pages`` applies them)."""
    _add(machine, start & ~0xFFF, end | 0xFFF, kind)


def remove_pin(machine: MachineLike, start: int, end: int) -> int:
    """Unpin [start, end] (page-rounded), pins of every kind; returns how many bytes were
    pinned there."""
    start &= ~0xFFF
    end |= 0xFFF
    return sum(ranges.remove(_pins(machine, k), start, end, machine.journal) for k in PIN_KINDS)


def clear_pins(machine: MachineLike) -> None:
    """A new kernel (kexec, kdump) starts with no pins."""
    for kind in PIN_KINDS:
        pins = _pins(machine, kind)
        if pins:
            ranges.remove(pins, pins[0][0], pins[-1][1], machine.journal)


def pins_in(machine: MachineLike, start: int, end: int) -> list[tuple[int, str]]:
    """The lowest pinned address in [start, end] of each kind that has one, with the kind."""
    out: list[tuple[int, str]] = []
    for kind in PIN_KINDS:
        first = ranges.first_in(_pins(machine, kind), start, end)
        if first is not None:
            out.append((first, kind))
    return out


def first_pinned(machine: MachineLike, start: int, end: int) -> int | None:
    """Lowest pinned address in [start, end] (any kind), or None."""
    hits = pins_in(machine, start, end)
    return min(a for a, _ in hits) if hits else None


def pinned_ranges(machine: MachineLike, kind: str = UNMOVABLE) -> list[tuple[int, int]]:
    """Every pinned range [start, end] of ``kind``, ascending (a copy)."""
    return list(_pins(machine, kind))


def pin_count(machine: MachineLike) -> int:
    """How many separate pinned ranges there are (of every kind)."""
    return sum(len(_pins(machine, kind)) for kind in PIN_KINDS)


def restore_pins(machine: MachineLike, pins: list[tuple[int, int]], kind: str = UNMOVABLE) -> None:
    """Replace the pins of ``kind`` (a saved session): any order, merged."""
    if kind == UNMOVABLE:
        machine.pinned = merge_ranges(pins)
    else:
        machine.pinned_longterm = merge_ranges(pins)


def all_pins(machine: MachineLike) -> list[tuple[int, int, str]]:
    """Every pinned range with its kind, in address order (for listings and saved state)."""
    return sorted(
        [(a, b, kind) for kind in PIN_KINDS for a, b in _pins(machine, kind)],
        key=lambda p: (p[0], p[1]),
    )
