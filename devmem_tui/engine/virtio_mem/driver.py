"""The Linux virtio-mem driver (drivers/virtio/virtio_mem.c) as a virtio driver bound to one
device on a machine: probe (``virtio_mem_init_hotplug`` / ``virtio_mem_init_kdump``), config
changes, the retry timer, kexec/kdump and suspend, raw requests a host sends behind its back,
the views of its state for the ``blocks`` tables; and hot-adding a device to a machine
(``add_device``), the clock that fires the retry timers (``advance``), the devices by name.

The driver's run time (state, work item, requests, the Linux MM side) is ``core.VirtioMemCore``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem import mappings
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import MAX_CLOCK, EventKind, MachineLike
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, ResourceConflict
from devmem_tui.engine.mm import hotplug
from devmem_tui.engine.mm.memory_blocks import OFFLINE
from devmem_tui.engine.units import ENOSPC, EPERM, PAGE_SIZE, fmt_size
from devmem_tui.engine.virtio_mem.bbm import BigBlockMode
from devmem_tui.engine.virtio_mem.core import (
    DEFAULT_OFFLINE_THRESHOLD,
    RETRY_TIMER_MAX,
    VirtioMemCore,
)
from devmem_tui.engine.virtio_mem.device import (
    DEFAULT_BLOCK_SIZE,
    MAX_NB_BLOCKS,
    BlockState,
    Response,
    VirtioMemDevice,
)
from devmem_tui.engine.virtio_mem.report import (
    BlockRow,
    DeviceSummary,
    RawAnswer,
    VmemReport,
)
from devmem_tui.engine.virtio_mem.sbm import SubBlockMode


def driver_accepts_unplugged_inaccessible(cfg: KernelConfig) -> bool:
    """``virtio_mem_features[]`` has VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE since 61082ad6a6e1
    (mainline 5.16 only: ``KernelConfig.driver_accepts_unplugged_inaccessible``)."""
    return cfg.driver_accepts_unplugged_inaccessible


def driver_supports_suspend(cfg: KernelConfig) -> bool:
    """6.10+ (e4544c550eb1 "virtio-mem: support suspend+resume"): ``virtio_mem_freeze()``
    no longer answers every suspend with -EPERM ("save/restore not supported.")."""
    return cfg.at_least(6, 10)


def driver_accepts_persistent_suspend(cfg: KernelConfig) -> bool:
    """``virtio_mem_features[]`` has VIRTIO_MEM_F_PERSISTENT_SUSPEND: the same commit as
    ``driver_supports_suspend``."""
    return driver_supports_suspend(cfg)


class VirtioMem(VirtioMemCore):
    """One virtio-mem device (QEMU side) and the state of its Linux driver on ``machine``."""

    # ------------------------------------------------------------------ probe
    def probe(self) -> VmemReport:
        """``virtio_mem_probe()`` -> ``virtio_mem_init()`` -> ``virtio_mem_init_hotplug()`` /
        ``virtio_mem_init_kdump()``; then the first work-item run. x86-64 5.8+, arm64 5.18+."""
        self._begin(f"{self.name}: virtio_mem_probe({self.res_name})")
        cfg = self.machine.config
        dev = self.device
        if not cfg.virtio_mem_buildable:
            self.probe_error = f"driver not built: {cfg.virtio_mem_unbuildable_reason()}"
            self.trace(f"virtio_mem_probe: {self.probe_error}; the region stays a hole")
            return self._end()
        if dev.unplugged_inaccessible and not driver_accepts_unplugged_inaccessible(cfg):
            self.probe_error = (
                "feature negotiation failed: the device requires "
                "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, which this kernel's driver does not "
                "accept (QEMU virtio_mem_validate_features; use unplugged-inaccessible=off)"
            )
            self.trace(f"virtio_dev_probe: {self.probe_error} -> driver not bound")
            return self._end()
        # virtio_mem_init: read the config
        self.plugged_size = dev.plugged_size
        self.usable_region_size = dev.usable_region_size
        self.dev_info(f"start address: {dev.addr:#x}")
        self.dev_info(f"region size: {dev.region_size:#x}")
        self.dev_info(f"device block size: {dev.block_size:#x}")
        if self.kdump:
            if not cfg.at_least(5, 16):  # ce2814622e84 "virtio-mem: kdump mode to sanitize
                # /proc/vmcore access" (5.16); before, the driver refused to load in kdump
                self.probe_error = "disabled in kdump kernel (before 5.16) -> -EBUSY"
                self.dev_info(self.probe_error)
                self.kdump = False
                return self._end()
            self.dev_info("memory hot(un)plug disabled in kdump kernel")
            self.probed = True
            return self._end()
        # virtio_mem_init_hotplug
        mbs = self.mbs
        if dev.addr % mbs:
            self._warn("The alignment of the physical start address can make some memory unusable.")
        if dev.end % mbs:
            self._warn("The alignment of the physical end address can make some memory unusable.")
        self.offline_threshold = max(2 * mbs, DEFAULT_OFFLINE_THRESHOLD)
        sb_size = max(dev.block_size, cfg.virtio_mem_subblock_size)
        if sb_size < mbs:
            self.blockmode = SubBlockMode(self, sb_size, mbs // sb_size, -(-dev.addr // mbs))
        else:
            if not cfg.at_least(5, 11):
                # before Big Block Mode (4ba50cd3355d, 5.11) the driver refused such devices
                self.probe_error = (
                    f"device block size {dev.block_size:#x} too big for this "
                    "kernel (no Big Block Mode before 5.11) -> -EINVAL"
                )
                self.trace(f"virtio_mem_init: {self.probe_error}")
                return self._end()
            bb_size = max(dev.block_size, mbs)
            self.blockmode = BigBlockMode(self, bb_size, -(-dev.addr // bb_size))
            self.offline_threshold = max(2 * bb_size, self.offline_threshold)
        self.dev_info(f"memory block size: {mbs:#x}")
        self.dev_info(self.blockmode.geometry_line())
        if not self._create_resource():
            return self._end()
        if self.plugged_size:
            self.unplug_all_required = True
            self.dev_info("unplugging all memory is required")
        self.probed = True
        self.config_changed = True
        self._retry("probe")
        self._work()
        return self._end()

    def _create_resource(self) -> bool:
        """``virtio_mem_create_resource()``: ``__request_mem_region(addr, region_size,
        "virtioN", IORESOURCE_SYSTEM_RAM [| IORESOURCE_EXCLUSIVE since 5.16])``, revocation
        of /dev/mem mappings while it is busy, then BUSY cleared so memory can nest below."""
        dev = self.device
        self.exclusive = self.machine.config.virtio_parent_exclusive
        try:
            res = self.machine.tree.request_region(
                dev.addr, dev.region_size, self.res_name, SYSTEM_RAM, exclusive=self.exclusive
            )
        except ResourceConflict as e:
            self.probe_error = f"could not reserve device region ({e}) -> -EBUSY"
            self.dev_info("could not reserve device region")
            self.dev_info("reloading the driver is not supported")
            self.trace(f"__request_mem_region: {e}")
            return False
        flags = "IORESOURCE_SYSTEM_RAM" + (" | IORESOURCE_EXCLUSIVE" if self.exclusive else "")
        self.trace(
            f"__request_mem_region({dev.addr:#x}, {dev.region_size:#x}, {self.res_name!r}, "
            f"{flags}) -> ok"
        )
        # revoke_iomem() after a successful __request_region (5.8+, IO_STRICT)
        for line in mappings.revoke_iomem(self.machine, dev.addr, dev.end - 1):
            self.trace(line)
        # "The memory is not actually busy - make add_memory() work."
        self.machine.tree.set_flags(res, res.flags & ~F.BUSY)
        self.trace(f"virtio_mem_create_resource: {self.res_name} BUSY cleared")
        self.parent = res
        return True

    # ------------------------------------------------------------------ host side
    def resize(self, requested: int) -> VmemReport:
        """Host ``qom-set DEV requested-size`` (QEMU ``virtio_mem_set_requested_size``), the
        config notification (``virtio_mem_config_changed``) and the driver's work until it
        settles, stops with -ENOSPC, arms its retry timer or is broken."""
        dev = self.device
        old = dev.requested_size
        old_usable = dev.usable_region_size
        try:
            dev.set_requested_size(requested)
        except ValueError as e:
            raise DevmemError(f"{self.name}: {e}") from None
        log = self._begin(f"{self.name}: requested-size {fmt_size(old)} -> {fmt_size(requested)}")
        log.t(
            f"qemu virtio_mem_set_requested_size({requested:#x}): requested {old:#x} -> "
            f"{requested:#x}, usable {old_usable:#x} -> {dev.usable_region_size:#x}; "
            "virtio_notify_config"
        )
        self._config_changed()
        return self._end()

    def _config_changed(self) -> None:
        """``virtio_mem_config_changed()``: set config_changed and queue the work item."""
        if not self.probed:
            self.trace(
                f"no driver bound to {self.name}: nobody reads the config "
                f"({self.probe_error or 'not probed'})"
            )
            return
        if self.kdump:
            self.trace("virtio_mem_config_changed: kdump kernel, ignored")
            return
        self.config_changed = True
        self._retry("config change")
        self._work()

    # ------------------------------------------------------------------ timer
    def timer_expired(self) -> VmemReport:
        """``virtio_mem_timer_expired()``: queue the work and double the next delay (max
        300 s); the work then runs (and resets the delay to 50 s if it succeeds)."""
        self._begin(f"{self.name}: retry timer fired at t={self.machine.clock:g}s")
        self.timer_deadline = None
        self._retry("retry timer")
        self.retry_timer_s = min(self.retry_timer_s * 2, RETRY_TIMER_MAX)
        self._work()
        return self._end()

    # ------------------------------------------------------------------ raw requests
    def raw_request(self, kind: str, addr: int = 0, size: int = 0) -> RawAnswer:
        """A request put on the device's queue behind the driver's back (a debugging host):
        answered exactly as QEMU answers it. The driver is not told: its plugged_size is
        re-read (WARN, then adopted) at the next config refresh, its sub-block bitmap never."""
        dev = self.device
        self._sync_migration()
        kind = kind.upper()
        if kind == "UNPLUG_ALL":
            ans = dev.unplug_all()
            trace = [f"virtio_mem_unplug_all: {ans.reason}"]
            outcome = ans.response.name
            all_warns = (
                self._raw_warnings(dev.addr, dev.end - 1, unplug=True)
                if ans.response == Response.ACK
                else []
            )
            return RawAnswer(outcome, f"UNPLUG_ALL -> {outcome}", trace, all_warns)
        bs = dev.block_size
        call = f"{kind}({addr:#x}, {fmt_size(size)})"
        reason = ""
        if size % bs:
            reason = (
                f"size {size:#x} is not a multiple of the device block size {bs:#x}: no "
                "nb_blocks expresses it"
            )
        elif size // bs > MAX_NB_BLOCKS:
            reason = (
                f"{size // bs} blocks do not fit the 16-bit nb_blocks field (max "
                f"{MAX_NB_BLOCKS}); split the request"
            )
        elif addr + size > (1 << 64):
            reason = f"{addr:#x}+{size:#x} overflows 64 bits"
        if reason:
            return RawAnswer("ERROR", f"{call} -> ERROR ({reason})", [reason])
        nb = size // bs
        call = f"{kind}({addr:#x}, {nb})"
        if kind == "STATE":
            ans = dev.state(addr, nb)
            if ans.response == Response.ACK and ans.state is not None:
                return RawAnswer(ans.state.name, f"{call} -> ACK {ans.state.name}", [ans.reason])
            return RawAnswer(
                ans.response.name,
                f"{call} -> {ans.response.name} ({ans.reason.rsplit(' -> ', 1)[0]})",
                [ans.reason],
            )
        ans = dev.plug(addr, nb) if kind == "PLUG" else dev.unplug(addr, nb)
        warns: list[str] = []
        msg = f"{call} -> {ans.response.name}"
        if ans.response == Response.ACK:
            warns = self._raw_warnings(addr, addr + size - 1, unplug=kind == "UNPLUG")
            msg += f" (device plugged {fmt_size(dev.plugged_size)})"
        else:
            msg += f" ({ans.reason.rsplit(' -> ', 1)[0]})"
        self.machine.emit(
            EventKind.BLOCKS, self.name, plugged=dev.plugged_size, requested=dev.requested_size
        )
        return RawAnswer(ans.response.name, msg, [ans.reason], warns)

    def _raw_warnings(self, start: int, end: int, unplug: bool) -> list[str]:
        if not self.probed or self.kdump:
            return []
        out = [
            f"the {self.res_name} driver did not send this: it still believes "
            f"{fmt_size(self.plugged_size)} plugged (device: "
            f"{fmt_size(self.device.plugged_size)}) until the next config refresh (WARN, "
            "then it adopts the device's plugged_size); its sub-block bitmap stays as it was"
        ]
        if unplug:  # the online blocks of the range, run by run
            used = [
                (a, b)
                for a, b, zone in self.group.zone_runs(start // self.mbs, end // self.mbs + 1)
                if zone != OFFLINE
            ]
            n = sum(b - a for a, b in used)
            if used:
                out.append(
                    f"memory{used[0][0]}"
                    + (f" (+{n - 1} more)" if n > 1 else "")
                    + " is online RAM the kernel uses: it just lost its backing "
                    "memory (the guest would crash or read garbage)"
                )
        return out

    # ------------------------------------------------------------------ views
    def block_row(self, mb: int) -> BlockRow:
        """Memory block mb as lsmem and the driver see it (a row of the ``blocks`` table)."""
        zone = self.mm.get(mb)
        if zone is None:
            usable_end = self.device.addr + self.device.usable_region_size
            state = "not added" if (mb + 1) * self.mbs <= usable_end else "unusable"
            zones = "-"
        else:
            state = "offline" if zone == OFFLINE else "online"
            zones = hotplug.valid_zones(self.machine, mb) if zone == OFFLINE else zone
        plugged, strip, partial = self.blockmode.plugged_view(mb, zone is not None)
        return BlockRow(state, zones, self.sbm_state_name(mb), plugged, strip, partial)

    def block_segments(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Memory blocks lo..hi-1 as stretches [a, b) whose rows of the ``blocks`` table are
        alike: cut where the zone, the driver's block state or sub-block mask, the usable end
        or a zone span's end (valid_zones of offline blocks) changes. From the run indexes:
        O(runs), not O(blocks)."""
        mbs = self.mbs
        edges = {lo, hi}
        edges.update(a for a, _b in self.group.runs.runs(lo, hi))
        if self.probed and not self.kdump:
            edges.update(self.blockmode.block_edges(lo, hi))
        edges.add((self.device.addr + self.device.usable_region_size) // mbs)
        for zlo, zhi in hotplug.zone_spans(self.machine).values():
            edges.update((zlo // mbs, zlo // mbs + 1, (zhi - 1) // mbs, (zhi - 1) // mbs + 1))
        cut = sorted(e for e in edges if lo <= e <= hi)
        return list(zip(cut, cut[1:], strict=False))

    def summary(self) -> DeviceSummary:
        """Totals of the device's memory blocks (the lines under the ``blocks`` table), run
        by run."""
        mbs = self.mbs
        online = offline = mem_total = 0
        live = self.probed and not self.kdump
        for a, b, zone in self.group.zone_runs():
            if zone == OFFLINE:
                offline += (b - a) * mbs
            else:
                online += (b - a) * mbs
                if live:
                    mem_total += self.blockmode.plugged_bytes_in(a, b)
        if not self.probed:
            mode = f"no driver: {self.probe_error or 'not probed'}"
        elif self.kdump:
            mode = "kdump mode"
        else:
            mode = self.blockmode.describe()
        return DeviceSummary(mbs, online, offline, mem_total, mode)

    def info(self) -> dict[str, Any]:
        """``info memory-devices`` fields plus the driver's view."""
        d = self.device.info()
        d["usable"] = self.device.usable_region_size
        d["mode"] = self.mode if self.probed and not self.kdump else "-"
        d["driver"] = self.driver_state()
        d["resource"] = self.res_name
        return d

    def driver_state(self) -> str:
        if not self.probed:
            return f"none ({self.probe_error or 'not probed'})"
        if self.kdump:
            return "kdump mode (hot(un)plug disabled)"
        if self.broken:
            return f"broken ({self.stop_reason})"
        if self.timer_deadline is not None:
            return f"waiting for retry timer (t={self.timer_deadline:g}s)"
        if self.livelock:
            return "livelocked (NACK loop)"
        if self.stop_rc == -ENOSPC:
            return "stopped: -ENOSPC"
        return "ready"

    # ------------------------------------------------------------------ kexec / kdump / PM
    def forget(self) -> None:
        """The old kernel is gone (kexec, or a crash into a kdump kernel): its memory blocks,
        its ``virtioN`` and ``System RAM (virtio_mem)`` resources, the pins in the device and
        the driver's state; QEMU's device and bitmap stay (no system reset)."""
        hotplug.flush(self.machine, self.group, self._log_or_new())
        if self.parent is not None and self.parent.parent is not None:
            self.machine.tree.release(self.parent)
        dev = self.device
        hotplug.remove_pin(self.machine, dev.addr, dev.end - 1)
        self.group.reset()
        self._reset()

    def kexec(self, kdump: bool = False) -> VmemReport:
        """Boot a new kernel without a system reset (kexec, or a kdump crash kernel):
        ``forget``, then the new driver probes with plugged_size != 0 and first sends
        UNPLUG_ALL (``unplug_all_required``), or in kdump mode adds nothing and answers
        ``pfn_is_ram`` (5.16+). Only this device's part of the machine is rebooted here;
        lifecycle.kexec reboots the whole machine."""
        self.forget()
        self.kdump = kdump
        return self.probe()

    def vmcore_pfn_is_ram(self, pfn: int) -> tuple[bool, str]:
        """``virtio_mem_vmcore_pfn_is_ram()`` (kdump kernel, 5.16+): outside the device ->
        true; nothing plugged at probe -> false; else a STATE request for the device block
        (last answer cached) -> true only if PLUGGED."""
        addr = pfn << 12
        dev = self.device
        fn = f"virtio_mem_vmcore_pfn_is_ram({pfn:#x})"
        if not (dev.addr <= addr and addr + PAGE_SIZE <= dev.end):
            return True, f"{fn}: outside the device -> true"
        if not self.plugged_size:
            return False, f"{fn}: plugged_size 0 -> false"
        blk = addr - (addr - dev.addr) % dev.block_size
        if blk != self.last_block_addr:
            ans = dev.state(blk, 1)
            st = ans.state.name if ans.state is not None else ""
            self.last_block_plugged = (
                ans.response == Response.ACK and ans.state == BlockState.PLUGGED
            )
            self.last_block_addr = blk
            return self.last_block_plugged, (
                f"{fn}: STATE({blk:#x}, 1) -> {ans.response.name}"
                f"{' ' + st if st else ''} -> "
                f"{str(self.last_block_plugged).lower()}"
            )
        return self.last_block_plugged, f"{fn}: cached -> {str(self.last_block_plugged).lower()}"

    def hibernate(self) -> tuple[int, str]:
        """``virtio_mem_pm_notifier_cb()``: PM_HIBERNATION_PREPARE / PM_RESTORE_PREPARE are
        vetoed (NOTIFY_BAD -> -EPERM) by every bound driver."""
        if not self.probed or self.kdump:
            return 0, "no virtio-mem driver bound: nothing vetoes hibernation"
        return -EPERM, f"virtio_mem {self.res_name}: hibernation is not supported."

    def suspend(self, persistent_suspend: bool | None = None, to_idle: bool = False) -> VmemReport:
        """``virtio_mem_freeze()`` / ``virtio_mem_restore()``: before 6.10 freeze always fails
        (dev_err "save/restore not supported.", -EPERM); since, suspend-to-RAM with memory
        plugged needs VIRTIO_MEM_F_PERSISTENT_SUSPEND, negotiated when the device offers it
        (QEMU offers it when the machine can wake up from suspend) and the driver accepts it
        (``persistent_suspend`` None = as negotiated); otherwise the device is reset (blocks
        kept), QEMU's wakeup reset keeps the bitmap, and restore triggers a config refresh.
        A refused freeze sets ``rc`` -EPERM on the report."""
        log = self._begin(f"{self.name}: suspend")
        if not self.probed or self.kdump:
            log.t("no virtio-mem driver bound: suspend proceeds")
            return self._end()
        cfg = self.machine.config
        if not driver_supports_suspend(cfg):
            self.dev_info("save/restore not supported.")
            log.warnings.append("virtio_mem_freeze -> -EPERM (no suspend support before 6.10)")
            log.rc = -EPERM
            return self._end()
        if persistent_suspend is None:
            persistent_suspend = self.device.persistent_suspend and (
                driver_accepts_persistent_suspend(cfg)
            )
        if not to_idle and self.plugged_size and not persistent_suspend:
            log.warnings.append("suspending with plugged memory is not supported -> -EPERM")
            self.dev_info("suspending with plugged memory is not supported")
            log.rc = -EPERM
            return self._end()
        log.t("virtio_mem_freeze: virtio_reset_device (blocks stay plugged), del_vqs")
        ans = self.device.system_reset(wakeup=True)
        log.t(f"resume: {ans.reason}")
        log.t("virtio_mem_restore: init_vq, virtio_mem_config_changed")
        self._config_changed()
        return self._end()


# ----------------------------------------------------------------------------- entry points
def add_device(
    machine: MachineLike,
    name: str,
    addr: int,
    region_size: int,
    block_size: int = DEFAULT_BLOCK_SIZE,
    requested_size: int = 0,
    index: int | None = None,
    unplugged_inaccessible: bool | None = None,
    memdev: str | None = None,
    persistent_suspend: bool = False,
) -> VirtioMem:
    """Hot-add a virtio-mem device (QEMU ``device_add virtio-mem-pci``) and, if the config can
    build the driver, probe it. Validates everything before changing anything: DevmemError
    (one line) for a bad name, geometry, or an overlap with RAM, resources or another device.

    ``unplugged_inaccessible`` None picks what a working setup has: on, unless the kernel's
    driver cannot accept the feature (before 5.16), which needs a QEMU machine type <= 6.2.
    ``persistent_suspend``: QEMU offers VIRTIO_MEM_F_PERSISTENT_SUSPEND (QEMU 9.2+, when the
    machine can wake up from suspend-to-RAM)."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise DevmemError(f"bad device name {name!r}: use letters, digits, - and _")
    others = devices(machine)
    if name in machine.vmem:
        raise DevmemError(f"a virtio-mem device named {name!r} already exists")
    cfg = machine.config
    if unplugged_inaccessible is None:
        unplugged_inaccessible = driver_accepts_unplugged_inaccessible(cfg) or not cfg.x86
    arch = "x86_64" if cfg.x86 else "arm64"
    taken_mem = {vm.device.memdev for vm in others}
    if memdev is None:
        memdev = next(f"mem{i}" for i in range(len(taken_mem) + 1) if f"mem{i}" not in taken_mem)
    try:
        device = VirtioMemDevice.create(
            name,
            addr,
            region_size,
            block_size,
            requested_size,
            arch,
            memdev=memdev,
            unplugged_inaccessible=unplugged_inaccessible,
            persistent_suspend=persistent_suspend,
        )
    except ValueError as e:
        raise DevmemError(f"{name}: {e}") from None
    if requested_size > region_size:
        raise DevmemError(
            f"{name}: requested-size {requested_size:#x} exceeds the memory "
            f"backend size {region_size:#x}"
        )
    end = addr + region_size - 1
    if end >= 1 << cfg.phys_bits:
        raise DevmemError(
            f"{name}: region ends at {end:#x}, beyond the {cfg.phys_bits}-bit "
            "physical address space"
        )
    for vm in others:
        d = vm.device
        if d.addr <= end and addr < d.end:
            raise DevmemError(
                f"{name}: region {addr:#x}-{end:#x} overlaps {d.name} ({d.addr:#x}-{d.end - 1:#x})"
            )
    clash = machine.tree.overlapping(addr, end)
    if clash:
        raise DevmemError(
            f"{name}: region {addr:#x}-{end:#x} overlaps {clash[0].label()}: "
            "device memory needs a free part of the physical address space"
        )
    used = {vm.index for vm in others}
    if index is None:  # the first virtioN no device uses and no resource is named (name index)
        has_name = machine.tree.has_name
        index = next(i for i in itertools.count() if i not in used and not has_name(f"virtio{i}"))
    elif index in used or index < 0:
        raise DevmemError(f"virtio{index} is already used by another virtio-mem device")
    vm = VirtioMem(machine, device, index)
    vm.device.migration = bool(cfg.migration)
    machine.add_device(name, vm)
    vm.last_probe = vm.probe()
    return vm


def advance(machine: MachineLike, seconds: float) -> list[VmemReport]:
    """Advance ``machine.clock`` by seconds, firing every due retry timer in time order.

    A timer that keeps failing the same way at its maximal period (300 s) is fast-forwarded:
    its remaining expiries would repeat the same run, so they are counted, not replayed."""
    if seconds < 0:
        raise DevmemError("cannot wait a negative time")
    target = machine.clock + seconds
    if not target <= MAX_CLOCK:  # also NaN; past it a float cannot step timers (endless loop)
        raise DevmemError(
            f"cannot wait {seconds:g}s: the simulated clock would pass "
            f"{MAX_CLOCK:g}s (about 31,700 years)"
        )
    reports: list[VmemReport] = []
    while True:
        due = [
            (vm.timer_deadline, vm.name)
            for vm in devices(machine)
            if vm.timer_deadline is not None and vm.timer_deadline <= target
        ]
        if not due:
            break
        deadline, name = min(due)
        vm = vmem_of(machine, name)
        machine.clock = deadline
        before = (vm.device.plugged_size, len(vm.mm), vm.retry_timer_s)
        report = vm.timer_expired()
        reports.append(report)
        after = (vm.device.plugged_size, len(vm.mm), vm.retry_timer_s)
        if (
            before == after
            and vm.retry_timer_s == RETRY_TIMER_MAX
            and vm.timer_deadline is not None
            and vm.timer_deadline <= target
        ):
            skips = math.floor((target - vm.timer_deadline) / RETRY_TIMER_MAX) + 1
            vm.timer_deadline += skips * RETRY_TIMER_MAX
            report.pending.insert(
                0,
                f"{skips} more identical retries every "
                f"{RETRY_TIMER_MAX:g}s until t={target:g}s (not replayed)",
            )
            report.runs += skips
    machine.clock = target
    machine.emit(EventKind.CLOCK, f"{target:g}", seconds=target)
    return reports


def devices(machine: MachineLike) -> list[VirtioMem]:
    """The machine's virtio-mem devices, in the order they were added."""
    return [vm for vm in machine.vmem.values() if isinstance(vm, VirtioMem)]


def vmem_of(machine: MachineLike, name: str) -> VirtioMem:
    vm = machine.vmem.get(name)
    if not isinstance(vm, VirtioMem):
        known = ", ".join(machine.vmem) or "none"
        raise DevmemError(f"unknown virtio-mem device {name!r} (devices: {known})")
    return vm
