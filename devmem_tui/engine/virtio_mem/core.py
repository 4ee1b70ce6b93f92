"""The run time of the Linux virtio-mem driver (drivers/virtio/virtio_mem.c) on one device:
its bookkeeping, the work item (``virtio_mem_run_wq``) with the requests it sends, and the
driver's side of Linux MM: adding and removing memory through mm/hotplug.py and answering its
memory notifier. ``driver.VirtioMem`` builds on it (probe, config changes, timer, PM, views).

Three layers are kept apart:

1. the device (QEMU): ``VirtioMemDevice`` with its bitmap stored as runs (device.py);
2. the driver's own tracking: its mode (sbm.py or bbm.py, one state byte per block) plus
   ``plugged_size``, ``offline_size``, the retry timer, the ``broken`` flag... (here);
3. Linux MM: the memory blocks ``memoryN`` of the driver's memory group and the iomem
   resources (``virtioN`` parent, ``System RAM (virtio_mem)`` children), changed through
   mm/hotplug.py, which calls back into the driver as its memory notifier.

Nothing is stored per device block: a 1 TiB device of 2 MiB blocks (524,288 blocks) is one
device run when fully plugged and 8192 memory-block bytes + 8192 small ints in the driver.

The kernel's work item runs synchronously here: a host change (``resize``), a timer expiry
(``advance``), a sysfs onlining... queue the work and ``_work`` runs it until idle, collecting
every request, resource change and trace line in a ``VmemReport``.
"""

from __future__ import annotations

from devmem_tui.engine.interfaces import EventKind, MachineLike
from devmem_tui.engine.iomem.tree import Resource
from devmem_tui.engine.journal import Journaled, attach
from devmem_tui.engine.mm import hotplug
from devmem_tui.engine.mm.memory_blocks import MOVABLE, OFFLINE, MemoryGroup
from devmem_tui.engine.runs import RunMap
from devmem_tui.engine.units import (
    EAGAIN,
    EBUSY,
    EINVAL,
    ENOMEM,
    ENOSPC,
    ETXTBSY,
    GiB,
    errno_name,
    fmt_size,
)
from devmem_tui.engine.virtio_mem.blockmode import BlockMode
from devmem_tui.engine.virtio_mem.device import Response, VirtioMemDevice
from devmem_tui.engine.virtio_mem.report import RequestRecord, VmemReport
from devmem_tui.engine.virtio_mem.sbm import SubBlockMode

RETRY_TIMER_MIN = 50.0  # VIRTIO_MEM_RETRY_TIMER_MIN_MS / 1000
RETRY_TIMER_MAX = 300.0  # VIRTIO_MEM_RETRY_TIMER_MAX_MS / 1000
DEFAULT_OFFLINE_THRESHOLD = 1 * GiB  # VIRTIO_MEM_DEFAULT_OFFLINE_THRESHOLD
RESOURCE_NAME = "System RAM (virtio_mem)"
MAX_RUNS = 1000  # safety bound on work-item re-queues inside one operation


