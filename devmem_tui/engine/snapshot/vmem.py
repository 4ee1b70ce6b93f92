"""virtio-mem devices from a snapshot: each ``virtioN`` resource whose children are all
``System RAM (virtio_mem)`` becomes a device (QEMU side) with its driver bound, in the state
the snapshot shows, built directly (not replayed), so that ``iomem`` prints the snapshot's
lines unchanged.

What the snapshot shows and what has to be assumed:

- /proc/iomem: the device region (``virtioN``: start and size) and the memory the driver
  added (``System RAM (virtio_mem)``, whole memory blocks);
- /sys/devices/system/memory: each added block's state and zone;
- the driver's lines in the kernel log, when given: device block size, requested size (and
  plugged size, but only as it was at the last config change: ``virtio_mem_refresh_config()``
  prints it before the driver (un)plugs the difference, so it is not used).

Without the log the device block size is QEMU's default (2 MiB) and the requested size is the
added memory. Added memory counts as plugged, except where the requested size is smaller:
then the driver unplugged sub-blocks without removing their block, and Sub Block Mode
unplugs from the highest sub-block of the highest block down
(``virtio_mem_sbm_unplug_any_sb_raw()``), which is what is assumed. The driver is idle (its
work item ran to completion).
"""

from __future__ import annotations

import re

from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, Resource
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.mm import hotplug
from devmem_tui.engine.mm.memory_blocks import DMA, DMA32, MOVABLE, NORMAL, OFFLINE
from devmem_tui.engine.snapshot.format import BlockRow, Snapshot, Value
from devmem_tui.engine.snapshot.settings import Notes
from devmem_tui.engine.units import fmt_size
from devmem_tui.engine.virtio_mem.bbm import BbmState, BigBlockMode
from devmem_tui.engine.virtio_mem.core import DEFAULT_OFFLINE_THRESHOLD, RESOURCE_NAME
from devmem_tui.engine.virtio_mem.device import DEFAULT_BLOCK_SIZE, MIN_BLOCK_SIZE, VirtioMemDevice
from devmem_tui.engine.virtio_mem.driver import VirtioMem, driver_accepts_unplugged_inaccessible
from devmem_tui.engine.virtio_mem.sbm import SbmState, SubBlockMode

_VIRTIO_NAME = re.compile(r"virtio\d")
_VIRTIO_LINE = re.compile(
    r"[ \t]*([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16})[ \t]*:[ \t]*(virtio\d+)"
    r"(?:[ \t]+\[[^\]\n]*\])?[ \t]*"
)
_ZONES = {"DMA": DMA, "DMA32": DMA32, "Normal": NORMAL, "Movable": MOVABLE}


def add_devices(snap: Snapshot, machine: Machine, notes: Notes) -> None:
    """Add a device for every virtio-mem region of the snapshot's map (see the module
    docstring). SnapshotError, naming the line, where the snapshot contradicts itself."""
    parents: list[tuple[int, Resource]] = []
    # found in the text (a regex over the whole section), not by walking a map of maybe half a
    # million resources
    text = snap.iomem
    lines_seen: set[int] = set()
    for hit in _VIRTIO_NAME.finditer(text):
        a = text.rfind("\n", 0, hit.start()) + 1
        if a in lines_seen:
            continue
        lines_seen.add(a)
        b = text.find("\n", hit.start())
        m = _VIRTIO_LINE.fullmatch(text, a, b if b >= 0 else len(text))
        if m is None:
            continue
        start, end, name = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        for r in machine.tree.chain_at(start):
            if (r.name, r.start, r.end) == (name, start, end):
                parents.append((int(name[6:]), r))
    parents.sort(key=lambda p: p[0])
    rows = {b.block: b for b in snap.blocks}
    for index, res in parents:
        if any(c.name != RESOURCE_NAME for c in res.children):
            notes.warnings.append(
                f"{res.name} holds resources other than {RESOURCE_NAME!r}: not a virtio-mem "
                "device, kept as plain resources"
            )
            continue
        cfg = machine.config
        if not cfg.virtio_mem_buildable:
            notes.warnings.append(
                f"{res.name} is a virtio-mem region, but devmem-tui's driver for this config "
                f"cannot be built ({cfg.virtio_mem_unbuildable_reason()}): kept as plain "
                "resources"
            )
            continue
        _Device(snap, machine, res, index, f"vmem{len(machine.vmem)}", rows, notes).add()
    found = {i for i, _ in parents}
    for index in sorted(set(snap.vmem) - found):
        first = min(v.line for v in snap.vmem[index].values())
        notes.warnings.append(
            f"{snap.where(first)}: the kernel log has lines of virtio{index}, but /proc/iomem "
            "has no such resource (its driver did not probe, or runs in a kdump kernel): not "
            "modelled"
        )


def iomem_line(snap: Snapshot, res: Resource) -> int:
    """The snapshot line of a resource of its [iomem] section (for messages)."""
    i = snap.iomem.find(f"{res.start:08x}-{res.end:08x} : {res.name}")
    return snap.iomem_line + snap.iomem.count("\n", 0, i) if i >= 0 else snap.iomem_line


class _Device:
    """One device being built: geometry, plugged memory, memory blocks, driver state."""

    def __init__(
        self,
        snap: Snapshot,
        machine: Machine,
        res: Resource,
        index: int,
        name: str,
        rows: dict[int, BlockRow],
        notes: Notes,
    ) -> None:
        self.snap, self.machine, self.res = snap, machine, res
        self.index, self.name, self.rows, self.notes = index, name, rows, notes
        self.log = snap.vmem.get(index, {})
        self.line = iomem_line(snap, res)
        self.mbs = machine.memory_block_size
        self.assumed: list[str] = []

    # ------------------------------------------------------------------ values
    def _number(self, key: str) -> tuple[int, Value] | None:
        v = self.log.get(key)
        if v is None:
            return None
        try:
            n = int(v.text, 16) if v.text.lower().startswith("0x") else int(v.text)
        except ValueError:
            raise self.snap.error(
                v.line, f"virtio{self.index}.{key} {v.text!r} is not a number (expected 0x...)"
            ) from None
        if not 0 <= n < 1 << 64:
            raise self.snap.error(v.line, f"virtio{self.index}.{key} is not a 64-bit value")
        return n, v

    def _block_size(self) -> int:
        res = self.res
        got = self._number("block_size")
        if got is not None:
            bs, v = got
            if bs < MIN_BLOCK_SIZE or bs & (bs - 1) or res.start % bs or res.size % bs:
                raise self.snap.error(
                    v.line,
                    f"virtio{self.index}.block_size {bs:#x} does not fit its region "
                    f"{res.start:#x}-{res.end:#x} (expected a power of two >= 1M that divides "
                    "its start and size)",
                )
            return bs
        # QEMU's default (2 MiB with THP); smaller only if the region says so
        bs = DEFAULT_BLOCK_SIZE
        while bs > MIN_BLOCK_SIZE and (res.start % bs or res.size % bs):
            bs //= 2
        if res.start % bs or res.size % bs:
            raise self.snap.error(
                self.line,
                f"{res.name} {res.start:#x}-{res.end:#x} is not aligned to 1M, the smallest "
                "virtio-mem device block",
            )
        self.assumed.append(f"device block size {fmt_size(bs)}")
        return bs

    def _memory_block_size(self) -> None:
        got = self._number("memory_block_size")
        if got is not None and got[0] != self.mbs:
            raise self.snap.error(
                got[1].line,
                f"virtio{self.index}.memory_block_size {got[0]:#x} differs from the memory "
                f"block size {self.mbs:#x} (block_size_bytes)",
            )

    def _added(self) -> list[int]:
        """The memory blocks the driver added, from the System RAM (virtio_mem) children."""
        mbs = self.mbs
        out: list[int] = []
        for c in self.res.children:
            if c.start % mbs or (c.end + 1) % mbs:
                raise self.snap.error(
                    iomem_line(self.snap, c),
                    f"{c.label()} is not made of whole {fmt_size(mbs)} memory blocks "
                    "(add_memory_driver_managed adds whole blocks)",
                )
            out.extend(range(c.start // mbs, (c.end + 1) // mbs))
        return out

    def _zone(self, mb: int) -> str:
        """memory<mb>'s zone (or OFFLINE) from sysfs; else what auto-onlining would pick."""
        row = self.rows.get(mb)
        cfg = self.machine.config
        if row is not None and row.state == "offline":
            return OFFLINE
        if row is not None and row.zones and row.zones[0] in _ZONES:
            return _ZONES[row.zones[0]]
        if row is None:
            what = f"memory{mb} missing from sysfs" if self.rows else "no memory block states"
        else:
            what = f"memory{mb} is {row.state} without a zone"
        if cfg.auto_online == "offline" and row is None:
            self.assumed.append(f"{what}: offline (auto_online_blocks offline)")
            return OFFLINE
        online_type = cfg.auto_online if cfg.auto_online != "offline" else "online"
        zone = hotplug.zone_for_online_type(
            self.machine, mb * self.mbs, (mb + 1) * self.mbs, online_type
        )
        self.assumed.append(f"{what}: online {zone}")
        return zone

    def _requested(self, added: int, bs: int) -> int:
        got = self._number("requested_size")
        if got is None:
            self.assumed.append(f"requested size {fmt_size(added)} (its added memory)")
            return added
        req, v = got
        if req % bs or req > self.res.size:
            raise self.snap.error(
                v.line,
                f"virtio{self.index}.requested_size {req:#x} is not a multiple of the device "
                f"block size {bs:#x} within the region size {self.res.size:#x}",
            )
        return req

    # ------------------------------------------------------------------ build
    def add(self) -> None:
        machine, res, mbs = self.machine, self.res, self.mbs
        cfg = machine.config
        self._memory_block_size()
        bs = self._block_size()
        added = self._added()
        zones = {mb: self._zone(mb) for mb in added}
        requested = self._requested(len(added) * mbs, bs)
        sb_size = max(bs, cfg.virtio_mem_subblock_size)
        sbm = sb_size < mbs
        if not sbm and not cfg.at_least(5, 11):
            self.notes.warnings.append(
                f"{res.name}: device block size {fmt_size(bs)} needs Big Block Mode, which "
                f"kernel {cfg.kernel} lacks (5.11+): kept as plain resources"
            )
            return
        self._check_log_mode(sbm, sb_size, max(bs, mbs))
        unit = mbs if sbm else max(bs, mbs)
        masks = self._plugged(added, requested, sb_size) if sbm else {}
        if sbm:  # the end of the highest plugged sub-block
            top = max((mb * mbs + m.bit_length() * sb_size for mb, m in masks.items()), default=0)
        else:
            top = max(((mb * mbs // unit + 1) * unit for mb in added), default=0)
        device = self._device(bs, requested, max(requested, top - res.start))
        vm = VirtioMem(machine, device, self.index)
        vm.probed = True
        vm.exclusive = cfg.virtio_parent_exclusive
        vm.offline_threshold = max(2 * mbs, DEFAULT_OFFLINE_THRESHOLD, 2 * unit)
        first = -(-res.start // unit)
        if sbm:
            vm.blockmode = self._sbm(vm, sb_size, first, zones, masks)
        else:
            vm.blockmode = self._bbm(vm, unit, first, added)
        if sbm:
            for mb, mask in masks.items():
                self._plug(device, mb, mask, sb_size)
        else:  # whole big blocks (a device block may be larger than a memory block)
            for bb in sorted({mb * mbs // unit for mb in added}):
                device.blocks.set_range((bb * unit - device.addr) // bs, unit // bs)
        vm.plugged_size = device.plugged_size
        vm.requested_size = requested
        vm.usable_region_size = device.usable_region_size
        end_addr = res.start + device.usable_region_size - 1  # virtio_mem_refresh_config
        vm.blockmode.last_usable_id = end_addr // unit - (1 if (end_addr + 1) % unit else 0)
        vm.offline_size = sum(mbs for z in zones.values() if z == OFFLINE)
        vm.group.restore((mb, 1, zones[mb]) for mb in sorted(zones))  # merged into runs
        vm.parent = res
        tree = machine.tree
        tree.set_flags(res, SYSTEM_RAM | (F.EXCLUSIVE if vm.exclusive else F(0)))
        if not cfg.virtio_mem_merges_resources:  # no MHP_MERGE_RESOURCE before 5.10
            for c in res.children:
                tree.set_flags(c, c.flags & ~F.SYSRAM_MERGEABLE)
        machine.add_device(self.name, vm)
        try:
            vm.check()
        except AssertionError as e:  # a state the driver could not be in
            raise self.snap.error(
                self.line, f"{res.name}: no driver state fits this snapshot ({e})"
            ) from None
        plugged = f"{fmt_size(device.plugged_size)} plugged of {fmt_size(res.size)}"
        self.notes.facts.append(
            f"{self.name} = {res.name} at {res.start:#x}: {plugged}, requested "
            f"{fmt_size(requested)}, {vm.blockmode.describe()}"
        )
        if self.assumed:
            self.notes.assumed.append(f"{self.name}: " + ", ".join(self.assumed))

    def _check_log_mode(self, sbm: bool, sb_size: int, bb_size: int) -> None:
        """The driver's own line says which mode it picked; the model's choice must agree."""
        for key, want, mode in (
            ("subblock_size", sb_size, sbm),
            ("big_block_size", bb_size, not sbm),
        ):
            got = self._number(key)
            if got is None:
                continue
            if not mode or got[0] != want:
                ours = f"subblock size {sb_size:#x}" if sbm else f"big block size {bb_size:#x}"
                self.notes.warnings.append(
                    f"{self.snap.where(got[1].line)}: the driver said {key.replace('_', ' ')} "
                    f"{got[0]:#x}; devmem-tui's driver for kernel {self.machine.config.kernel} "
                    f"uses {ours}"
                )

    def _plugged(self, added: list[int], requested: int, sb_size: int) -> dict[int, int]:
        """Sub Block Mode: each added block's plugged sub-blocks (a bit mask)."""
        per_mb = self.mbs // sb_size
        full = (1 << per_mb) - 1
        masks = {mb: full for mb in added}
        have = len(added) * self.mbs
        if requested >= have or not added:
            if requested > have:
                self.notes.facts.append(
                    f"{self.name}: {fmt_size(requested - have)} of its request not plugged yet"
                )
            return masks
        unplug = (have - requested) // sb_size  # whole sub-blocks (virtio_mem_sbm_unplug_request)
        top = max(added)
        k = min(unplug, per_mb - 1)
        if k:
            masks[top] = full >> k
            self.assumed.append(
                f"the top {fmt_size(k * sb_size)} of memory{top} unplugged (requested "
                f"{fmt_size(requested)} < added {fmt_size(have)})"
            )
        if unplug > k:
            self.assumed.append(
                f"{fmt_size((unplug - k) * sb_size)} more would be unplugged, but /proc/iomem "
                "still shows its blocks: counted as plugged"
            )
        return masks

    def _device(self, bs: int, requested: int, span: int) -> VirtioMemDevice:
        cfg = self.machine.config
        res = self.res
        try:
            # realize with a request that covers every plugged block (QEMU only plugs inside
            # the usable region, which never shrinks while the guest runs), then the request
            device = VirtioMemDevice.create(
                self.name,
                res.start,
                res.size,
                bs,
                min(-(-span // bs) * bs, res.size),
                cfg.arch,
                memdev=f"mem{len(self.machine.vmem)}",
                unplugged_inaccessible=driver_accepts_unplugged_inaccessible(cfg) or not cfg.x86,
            )
        except ValueError as e:
            raise self.snap.error(self.line, f"{res.name}: {e}") from None
        device.requested_size = requested
        device.migration = cfg.migration
        nid = self._number("nid")
        if nid is not None:
            device.node = nid[0]
        return device

    def _plug(self, device: VirtioMemDevice, mb: int, mask: int, sb_size: int) -> None:
        """Mark memory<mb>'s plugged sub-blocks (a bit mask) in the device's bitmap."""
        bs = device.block_size
        start = mb * self.mbs
        if mask == (1 << (self.mbs // sb_size)) - 1:
            device.blocks.set_range((start - device.addr) // bs, self.mbs // bs)
            return
        sb = 0
        while mask:
            if mask & 1:
                a = start + sb * sb_size
                device.blocks.set_range((a - device.addr) // bs, sb_size // bs)
            mask >>= 1
            sb += 1

    def _sbm(
        self,
        vm: VirtioMem,
        sb_size: int,
        first: int,
        zones: dict[int, str],
        masks: dict[int, int],
    ) -> SubBlockMode:
        bm = SubBlockMode(vm, sb_size, self.mbs // sb_size, first)
        last = max(zones, default=first - 1)
        for _ in range(first, last + 1):
            bm.grow()
        bm.next_id = last + 1
        for mb, zone in zones.items():
            partial = masks[mb] != bm.full_mask
            if zone == OFFLINE:
                st = SbmState.OFFLINE_PARTIAL if partial else SbmState.OFFLINE
            elif zone == MOVABLE:
                st = SbmState.MOVABLE_PARTIAL if partial else SbmState.MOVABLE
            else:
                st = SbmState.KERNEL_PARTIAL if partial else SbmState.KERNEL
            bm.set_state(mb, st)
            bm.set_mask(mb, masks[mb])
        return bm

    def _bbm(self, vm: VirtioMem, bb_size: int, first: int, added: list[int]) -> BigBlockMode:
        bm = BigBlockMode(vm, bb_size, first)
        per_bb = bb_size // self.mbs
        bbs = sorted({mb // per_bb for mb in added})
        for bb in bbs:
            missing = [mb for mb in range(bb * per_bb, (bb + 1) * per_bb) if mb not in added]
            if missing:
                raise self.snap.error(
                    self.line,
                    f"{self.res.name}: big block {bb} ({fmt_size(bb_size)}) is only partly "
                    f"added (memory{missing[0]} is not): Big Block Mode adds whole big blocks",
                )
        last = max(bbs, default=first - 1)
        for _ in range(first, last + 1):
            bm.grow()
        bm.next_id = last + 1
        for bb in bbs:
            bm.set_state(bb, BbmState.ADDED)
        return bm