class VirtioMemCore(Journaled):
    """The driver's run time on one device: the state of ``struct virtio_mem``, the report of
    the current operation, the work item and its requests, and the Linux MM side (memory
    group owner and memory notifier). ``driver.VirtioMem`` adds probing and the rest."""

    def __init__(self, machine: MachineLike, device: VirtioMemDevice, index: int) -> None:
        # Every change of the driver, its device and its memory group is a change of the
        # machine: recorded in its undo journal while a transaction is open.
        journal = getattr(machine, "journal", None)
        attach(self, journal)
        device.attach(journal)
        self.machine = machine
        self.device = device
        self.index = index
        self.res_name = f"virtio{index}"
        # Linux MM: the memory blocks this driver added (registered with the device)
        self.group = MemoryGroup(self, RESOURCE_NAME)
        attach(self.group, journal)
        self._reset()

    def _reset(self) -> None:
        """The driver state of a kernel that has not probed the device yet."""
        # driver binding
        self.probed = False  # driver bound to the device (hotplug or kdump mode)
        self.probe_error = ""  # why no driver runs, when it does not
        self.kdump = False
        self.exclusive = False  # parent got IORESOURCE_EXCLUSIVE (5.16+ / v1-2021)
        self.blockmode: BlockMode = SubBlockMode(self)  # set by virtio_mem_init_hotplug
        # driver bookkeeping (struct virtio_mem)
        self.offline_size = 0
        self.offline_threshold = DEFAULT_OFFLINE_THRESHOLD
        self.plugged_size = 0
        self.requested_size = 0
        self.usable_region_size = 0
        self.unplug_all_required = False
        self.config_changed = False
        self.broken = False
        self.retry_timer_s = RETRY_TIMER_MIN
        self.timer_deadline: float | None = None
        self.queued = False
        self.wq_active = False
        self.stop_rc = 0
        self.stop_reason = ""
        self.livelock = False
        self.last_block_addr: int | None = None  # kdump STATE cache
        self.last_block_plugged = False
        self.parent: Resource | None = None
        self.last_probe: VmemReport | None = None
        # transient
        self._log: VmemReport | None = None
        self._depth = 0

    # ------------------------------------------------------------------ small helpers
    @property
    def name(self) -> str:
        return self.device.name

    @property
    def mbs(self) -> int:
        return self.machine.memory_block_size

    @property
    def mm(self) -> RunMap:
        """Linux MM's memory blocks of this device: memoryN -> zone or 'offline'."""
        return self.group.blocks

    @property
    def mode(self) -> str:
        return self.blockmode.name

    def covers(self, addr: int) -> bool:
        return self.device.addr <= addr < self.device.end

    def region(self) -> tuple[int, int]:
        return self.device.addr, self.device.end - 1

    def _log_or_new(self) -> VmemReport:
        if self._log is None:
            self._log = VmemReport(self.name, "")
        return self._log

    def trace(self, line: str) -> None:
        self._log_or_new().t(line)

    def want_trace(self) -> bool:
        return self._log_or_new().want()

    def dev_info(self, msg: str) -> None:
        """dev_info() line, prefixed like dmesg."""
        self.trace(f"virtio_mem {self.res_name}: {msg}")

    def _warn(self, msg: str) -> None:
        log = self._log_or_new()
        log.warnings.append(msg)
        log.trace.append(f"virtio_mem {self.res_name}: WARNING: {msg}")

    def _sync_migration(self) -> None:
        """``migration`` in the config mirrors into the device (virtio_mem_is_busy)."""
        self.device.migration = bool(self.machine.config.migration)

    def pinned_at(self, start: int, end: int) -> int | None:
        return hotplug.first_pinned(self.machine, start, end)

    # ------------------------------------------------------------------ operation framing
    def _begin(self, action: str) -> VmemReport:
        """Start an operation (nested calls share the outer operation's report)."""
        if self._depth == 0 or self._log is None:
            self._log = VmemReport(self.name, action)
        self._depth += 1
        return self._log

    def _end(self) -> VmemReport:
        """Flush coalesced resource changes, explain what is still pending, emit events."""
        self._depth = max(0, self._depth - 1)
        log = self._log_or_new()
        if self._depth:
            return log
        hotplug.flush(self.machine, self.group, log)
        self._log = None
        dev = self.device
        log.requested = dev.requested_size
        log.plugged = dev.plugged_size
        log.driver_plugged = self.plugged_size if self.probed else dev.plugged_size
        log.pending = self.pending_reasons()
        self.machine.emit(
            EventKind.BLOCKS, self.name, plugged=dev.plugged_size, requested=dev.requested_size
        )
        return log

    # the framing of an operation the MM starts (memory_blocks.GroupOwner)
    begin_operation = _begin
    end_operation = _end

    def run_work(self) -> None:
        self._work()

    def pending_reasons(self) -> list[str]:
        """Why the device is not (yet) at its requested size, in words."""
        dev = self.device
        if not self.probed:
            if dev.plugged_size != dev.requested_size:
                return [f"no driver: {self.probe_error or 'not probed'}"]
            return []
        if self.kdump:
            return [
                "kdump kernel: memory hot(un)plug disabled, the driver only answers "
                "vmcore pfn_is_ram() queries"
            ]
        if self.broken:
            return [f"device broken ({self.stop_reason}): the driver processes nothing any more"]
        out: list[str] = []
        if self.timer_deadline is not None:
            delay = self.timer_deadline - self.machine.clock
            out.append(
                f"retry timer armed ({self.stop_reason}): next attempt at "
                f"t={self.timer_deadline:g}s (in {delay:g}s)"
            )
        elif self.livelock:
            out.append(self.stop_reason)
        elif self.stop_rc == -ENOSPC:
            out.append(f"-ENOSPC: {self.stop_reason}")
        elif dev.plugged_size != dev.requested_size:
            diff = abs(dev.requested_size - dev.plugged_size)
            unit = self.blockmode.plug_unit
            if diff < unit:
                out.append(
                    f"the remaining {fmt_size(diff)} is smaller than a "
                    f"{self.blockmode.plug_unit_name} ({fmt_size(unit)}): never (un)plugged, "
                    "the driver is done"
                )
            elif self.plugged_size != dev.plugged_size:
                out.append(
                    "the driver's plugged_size differs from the device's (raw requests "
                    "bypassed it); it adopts the device's value at the next config "
                    "change (vmem resize)"
                )
            else:
                out.append(f"{fmt_size(diff)} still to (un)plug")
        return out

    # ------------------------------------------------------------------ the work item
    def _retry(self, why: str) -> None:
        """``virtio_mem_retry()``: queue the work item (runs after the current run ends)."""
        if self.probed and not self.kdump:
            self.queued = True

    def _work(self) -> None:
        """The workqueue: run ``virtio_mem_run_wq`` while it is queued (removals re-queue)."""
        if self.wq_active:
            return  # queued; the running loop picks it up
        runs = 0
        while self.queued:
            self.queued = False
            runs += 1
            if runs > MAX_RUNS:
                self._warn("work item re-queued more than 1000 times; simulator stopped it")
                break
            self._run_wq()
        self._log_or_new().runs += runs

    def _run_wq(self) -> None:
        """``virtio_mem_run_wq()``: unplug-all if required, refresh the config, clean up, plug
        or unplug the difference, then act on the return code (0: reset the timer delay;
        -ENOSPC: wait for an event; -ETXTBSY/-EBUSY/-ENOMEM: arm the retry timer; -EAGAIN:
        loop; anything else: mark the device broken)."""
        self.timer_deadline = None  # hrtimer_cancel
        if self.broken:
            self.trace("virtio_mem_run_wq: device is broken -> nothing processed")
            return
        self.wq_active = True
        self.livelock = False
        self.stop_reason = ""
        spins = 0
        while True:
            rc = 0
            if self.unplug_all_required:
                rc = self._send_unplug_all()
            refreshed = False
            if self.config_changed:
                self.config_changed = False
                self._refresh_config()
                refreshed = True
            if rc == 0:
                rc = self.blockmode.cleanup_pending()
            if rc == 0 and self.requested_size != self.plugged_size:
                if self.requested_size > self.plugged_size:
                    rc = self.blockmode.plug_request(self.requested_size - self.plugged_size)
                else:
                    rc = self.blockmode.unplug_request(self.plugged_size - self.requested_size)
            if rc == 0 and (busy := self.blockmode.left_busy()):
                rc = -EBUSY
                self.stop_reason = busy
            if rc == -EAGAIN:
                spins = 0 if refreshed else spins + 1
                if spins >= 2:
                    # The kernel would `goto retry` forever: NACK without a config change.
                    self.livelock = True
                    self.stop_reason = (
                        "livelock: the device answers NACK (its plugged_size "
                        f"{self.device.plugged_size:#x} differs from the driver's "
                        f"{self.plugged_size:#x}: raw requests bypassed the driver) -> -EAGAIN "
                        "-> retry, forever; the simulator stopped the loop. A config change "
                        "(vmem resize) makes the driver re-read plugged_size"
                    )
                    self.trace(f"virtio_mem_run_wq: {self.stop_reason}")
                    break
                self.trace("virtio_mem_run_wq: -EAGAIN -> retry")
                continue
            break
        hotplug.flush(self.machine, self.group, self._log_or_new())
        self.stop_rc = rc
        if rc == 0:
            self.retry_timer_s = RETRY_TIMER_MIN
            self.trace("virtio_mem_run_wq -> 0")
        elif rc == -ENOSPC:
            self.trace(f"virtio_mem_run_wq -> -ENOSPC ({self.stop_reason}): no retry timer")
        elif rc in (-ETXTBSY, -EBUSY, -ENOMEM):
            if not self.stop_reason:
                self.stop_reason = {
                    -ETXTBSY: "the device answered BUSY",
                    -EBUSY: "memory could not be freed to unplug it",
                    -ENOMEM: "out of memory",
                }[rc]
            self.stop_reason = f"{errno_name(rc)}: {self.stop_reason}"
            self.timer_deadline = self.machine.clock + self.retry_timer_s
            self.trace(
                f"virtio_mem_run_wq -> {errno_name(rc)}: hrtimer_start({self.retry_timer_s:g}s)"
            )
        elif rc == -EAGAIN:
            pass  # livelock, reported above
        else:
            self.broken = True
            self.stop_reason = f"unknown error {rc}"
            msg = f"unknown error, marking device broken: {rc}"
            self.dev_info(msg)
            self._log_or_new().warnings.append(msg)
        self.wq_active = False

    def _refresh_config(self) -> None:
        """``virtio_mem_refresh_config()``: re-read plugged_size (WARN and adopt on mismatch),
        usable_region_size (-> last usable block id) and requested_size."""
        dev = self.device
        if dev.plugged_size != self.plugged_size:
            self._warn(
                f"WARN_ON_ONCE in virtio_mem_refresh_config: device plugged_size "
                f"{dev.plugged_size:#x} != driver's {self.plugged_size:#x}: adopting "
                "the device's value"
            )
            self.plugged_size = dev.plugged_size
        self.usable_region_size = dev.usable_region_size
        end_addr = dev.addr + self.usable_region_size - 1
        unit = self.blockmode.unit
        last = end_addr // unit
        if (end_addr + 1) % unit:
            last -= 1
        self.blockmode.last_usable_id = last
        self.requested_size = dev.requested_size
        self.dev_info(f"plugged size: {self.plugged_size:#x}")
        self.dev_info(f"requested size: {self.requested_size:#x}")

    # ------------------------------------------------------------------ requests
    def send_request(self, kind: str, addr: int, size: int) -> int:
        """``virtio_mem_send_plug_request()`` / ``virtio_mem_send_unplug_request()``: one
        request on the guest-request queue; the answer becomes an errno (ACK 0; NACK -EAGAIN
        for PLUG, -ENOMEM for UNPLUG; BUSY -ETXTBSY; ERROR -EINVAL)."""
        if self.config_changed:
            return -EAGAIN
        dev = self.device
        nb = size // dev.block_size
        self._sync_migration()
        ans = dev.plug(addr, nb) if kind == "PLUG" else dev.unplug(addr, nb)
        resp = ans.response
        if resp == Response.ACK:
            rc = 0
            self.plugged_size += size if kind == "PLUG" else -size
        elif resp == Response.NACK:
            rc = -EAGAIN if kind == "PLUG" else -ENOMEM
        elif resp == Response.BUSY:
            rc = -ETXTBSY
        else:
            rc = -EINVAL
        log = self._log_or_new()
        log.requests.append(RequestRecord(kind, addr, nb, resp.name, rc))
        if log.want():
            log.trace.append(
                f"virtio_mem_send_{kind.lower()}_request({addr:#x}, {nb}): "
                f"{resp.name} -> {errno_name(rc)}"
                + ("" if resp == Response.ACK else f" [{ans.reason}]")
            )
        return rc

    def _send_unplug_all(self) -> int:
        """``virtio_mem_send_unplug_all_request()``: ACK -> plugged_size 0, config_changed."""
        self._sync_migration()
        ans = self.device.unplug_all()
        rc = (
            0
            if ans.response == Response.ACK
            else (-ETXTBSY if ans.response == Response.BUSY else -ENOMEM)
        )
        self._log_or_new().requests.append(
            RequestRecord("UNPLUG_ALL", self.device.addr, 0, ans.response.name, rc)
        )
        self.trace(
            f"virtio_mem_send_unplug_all_request: {ans.response.name} -> {errno_name(rc)} "
            f"[{ans.reason}]"
        )
        if rc == 0:
            self.unplug_all_required = False
            self.plugged_size = 0
            self.config_changed = True
        else:
            self.stop_reason = "UNPLUG_ALL answered BUSY"
        return rc

    # ------------------------------------------------------------------ Linux MM
    def could_add_memory(self, size: int) -> bool:
        """``virtio_mem_could_add_memory()``: offline_size + size <= offline_threshold."""
        ok = self.offline_size + size <= self.offline_threshold
        if not ok:
            self.stop_reason = (
                f"offline memory {fmt_size(self.offline_size)} + {fmt_size(size)} would exceed "
                f"the offline threshold {fmt_size(self.offline_threshold)} "
                "(virtio_mem_could_add_memory); online memory blocks to let the driver go on"
            )
        return ok

    def fake_offline(self, start: int, size: int, quiet: bool = False) -> int:
        """``virtio_mem_fake_offline()``: ``alloc_contig_range`` the range away from the
        buddy. Pinned (unmovable) pages make it fail: one attempt outside ZONE_MOVABLE, five
        in ZONE_MOVABLE (meant for transient pins), then -EBUSY."""
        pin = self.pinned_at(start, start + size - 1)
        if pin is None:
            if self.want_trace():
                self.trace(f"virtio_mem_fake_offline({start:#x}, {size:#x}) -> 0 (PG_offline)")
            return 0
        if quiet:
            return -EBUSY  # the caller summarises
        zone = self.mm.get(start // self.mbs, OFFLINE)
        tries = (
            "5 attempts in ZONE_MOVABLE" if zone == MOVABLE else "1 attempt outside ZONE_MOVABLE"
        )
        self.trace(
            f"virtio_mem_fake_offline({start:#x}, {size:#x}): alloc_contig_range -EBUSY "
            f"(page {pin:#x} pinned), {tries} -> -EBUSY"
        )
        return -EBUSY

    def add_memory(self, addr: int, size: int) -> int:
        """``virtio_mem_add_memory()``: offline_size += size, then
        ``add_memory_driver_managed(addr, size, "System RAM (virtio_mem)",
        MHP_MERGE_RESOURCE | MHP_NID_IS_MGID)``; on failure offline_size is given back."""
        self.offline_size += size
        rc = hotplug.add_memory_driver_managed(
            self.machine, self.group, addr, size, self._log_or_new()
        )
        if rc:
            self.offline_size -= size
            self.dev_info(f"adding memory failed: {rc}")
            self.stop_reason = f"add_memory_driver_managed({addr:#x}) failed: {errno_name(rc)}"
        return rc

    def remove_memory(self, addr: int, size: int) -> int:
        """``virtio_mem_remove_memory()``: ``remove_memory()``, then offline_size -= size and
        the work is queued again."""
        rc = hotplug.remove_memory(self.machine, self.group, addr, size, self._log_or_new())
        return self._removed(rc, size)

    def offline_and_remove_memory(self, addr: int, size: int) -> int:
        """``virtio_mem_offline_and_remove_memory()``: ``offline_and_remove_memory()``, then
        as ``virtio_mem_remove_memory()``."""
        rc = hotplug.offline_and_remove_memory(
            self.machine, self.group, addr, size, self._log_or_new()
        )
        return self._removed(rc, size)

    def _removed(self, rc: int, size: int) -> int:
        if not rc:
            self.offline_size -= size
            self._retry("memory removed")
        return rc

    # -- the memory notifier (virtio_mem_memory_notifier_cb), called by mm/hotplug.py
    def memory_going_online(self, mb: int) -> int:
        return self.blockmode.going_online(mb)

    def memory_online(self, mb: int, zone: str) -> None:
        """MEM_ONLINE: the mode's block state, offline_size -= block, and queue the work when
        not running and at most half the threshold is offline."""
        self.blockmode.online(mb, zone)
        self.offline_size -= self.mbs
        if not self.wq_active and self.could_add_memory(self.offline_threshold // 2):
            self.trace(
                f"virtio_mem_memory_notifier_cb(MEM_ONLINE memory{mb}): offline "
                f"{fmt_size(self.offline_size)} <= half the threshold -> virtio_mem_retry"
            )
            self._retry("memory onlined")

    def memory_going_offline(self, mb: int) -> list[tuple[int, int]]:
        return self.blockmode.plugged_ranges(mb)

    def memory_offline(self, mb: int) -> None:
        """MEM_OFFLINE: the mode's block state, offline_size += block (no retry:
        unplug_online defaults to 1)."""
        self.blockmode.offline(mb)
        self.offline_size += self.mbs

    def page_offline_reason(self, mb: int, start: int, end: int) -> str | None:
        return self.blockmode.page_offline_reason(mb, start, end)

    # ------------------------------------------------------------------ queries
    def memory_state(self, addr: int) -> str:
        """Linux MM state of the page at addr (for /proc/kcore and reads): 'online',
        'offline' (added block offline: ``pfn_to_online_page`` fails), 'page_offline'
        (PG_offline: an unplugged sub-block of an added block), 'not_added'."""
        if not self.probed or self.kdump:
            return "not_added"
        mbs = self.machine.memory_block_size
        mb = addr // mbs
        zone = self.group.blocks.get(mb)
        if zone is None:
            return "not_added"
        if zone == OFFLINE:
            return "offline"
        return self.blockmode.page_state(mb, addr - mb * mbs)

    def memory_state_edges(self) -> list[int]:
        """The addresses where ``memory_state()`` changes, ascending: the ends of the device
        region and, inside it, where one state ends and another begins (added blocks offline
        or online; in an online block its plugged parts online, the rest PG_offline; the
        rest not added). Neighbouring blocks in the same state give no edge, so a fully
        plugged 1 TiB device has two. Walked stretch by stretch with ``state_end`` (the run
        indexes), so the cost follows the runs, not the memory blocks; the sweep
        (devmem/edges.py) relies on it."""
        start, end = self.region()
        edges = [start]
        if self.probed and not self.kdump:
            state = self.memory_state(start)
            stop = self.state_end(start)
            while stop < end:
                nxt = self.memory_state(stop + 1)
                if nxt != state:
                    edges.append(stop + 1)
                    state = nxt
                stop = self.state_end(stop + 1)
        edges.append(end + 1)
        return edges

    def state_end(self, addr: int) -> int:
        """The last byte of the stretch from addr on whose pages all have ``memory_state(addr)``
        (or an earlier byte: the end of a run of memory blocks in one zone, or of a partly
        plugged block), from the run indexes of the memory blocks and the sub-block masks, so
        a long kcore read of one plugged run asks once, not once per memory block."""
        last = self.device.end - 1
        if not self.probed or self.kdump:
            return last
        mbs = self.machine.memory_block_size
        mb = addr // mbs
        group = self.group
        end_mb = group.runs.run_end(mb)
        zone = group.blocks.get(mb)
        if zone is not None and zone != OFFLINE:
            return min(last, self.blockmode.page_state_end(mb, addr, end_mb))
        return last if end_mb is None else min(last, end_mb * mbs - 1)

    def sbm_state_name(self, mb: int) -> str:
        """Driver state of memory block mb (SBM) or of its big block (BBM), or '-'."""
        if not self.probed or self.kdump:
            return "-"
        return self.blockmode.state_name(mb)

    # ------------------------------------------------------------------ consistency
    def check(self, indexes: bool = True) -> None:
        """AssertionError unless the three layers agree (the tests after every step; ``open``
        for a loaded session, run by run). ``indexes``: also prove the run indexes match the
        per-block arrays, visiting every block (the tests)."""
        dev = self.device
        assert dev.plugged_size == dev.blocks.total() * dev.block_size
        if indexes:
            self.group.blocks.check()
        if not self.probed or self.kdump:
            assert not self.mm
            return
        bm = self.blockmode
        assert len(bm.states) == bm.next_id - bm.first_id
        if indexes:
            bm.check_indexes()
        bm.check()
        offline = sum((b - a) * self.mbs for a, b, z in self.group.zone_runs() if z == OFFLINE)
        assert self.offline_size == offline, (self.offline_size, offline)
        assert self.group.pending_add is None and self.group.pending_remove is None
