"""One virtio-mem device plus its Linux driver (drivers/virtio/virtio_mem.c), on a machine.

Three layers are kept apart, as reference/virtio-mem.md §4 ("Modelling notes") asks:

1. the device (QEMU): ``VirtioMemDevice`` with its bitmap stored as runs (vmem_device.py);
2. the driver's own tracking: SBM ``mb_states`` (one byte per Linux memory block, a
   ``bytearray`` exactly like the kernel's vmalloc'ed array) plus one sub-block bitmap per memory
   block (a Python int), or BBM ``bb_states``; its ``plugged_size``, ``offline_size``, retry
   timer, ``broken`` flag...;
3. Linux MM: memory blocks ``memoryN`` (``mm``: block id -> zone or 'offline') and the iomem
   resources (``virtioN`` parent, ``System RAM (virtio_mem)`` children).

Nothing is stored per device block: a 1 TiB device of 2 MiB blocks (524,288 blocks) is one
device run when fully plugged and 8192 memory-block bytes + 8192 small ints in the driver.

The kernel's work item runs synchronously here: a host change (``resize``), a timer expiry
(``advance``), a sysfs onlining... queue the work and ``_work`` runs it until idle, collecting
every request, resource change and trace line in a ``VmemReport``.

Resource-tree updates for consecutive adds (and removes) inside one run are coalesced into one
tree operation at the end of the pass (``_flush``); with ``merge_system_ram_resource`` (5.10+)
the resulting tree is identical to per-block requests, and revocation of the coalesced range
zaps exactly the union of what per-block revocations would zap (every block's end pages are
inside the SYSTEM_RAM-typed parent, so each per-block revocation would fire). Before 5.10 (no
merging) every block gets its own request, as in the kernel.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import MAX_CLOCK, EventKind
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, Resource, ResourceConflict
from devmem_tui.engine.mm import memory_blocks as mbk
from devmem_tui.engine.mm.memory_blocks import MOVABLE, OFFLINE, SysfsResult
from devmem_tui.engine.units import (
    EAGAIN,
    EBUSY,
    EEXIST,
    EINVAL,
    ENOMEM,
    ENOSPC,
    EPERM,
    ETXTBSY,
    PAGE_SIZE,
    GiB,
    errno_name,
    fmt_size,
)
from devmem_tui.engine.virtio_mem.device import (
    DEFAULT_BLOCK_SIZE,
    MAX_NB_BLOCKS,
    BlockState,
    Response,
    VirtioMemDevice,
)

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike


RETRY_TIMER_MIN = 50.0  # VIRTIO_MEM_RETRY_TIMER_MIN_MS / 1000
RETRY_TIMER_MAX = 300.0  # VIRTIO_MEM_RETRY_TIMER_MAX_MS / 1000
DEFAULT_OFFLINE_THRESHOLD = 1 * GiB  # VIRTIO_MEM_DEFAULT_OFFLINE_THRESHOLD
RESOURCE_NAME = "System RAM (virtio_mem)"
TRACE_LIMIT = 400  # trace lines kept per report; the rest are counted
MAX_RUNS = 1000  # safety bound on work-item re-queues inside one operation


class SbmState(IntEnum):
    """``enum virtio_mem_sbm_mb_state`` (current kernels; before ~5.13 ONLINE/ONLINE_PARTIAL
    stood where the KERNEL/MOVABLE split is now)."""

    UNUSED = 0
    PLUGGED = 1
    OFFLINE = 2
    OFFLINE_PARTIAL = 3
    KERNEL = 4
    KERNEL_PARTIAL = 5
    MOVABLE = 6
    MOVABLE_PARTIAL = 7


class BbmState(IntEnum):
    """``enum virtio_mem_bbm_bb_state`` (5.11+)."""

    UNUSED = 0
    PLUGGED = 1
    ADDED = 2
    FAKE_OFFLINE = 3


_ONLINE_SBM = (SbmState.KERNEL, SbmState.KERNEL_PARTIAL, SbmState.MOVABLE, SbmState.MOVABLE_PARTIAL)
_ADDED_SBM = (SbmState.OFFLINE, SbmState.OFFLINE_PARTIAL, *_ONLINE_SBM)


# ----------------------------------------------------------------------------- reports
@dataclass(slots=True)
class RequestRecord:
    """One request the driver (or a raw command) sent, with the device's answer."""

    kind: str  # PLUG, UNPLUG, UNPLUG_ALL, STATE
    addr: int
    nb_blocks: int
    response: str  # ACK, NACK, BUSY, ERROR
    rc: int  # what the driver turned it into
    state: str = ""  # STATE answers: PLUGGED / UNPLUGGED / MIXED

    def call(self) -> str:
        if self.kind == "UNPLUG_ALL":
            return "UNPLUG_ALL"
        return f"{self.kind}({self.addr:#x}, {self.nb_blocks})"

    def text(self) -> str:
        ans = self.response + (f" {self.state}" if self.state else "")
        return f"{self.call()} -> {ans}"


@dataclass
class VmemReport:
    """What one operation made the driver do: requests with answers, memory blocks added and
    removed, warnings, and why the driver stopped short of the requested size if it did."""

    device: str
    action: str
    requests: list[RequestRecord] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    trace_omitted: int = 0
    warnings: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    runs: int = 0
    requested: int = 0
    plugged: int = 0
    driver_plugged: int = 0

    # -- building
    def want(self) -> bool:
        """True while trace lines are still kept (callers skip formatting otherwise)."""
        if len(self.trace) < TRACE_LIMIT:
            return True
        self.trace_omitted += 1
        return False

    def t(self, line: str) -> None:
        if self.want():
            self.trace.append(line)

    @property
    def settled(self) -> bool:
        return not self.pending

    def full_trace(self) -> list[str]:
        if self.trace_omitted:
            return [*self.trace, f"... {self.trace_omitted} more trace lines omitted"]
        return list(self.trace)

    # -- rendering
    def request_lines(self) -> list[str]:
        """Requests, runs of the same kind/size/answer at a constant stride folded into one
        line (a 1 TiB resize is 8192 PLUGs)."""
        out: list[str] = []
        reqs = self.requests
        i = 0
        while i < len(reqs):
            r = reqs[i]
            j = i + 1
            stride = None
            while j < len(reqs):
                q = reqs[j]
                if (q.kind, q.nb_blocks, q.response, q.state) != (
                    r.kind,
                    r.nb_blocks,
                    r.response,
                    r.state,
                ):
                    break
                step = q.addr - reqs[j - 1].addr
                if step == 0 or (stride is not None and step != stride):
                    break
                stride = step
                j += 1
            n = j - i
            if n >= 3:
                out.append(
                    f"{r.call()} .. {reqs[j - 1].call()}: {n} requests, each -> "
                    f"{r.response}{' ' + r.state if r.state else ''}"
                )
            else:
                out.extend(q.text() for q in reqs[i:j])
            i = j
        return out

    def text(self) -> str:
        lines = [self.action]
        lines.extend(f"warning: {w}" for w in self.warnings)
        if self.requests:
            lines.append(f"requests ({len(self.requests)}):")
            lines.extend(f"  {x}" for x in self.request_lines())
        else:
            lines.append("requests: none")
        if self.added:
            lines.append(f"added: {_block_list(self.added)}")
        if self.removed:
            lines.append(f"removed: {_block_list(self.removed)}")
        lines.append(
            f"plugged {fmt_size(self.plugged)} of requested {fmt_size(self.requested)}"
            + (
                ""
                if self.plugged == self.driver_plugged
                else f" (the driver believes {fmt_size(self.driver_plugged)})"
            )
        )
        if self.pending:
            lines.extend(f"pending: {p}" for p in self.pending)
        else:
            lines.append("settled")
        return "\n".join(lines)


def _block_list(ids: list[int]) -> str:
    """[40, 41, 42, 47] -> 'memory40-memory42, memory47 (4 blocks)'."""
    parts: list[str] = []
    ordered = sorted(set(ids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        a, b = ordered[i], ordered[j]
        parts.append(f"memory{a}" if a == b else f"memory{a}-memory{b}")
        i = j + 1
    n = len(ordered)
    return f"{', '.join(parts)} ({n} block{'s' if n != 1 else ''})"


@dataclass
class RawAnswer:
    """The answer to a raw device request (``plug``/``unplug``/``unplug-all``/``state``)."""

    outcome: str  # ACK NACK BUSY ERROR / PLUGGED UNPLUGGED MIXED
    message: str
    trace: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _sb_list(sbs: list[int]) -> str:
    """[63, 62, 61, 10] -> '63-61, 10' (descending runs)."""
    parts: list[str] = []
    i = 0
    while i < len(sbs):
        j = i
        while j + 1 < len(sbs) and sbs[j + 1] == sbs[j] - 1:
            j += 1
        parts.append(str(sbs[i]) if i == j else f"{sbs[i]}-{sbs[j]}")
        i = j + 1
    return ", ".join(parts)


def _mask_runs_desc(mask: int) -> list[tuple[int, int]]:
    """Runs (lo, hi) of set bits, highest run first."""
    out = []
    while mask:
        hi = mask.bit_length() - 1
        zeros_below = ~mask & ((1 << (hi + 1)) - 1)
        lo = zeros_below.bit_length()
        out.append((lo, hi))
        mask &= (1 << lo) - 1
    return out


def driver_accepts_unplugged_inaccessible(cfg: Any) -> bool:
    """``virtio_mem_features[]`` has VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE since 61082ad6a6e1
    (v5.16-rc1, AUTOSEL'd into 5.15.y) [I for the stable backport]."""
    return bool(cfg.at_least(5, 15))


# ----------------------------------------------------------------------------- the model
@functools.lru_cache(maxsize=64)
def _full_mask(sbs_per_mb: int) -> int:
    """The sub-block mask of a fully plugged memory block (one shared object per size)."""
    return (1 << sbs_per_mb) - 1


class VirtioMem:
    """One virtio-mem device (QEMU side) and the state of its Linux driver on ``machine``."""

    def __init__(self, machine: MachineLike, device: VirtioMemDevice, index: int) -> None:
        self.machine = machine
        self.device = device
        self.index = index
        self.res_name = f"virtio{index}"
        # driver binding
        self.probed = False  # driver bound to the device (hotplug or kdump mode)
        self.probe_error = ""  # why no driver runs, when it does not
        self.kdump = False
        self.exclusive = False  # parent got IORESOURCE_EXCLUSIVE (5.16+ / rfc-2021)
        # mode (virtio_mem_init_hotplug)
        self.in_sbm = True
        self.sb_size = 0
        self.sbs_per_mb = 0
        self.bb_size = 0
        self.first_id = 0  # first_mb_id / first_bb_id
        self.next_id = 0  # next_mb_id / next_bb_id
        self.last_usable_id = -1
        self.states = bytearray()  # mb_states / bb_states, index id - first_id
        self.sb_masks: list[int] = []  # SBM: plugged sub-blocks per memory block
        # driver bookkeeping (struct virtio_mem)
        self.offline_size = 0
        self.offline_threshold = DEFAULT_OFFLINE_THRESHOLD
        self.plugged_size = 0
        self.requested_size = 0
        self.usable_region_size = 0
        self.unplug_all_required = False
        self.config_changed = False
        self.broken = False
        self.have_unplugged_mb = False
        self.retry_timer_s = RETRY_TIMER_MIN
        self.timer_deadline: float | None = None
        self.queued = False
        self.wq_active = False
        self.stop_rc = 0
        self.stop_reason = ""
        self.livelock = False
        self.last_block_addr: int | None = None  # kdump STATE cache
        self.last_block_plugged = False
        # Linux MM: memoryN -> zone name or 'offline' (exists while the block is added)
        self.mm: dict[int, str] = {}
        self._spans: dict[str, tuple[int, int]] | None = {}
        # transient
        self._log: VmemReport | None = None
        self._depth = 0
        self._pending_add: list[int] | None = None  # [start, end] inclusive, coalesced
        self._pending_remove: list[int] | None = None
        self.parent: Resource | None = None
        self.last_probe: VmemReport | None = None

    # ------------------------------------------------------------------ small helpers
    @property
    def name(self) -> str:
        return self.device.name

    @property
    def mbs(self) -> int:
        return self.machine.memory_block_size

    @property
    def unit(self) -> int:
        """The driver's add/remove unit: a memory block (SBM) or a big block (BBM)."""
        return self.mbs if self.in_sbm else self.bb_size

    @property
    def full_mask(self) -> int:
        return (1 << self.sbs_per_mb) - 1

    @property
    def mode(self) -> str:
        return "SBM" if self.in_sbm else "BBM"

    def covers(self, addr: int) -> bool:
        return self.device.addr <= addr < self.device.end

    def region(self) -> tuple[int, int]:
        return self.device.addr, self.device.end - 1

    def _state(self, id_: int) -> int:
        return self.states[id_ - self.first_id]

    def _set_state(self, id_: int, st: int) -> None:
        self.states[id_ - self.first_id] = st

    def _mask(self, mb: int) -> int:
        return self.sb_masks[mb - self.first_id]

    def _set_mask(self, mb: int, mask: int) -> None:
        # Fully plugged blocks share one int object: 8192 separate 64-bit masks were 288 KiB of
        # a plugged 1 TiB device's 879 KiB of state (docs/performance.md). Same values.
        full = _full_mask(self.sbs_per_mb)
        self.sb_masks[mb - self.first_id] = full if mask == full else mask

    def _iter_state(self, st: int, reverse: bool = False) -> Any:
        """``virtio_mem_sbm_for_each_mb(_rev)`` / ``virtio_mem_bbm_for_each_bb(_rev)``: ids in
        state ``st``, re-reading the live array (states change while iterating)."""
        b = bytes([st])
        if not reverse:
            i = 0
            while True:
                i = self.states.find(b, i)
                if i < 0:
                    return
                yield self.first_id + i
                i += 1
        else:
            end = len(self.states)
            while True:
                i = self.states.rfind(b, 0, end)
                if i < 0:
                    return
                yield self.first_id + i
                end = i

    def _log_or_new(self) -> VmemReport:
        if self._log is None:
            self._log = VmemReport(self.name, "")
        return self._log

    def _t(self, line: str) -> None:
        self._log_or_new().t(line)

    def _want(self) -> bool:
        return self._log_or_new().want()

    def _info(self, msg: str) -> None:
        """dev_info() line, prefixed like dmesg."""
        self._t(f"virtio_mem {self.res_name}: {msg}")

    def _warn(self, msg: str) -> None:
        log = self._log_or_new()
        log.warnings.append(msg)
        log.trace.append(f"virtio_mem {self.res_name}: WARNING: {msg}")

    def _sync_migration(self) -> None:
        """``migration`` in the config mirrors into the device (virtio_mem_is_busy)."""
        self.device.migration = bool(self.machine.config.migration)

    def _pinned_at(self, start: int, end: int) -> int | None:
        return mbk.first_pinned(self.machine, start, end)

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
        self._flush()
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
            unit = self.sb_size if self.in_sbm else self.bb_size
            what = "sub-block" if self.in_sbm else "big block"
            if diff < unit:
                out.append(
                    f"the remaining {fmt_size(diff)} is smaller than a {what} "
                    f"({fmt_size(unit)}): never (un)plugged, the driver is done"
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

    # ------------------------------------------------------------------ probe
    def probe(self) -> VmemReport:
        """``virtio_mem_probe()`` -> ``virtio_mem_init()`` -> ``virtio_mem_init_hotplug()`` /
        ``virtio_mem_init_kdump()``; then the first work-item run. x86-64 5.8+, arm64 5.18+."""
        self._begin(f"{self.name}: virtio_mem_probe({self.res_name})")
        cfg = self.machine.config
        dev = self.device
        if not cfg.virtio_mem_buildable:
            self.probe_error = f"driver not built: {cfg.virtio_mem_unbuildable_reason()}"
            self._t(f"virtio_mem_probe: {self.probe_error}; the region stays a hole")
            return self._end()
        if dev.unplugged_inaccessible and not driver_accepts_unplugged_inaccessible(cfg):
            self.probe_error = (
                "feature negotiation failed: the device requires "
                "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, which this kernel's driver does not "
                "accept (QEMU virtio_mem_validate_features; use unplugged-inaccessible=off)"
            )
            self._t(f"virtio_dev_probe: {self.probe_error} -> driver not bound")
            return self._end()
        # virtio_mem_init: read the config
        self.plugged_size = dev.plugged_size
        self.usable_region_size = dev.usable_region_size
        self._info(f"start address: {dev.addr:#x}")
        self._info(f"region size: {dev.region_size:#x}")
        self._info(f"device block size: {dev.block_size:#x}")
        if self.kdump:
            if not cfg.at_least(5, 16):
                self.probe_error = "disabled in kdump kernel (before 5.16) -> -EBUSY"
                self._info(self.probe_error)
                self.kdump = False
                return self._end()
            self._info("memory hot(un)plug disabled in kdump kernel")
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
            self.in_sbm = True
            self.sb_size = sb_size
            self.sbs_per_mb = mbs // sb_size
            self.first_id = -(-dev.addr // mbs)
        else:
            if not cfg.at_least(5, 11):
                # before Big Block Mode (v5.11 [I]) the driver refused such devices
                self.probe_error = (
                    f"device block size {dev.block_size:#x} too big for this "
                    "kernel (no Big Block Mode before 5.11) -> -EINVAL"
                )
                self._t(f"virtio_mem_init: {self.probe_error}")
                return self._end()
            self.in_sbm = False
            self.bb_size = max(dev.block_size, mbs)
            self.first_id = -(-dev.addr // self.bb_size)
            self.offline_threshold = max(2 * self.bb_size, self.offline_threshold)
        self.next_id = self.first_id
        self.last_usable_id = self.first_id - 1
        self._info(f"memory block size: {mbs:#x}")
        if self.in_sbm:
            self._info(f"subblock size: {self.sb_size:#x}")
        else:
            self._info(f"big block size: {self.bb_size:#x}")
        if not self._create_resource():
            return self._end()
        if self.plugged_size:
            self.unplug_all_required = True
            self._info("unplugging all memory is required")
        self.probed = True
        self.config_changed = True
        self._retry("probe")
        self._work()
        return self._end()

    def _create_resource(self) -> bool:
        """``virtio_mem_create_resource()``: ``__request_mem_region(addr, region_size,
        "virtioN", IORESOURCE_SYSTEM_RAM [| IORESOURCE_EXCLUSIVE since 5.16])``, revocation
        of /dev/mem mappings while it is busy, then BUSY cleared so memory can nest below."""
        cfg = self.machine.config
        dev = self.device
        self.exclusive = cfg.virtio_parent_exclusive
        try:
            res = self.machine.tree.request_region(
                dev.addr, dev.region_size, self.res_name, SYSTEM_RAM, exclusive=self.exclusive
            )
        except ResourceConflict as e:
            self.probe_error = f"could not reserve device region ({e}) -> -EBUSY"
            self._info("could not reserve device region")
            self._info("reloading the driver is not supported")
            self._t(f"__request_mem_region: {e}")
            return False
        flags = "IORESOURCE_SYSTEM_RAM" + (" | IORESOURCE_EXCLUSIVE" if self.exclusive else "")
        self._t(
            f"__request_mem_region({dev.addr:#x}, {dev.region_size:#x}, {self.res_name!r}, "
            f"{flags}) -> ok"
        )
        self._revoke(dev.addr, dev.end - 1)
        # "The memory is not actually busy - make add_memory() work."
        self.machine.tree.set_flags(res, res.flags & ~F.BUSY)
        self._t(f"virtio_mem_create_resource: {self.res_name} BUSY cleared")
        self.parent = res
        return True

    def _revoke(self, start: int, end: int) -> None:
        """``revoke_iomem()`` after a successful ``__request_region`` (5.8+, IO_STRICT)."""
        from devmem_tui.engine.devmem import access

        for line in access.revoke_iomem(self.machine, start, end):
            self._t(line)

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
            self._t(
                f"no driver bound to {self.name}: nobody reads the config "
                f"({self.probe_error or 'not probed'})"
            )
            return
        if self.kdump:
            self._t("virtio_mem_config_changed: kdump kernel, ignored")
            return
        self.config_changed = True
        self._retry("config change")
        self._work()

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
        """``virtio_mem_run_wq()`` (§2.5): unplug-all if required, refresh the config, clean
        up, plug or unplug the difference, then act on the return code (0: reset the timer
        delay; -ENOSPC: wait for an event; -ETXTBSY/-EBUSY/-ENOMEM: arm the retry timer;
        -EAGAIN: loop; anything else: mark the device broken)."""
        self.timer_deadline = None  # hrtimer_cancel
        if self.broken:
            self._t("virtio_mem_run_wq: device is broken -> nothing processed")
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
                rc = self._cleanup_pending()
            if rc == 0 and self.requested_size != self.plugged_size:
                if self.requested_size > self.plugged_size:
                    rc = self._plug_request(self.requested_size - self.plugged_size)
                else:
                    rc = self._unplug_request(self.plugged_size - self.requested_size)
            if rc == 0 and self.in_sbm and self.have_unplugged_mb:
                rc = -EBUSY
                self.stop_reason = "a fully unplugged block could not be removed yet"
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
                    self._t(f"virtio_mem_run_wq: {self.stop_reason}")
                    break
                self._t("virtio_mem_run_wq: -EAGAIN -> retry")
                continue
            break
        self._flush()
        self.stop_rc = rc
        if rc == 0:
            self.retry_timer_s = RETRY_TIMER_MIN
            self._t("virtio_mem_run_wq -> 0")
        elif rc == -ENOSPC:
            self._t(f"virtio_mem_run_wq -> -ENOSPC ({self.stop_reason}): no retry timer")
        elif rc in (-ETXTBSY, -EBUSY, -ENOMEM):
            if not self.stop_reason:
                self.stop_reason = {
                    -ETXTBSY: "the device answered BUSY",
                    -EBUSY: "memory could not be freed to unplug it",
                    -ENOMEM: "out of memory",
                }[rc]
            self.stop_reason = f"{errno_name(rc)}: {self.stop_reason}"
            self.timer_deadline = self.machine.clock + self.retry_timer_s
            self._t(
                f"virtio_mem_run_wq -> {errno_name(rc)}: hrtimer_start({self.retry_timer_s:g}s)"
            )
        elif rc == -EAGAIN:
            pass  # livelock, reported above
        else:
            self.broken = True
            self.stop_reason = f"unknown error {rc}"
            msg = f"unknown error, marking device broken: {rc}"
            self._info(msg)
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
        unit = self.unit
        last = end_addr // unit
        if (end_addr + 1) % unit:
            last -= 1
        self.last_usable_id = last
        self.requested_size = dev.requested_size
        self._info(f"plugged size: {self.plugged_size:#x}")
        self._info(f"requested size: {self.requested_size:#x}")

    # ------------------------------------------------------------------ requests
    def _send(self, kind: str, addr: int, size: int) -> int:
        """``virtio_mem_send_plug_request()`` / ``virtio_mem_send_unplug_request()``: one
        request on the guest-request queue; the answer becomes an errno (§2.5 table)."""
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
        self._t(
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

    # ------------------------------------------------------------------ threshold
    def _could_add(self, size: int) -> bool:
        """``virtio_mem_could_add_memory()``: offline_size + size <= offline_threshold."""
        ok = self.offline_size + size <= self.offline_threshold
        if not ok:
            self.stop_reason = (
                f"offline memory {fmt_size(self.offline_size)} + {fmt_size(size)} would exceed "
                f"the offline threshold {fmt_size(self.offline_threshold)} "
                "(virtio_mem_could_add_memory); online memory blocks to let the driver go on"
            )
        return ok

    # ------------------------------------------------------------------ SBM plug
    def _plug_request(self, diff: int) -> int:
        return self._sbm_plug_request(diff) if self.in_sbm else self._bbm_plug_request(diff)

    def _unplug_request(self, diff: int) -> int:
        return self._sbm_unplug_request(diff) if self.in_sbm else self._bbm_unplug_request(diff)

    def _sbm_plug_request(self, diff: int) -> int:
        """``virtio_mem_sbm_plug_request()`` (§2.6): fill partial added blocks (KERNEL_PARTIAL,
        MOVABLE_PARTIAL, OFFLINE_PARTIAL, ascending), then reuse UNUSED blocks, then new ones;
        the threshold is checked before every add; nb_sb = floor(diff / sb_size)."""
        nb_sb = diff // self.sb_size
        if not nb_sb:
            self._t(f"virtio_mem_sbm_plug_request: {diff:#x} < sub-block {self.sb_size:#x} -> 0")
            return 0
        for st in (SbmState.KERNEL_PARTIAL, SbmState.MOVABLE_PARTIAL, SbmState.OFFLINE_PARTIAL):
            for mb in self._iter_state(st):
                rc, nb_sb = self._sbm_plug_any_sb(mb, nb_sb)
                if rc or not nb_sb:
                    return rc
        for mb in self._iter_state(SbmState.UNUSED):
            if not self._could_add(self.mbs):
                return -ENOSPC
            rc, nb_sb = self._sbm_plug_and_add_mb(mb, nb_sb)
            if rc or not nb_sb:
                return rc
        while nb_sb:
            if not self._could_add(self.mbs):
                return -ENOSPC
            rc, mb = self._prepare_next()
            if rc:
                return rc
            rc, nb_sb = self._sbm_plug_and_add_mb(mb, nb_sb)
            if rc:
                return rc
        return 0

    def _prepare_next(self) -> tuple[int, int]:
        """``virtio_mem_sbm_prepare_next_mb()`` / ``virtio_mem_bbm_prepare_next_bb()``:
        -ENOSPC beyond the last usable id, else grow the tracking arrays by one."""
        if self.next_id > self.last_usable_id:
            end = self.device.addr + self.usable_region_size
            self.stop_reason = (
                f"no further {'memory' if self.in_sbm else 'big'} block fits "
                f"the usable region (ends at {end:#x})"
            )
            return -ENOSPC, 0
        self.states.append(0)
        if self.in_sbm:
            self.sb_masks.append(0)
        id_ = self.next_id
        self.next_id += 1
        return 0, id_

    def _sbm_plug_sb(self, mb: int, sb: int, count: int) -> int:
        """``virtio_mem_sbm_plug_sb()``: PLUG count sub-blocks; on ACK mark them plugged."""
        addr = mb * self.mbs + sb * self.sb_size
        rc = self._send("PLUG", addr, count * self.sb_size)
        if not rc:
            self._set_mask(mb, self._mask(mb) | (((1 << count) - 1) << sb))
        return rc

    def _sbm_unplug_sb(self, mb: int, sb: int, count: int) -> int:
        """``virtio_mem_sbm_unplug_sb()``: UNPLUG count sub-blocks; on ACK mark them unplugged."""
        addr = mb * self.mbs + sb * self.sb_size
        rc = self._send("UNPLUG", addr, count * self.sb_size)
        if not rc:
            self._set_mask(mb, self._mask(mb) & ~(((1 << count) - 1) << sb))
        return rc

    def _sbm_plug_and_add_mb(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_plug_and_add_mb()``: plug sbs 0..n-1 (n = min(nb_sb, per mb)),
        mark OFFLINE/OFFLINE_PARTIAL, add the block; on add failure unplug again (UNUSED) or,
        if that fails too, leave it PLUGGED for the cleanup."""
        count = min(nb_sb, self.sbs_per_mb)
        rc = self._sbm_plug_sb(mb, 0, count)
        if rc:
            return rc, nb_sb
        full = count == self.sbs_per_mb
        self._set_state(mb, SbmState.OFFLINE if full else SbmState.OFFLINE_PARTIAL)
        rc = self._add_memory(mb * self.mbs, self.mbs)
        if rc:
            new = SbmState.UNUSED
            if self._sbm_unplug_sb(mb, 0, count):
                new = SbmState.PLUGGED
            self._set_state(mb, new)
            return rc, nb_sb
        return 0, nb_sb - count

    def _sbm_plug_any_sb(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_plug_any_sb()``: from the lowest unplugged sub-block, one PLUG per
        run of unplugged sub-blocks; online blocks hand the pages to the buddy (fake-online);
        a block that becomes full moves to the non-partial state (PARTIAL - 1)."""
        old = self._state(mb)
        while nb_sb:
            mask = self._mask(mb)
            if mask == self.full_mask:
                break
            sb = (~mask & (mask + 1)).bit_length() - 1  # lowest unplugged
            above = mask & ~((1 << sb) - 1)
            nxt = (above & -above).bit_length() - 1 if above else self.sbs_per_mb
            count = min(nb_sb, nxt - sb)
            rc = self._sbm_plug_sb(mb, sb, count)
            if rc:
                return rc, nb_sb
            nb_sb -= count
            if old != SbmState.OFFLINE_PARTIAL and self._want():
                self._t(
                    f"virtio_mem_fake_online({mb * self.mbs + sb * self.sb_size:#x}, "
                    f"{count * self.sb_size:#x}): pages to the buddy"
                )
        if self._mask(mb) == self.full_mask:
            self._set_state(mb, old - 1)
        return 0, nb_sb

    # ------------------------------------------------------------------ SBM unplug
    def _sbm_unplug_request(self, diff: int) -> int:
        """``virtio_mem_sbm_unplug_request()`` (§2.7): OFFLINE_PARTIAL, OFFLINE,
        MOVABLE_PARTIAL, KERNEL_PARTIAL, MOVABLE, KERNEL; descending ids in each; -EBUSY if
        the amount could not be reached (unplug_online=1, the default)."""
        nb_sb = diff // self.sb_size
        if not nb_sb:
            self._t(f"virtio_mem_sbm_unplug_request: {diff:#x} < sub-block {self.sb_size:#x} -> 0")
            return 0
        for st in (
            SbmState.OFFLINE_PARTIAL,
            SbmState.OFFLINE,
            SbmState.MOVABLE_PARTIAL,
            SbmState.KERNEL_PARTIAL,
            SbmState.MOVABLE,
            SbmState.KERNEL,
        ):
            for mb in self._iter_state(st, reverse=True):
                rc, nb_sb = self._sbm_unplug_any_sb(mb, nb_sb)
                if rc or not nb_sb:
                    return rc
        if nb_sb:
            self.stop_reason = (
                f"{nb_sb} sub-block(s) ({fmt_size(nb_sb * self.sb_size)}) "
                "could not be freed (unmovable/pinned pages)"
            )
            return -EBUSY
        return 0

    def _sbm_unplug_any_sb(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_unplug_any_sb()``: dispatch on online / offline."""
        st = self._state(mb)
        if st in _ONLINE_SBM:
            return self._sbm_unplug_any_sb_online(mb, nb_sb)
        if st in (SbmState.OFFLINE, SbmState.OFFLINE_PARTIAL):
            return self._sbm_unplug_any_sb_offline(mb, nb_sb)
        return -EINVAL, nb_sb

    def _sbm_unplug_any_sb_raw(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_unplug_any_sb_raw()``: from the highest plugged sub-block down,
        maximal runs of plugged sub-blocks (bounded by nb_sb), one UNPLUG each; any error
        aborts."""
        for lo, hi in _mask_runs_desc(self._mask(mb)):
            if not nb_sb:
                break
            count = min(nb_sb, hi - lo + 1)
            rc = self._sbm_unplug_sb(mb, hi - count + 1, count)
            if rc:
                return rc, nb_sb
            nb_sb -= count
        return 0, nb_sb

    def _sbm_unplug_any_sb_offline(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_unplug_any_sb_offline()``: raw unplug; OFFLINE_PARTIAL; fully
        unplugged -> UNUSED and ``remove_memory`` (which must not fail)."""
        rc, nb_sb = self._sbm_unplug_any_sb_raw(mb, nb_sb)
        if self._mask(mb) != self.full_mask:
            self._set_state(mb, SbmState.OFFLINE_PARTIAL)
        if rc:
            return rc, nb_sb
        if self._mask(mb) == 0:
            self._set_state(mb, SbmState.UNUSED)
            rc = self._remove_memory(mb * self.mbs, self.mbs)
            assert rc == 0, "remove_memory of an offline block failed (BUG_ON in the kernel)"
        return 0, nb_sb

    def _sbm_unplug_sb_online(self, mb: int, sb: int, count: int, quiet: bool = False) -> int:
        """``virtio_mem_sbm_unplug_sb_online()``: fake-offline, UNPLUG (on failure give the
        pages back), KERNEL/MOVABLE -> *_PARTIAL."""
        start = mb * self.mbs + sb * self.sb_size
        size = count * self.sb_size
        rc = self._fake_offline(start, size, quiet)
        if rc:
            return rc
        rc = self._sbm_unplug_sb(mb, sb, count)
        if rc:
            self._t(f"virtio_mem_fake_online({start:#x}, {size:#x}): pages given back")
            return rc
        st = self._state(mb)
        if st == SbmState.KERNEL:
            self._set_state(mb, SbmState.KERNEL_PARTIAL)
        elif st == SbmState.MOVABLE:
            self._set_state(mb, SbmState.MOVABLE_PARTIAL)
        return 0

    def _sbm_unplug_any_sb_online(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_unplug_any_sb_online()``: the whole block in one go if possible,
        else single sub-blocks from the highest down, skipping busy ones; then try to offline
        and remove a block that has nothing plugged any more."""
        done = False
        if nb_sb >= self.sbs_per_mb and self._mask(mb) == self.full_mask:
            rc = self._sbm_unplug_sb_online(mb, 0, self.sbs_per_mb)
            if not rc:
                nb_sb -= self.sbs_per_mb
                done = True
            elif rc != -EBUSY:
                return rc, nb_sb
        if not done:
            sb = self.sbs_per_mb - 1
            busy: list[int] = []
            while sb >= 0 and nb_sb:
                mask = self._mask(mb) & ((1 << (sb + 1)) - 1)
                if not mask:
                    break
                sb = mask.bit_length() - 1  # next plugged sub-block at or below sb
                rc = self._sbm_unplug_sb_online(mb, sb, 1, quiet=True)
                if rc == -EBUSY:
                    busy.append(sb)
                    sb -= 1
                    continue
                if rc:
                    return rc, nb_sb
                nb_sb -= 1
                sb -= 1
            if busy:
                tries = (
                    "5 attempts each in ZONE_MOVABLE"
                    if self.mm.get(mb) == MOVABLE
                    else "1 attempt each outside ZONE_MOVABLE"
                )
                self._t(
                    f"virtio_mem_sbm_unplug_any_sb_online(memory{mb}): fake-offline of "
                    f"{len(busy)} sub-block(s) {_sb_list(busy)} -> -EBUSY (pinned pages, "
                    f"{tries}): skipped"
                )
        rc = self._sbm_try_remove_unplugged_mb(mb)
        if rc:
            self.have_unplugged_mb = True
        return 0, nb_sb

    def _sbm_try_remove_unplugged_mb(self, mb: int) -> int:
        """``virtio_mem_sbm_try_remove_unplugged_mb()``: nothing plugged -> offline and remove
        the block -> UNUSED."""
        if self._mask(mb):
            return 0
        rc = self._offline_and_remove(mb * self.mbs, self.mbs)
        if not rc:
            self._set_state(mb, SbmState.UNUSED)
        return rc

    # ------------------------------------------------------------------ BBM
    def _bbm_plug_request(self, diff: int) -> int:
        """``virtio_mem_bbm_plug_request()``: UNUSED big blocks ascending, then new ones;
        threshold check before each; nb_bb = floor(diff / bb_size)."""
        nb_bb = diff // self.bb_size
        if not nb_bb:
            self._t(f"virtio_mem_bbm_plug_request: {diff:#x} < big block {self.bb_size:#x} -> 0")
            return 0
        for bb in self._iter_state(BbmState.UNUSED):
            if not self._could_add(self.bb_size):
                return -ENOSPC
            rc = self._bbm_plug_and_add_bb(bb)
            if not rc:
                nb_bb -= 1
            if rc or not nb_bb:
                return rc
        while nb_bb:
            if not self._could_add(self.bb_size):
                return -ENOSPC
            rc, bb = self._prepare_next()
            if rc:
                return rc
            rc = self._bbm_plug_and_add_bb(bb)
            if rc:
                return rc
            nb_bb -= 1
        return 0

    def _bbm_plug_and_add_bb(self, bb: int) -> int:
        """``virtio_mem_bbm_plug_and_add_bb()``: PLUG the whole big block, ADDED, add it (on
        failure unplug -> UNUSED, or PLUGGED when the unplug fails too)."""
        addr = bb * self.bb_size
        rc = self._send("PLUG", addr, self.bb_size)
        if rc:
            return rc
        self._set_state(bb, BbmState.ADDED)
        rc = self._add_memory(addr, self.bb_size)
        if rc:
            if not self._send("UNPLUG", addr, self.bb_size):
                self._set_state(bb, BbmState.UNUSED)
            else:
                self._set_state(bb, BbmState.PLUGGED)
            return rc
        return 0

    def _bb_blocks(self, bb: int) -> range:
        first = bb * self.bb_size // self.mbs
        return range(first, first + self.bb_size // self.mbs)

    def _bbm_bb_is_offline(self, bb: int) -> bool:
        """``virtio_mem_bbm_bb_is_offline()``: no online section in the big block."""
        return all(self.mm.get(mb, OFFLINE) == OFFLINE for mb in self._bb_blocks(bb))

    def _bbm_bb_is_movable(self, bb: int) -> bool:
        """``virtio_mem_bbm_bb_is_movable()``: every online section is ZONE_MOVABLE."""
        return all(self.mm.get(mb, OFFLINE) in (OFFLINE, MOVABLE) for mb in self._bb_blocks(bb))

    def _bbm_unplug_request(self, diff: int) -> int:
        """``virtio_mem_bbm_unplug_request()``: three passes over ADDED big blocks, descending
        (0: completely offline, 1: online parts all ZONE_MOVABLE, 2: any); -EBUSY skips to the
        next big block."""
        nb_bb = diff // self.bb_size
        if not nb_bb:
            self._t(f"virtio_mem_bbm_unplug_request: {diff:#x} < big block {self.bb_size:#x} -> 0")
            return 0
        for i in range(3):
            for bb in self._iter_state(BbmState.ADDED, reverse=True):
                if i == 0 and not self._bbm_bb_is_offline(bb):
                    continue
                if i == 1 and not self._bbm_bb_is_movable(bb):
                    continue
                rc = self._bbm_offline_remove_and_unplug_bb(bb)
                if rc == -EBUSY:
                    continue
                if not rc:
                    nb_bb -= 1
                if rc or not nb_bb:
                    return rc
        if nb_bb:
            self.stop_reason = f"{nb_bb} big block(s) could not be freed (pinned pages)"
            return -EBUSY
        return 0

    def _bbm_offline_remove_and_unplug_bb(self, bb: int) -> int:
        """``virtio_mem_bbm_offline_remove_and_unplug_bb()``: FAKE_OFFLINE, fake-offline every
        online section, offline + remove the big block, then UNPLUG it (failure -> PLUGGED,
        retried by the cleanup); failures before the removal roll back to ADDED."""
        self._set_state(bb, BbmState.FAKE_OFFLINE)
        for mb in self._bb_blocks(bb):
            if self.mm.get(mb, OFFLINE) == OFFLINE:
                continue
            rc = self._fake_offline(mb * self.mbs, self.mbs)
            if rc:
                self._t(f"virtio_mem_bbm_offline_remove_and_unplug_bb(bb {bb}): rollback")
                self._set_state(bb, BbmState.ADDED)
                return rc
        rc = self._offline_and_remove(bb * self.bb_size, self.bb_size)
        if rc:
            self._set_state(bb, BbmState.ADDED)
            return rc
        rc = self._send("UNPLUG", bb * self.bb_size, self.bb_size)
        self._set_state(bb, BbmState.PLUGGED if rc else BbmState.UNUSED)
        return rc

    # ------------------------------------------------------------------ cleanup
    def _cleanup_pending(self) -> int:
        """``virtio_mem_cleanup_pending_mb()``: unplug PLUGGED (not added) blocks -> UNUSED;
        SBM: retry offline+remove of fully unplugged partial blocks."""
        if not self.in_sbm:
            for bb in self._iter_state(BbmState.PLUGGED):
                rc = self._send("UNPLUG", bb * self.bb_size, self.bb_size)
                if rc:
                    if not self.stop_reason:
                        self.stop_reason = "cleanup UNPLUG of a removed big block failed"
                    return rc
                self._set_state(bb, BbmState.UNUSED)
            return 0
        for mb in self._iter_state(SbmState.PLUGGED):
            rc, _ = self._sbm_unplug_any_sb_raw(mb, self.sbs_per_mb)
            if rc:
                return rc
            self._set_state(mb, SbmState.UNUSED)
        if not self.have_unplugged_mb:
            return 0
        self.have_unplugged_mb = False
        failed = False
        for st in (SbmState.MOVABLE_PARTIAL, SbmState.KERNEL_PARTIAL, SbmState.OFFLINE_PARTIAL):
            for mb in self._iter_state(st):
                if self._sbm_try_remove_unplugged_mb(mb):
                    failed = True
        if failed:
            self.have_unplugged_mb = True
        return 0

    # ------------------------------------------------------------------ fake offline
    def _fake_offline(self, start: int, size: int, quiet: bool = False) -> int:
        """``virtio_mem_fake_offline()``: ``alloc_contig_range`` the range away from the
        buddy. Pinned (unmovable) pages make it fail: one attempt outside ZONE_MOVABLE, five
        in ZONE_MOVABLE (meant for transient pins), then -EBUSY."""
        pin = self._pinned_at(start, start + size - 1)
        if pin is None:
            if self._want():
                self._t(f"virtio_mem_fake_offline({start:#x}, {size:#x}) -> 0 (PG_offline)")
            return 0
        if quiet:
            return -EBUSY  # the caller summarises
        zone = self.mm.get(start // self.mbs, OFFLINE)
        tries = (
            "5 attempts in ZONE_MOVABLE" if zone == MOVABLE else "1 attempt outside ZONE_MOVABLE"
        )
        self._t(
            f"virtio_mem_fake_offline({start:#x}, {size:#x}): alloc_contig_range -EBUSY "
            f"(page {pin:#x} pinned), {tries} -> -EBUSY"
        )
        return -EBUSY

    # ------------------------------------------------------------------ Linux MM
    def _add_memory(self, addr: int, size: int) -> int:
        """``virtio_mem_add_memory()``: offline_size += size, then
        ``add_memory_driver_managed(addr, size, "System RAM (virtio_mem)",
        MHP_MERGE_RESOURCE | MHP_NID_IS_MGID)``; on failure offline_size is given back."""
        self.offline_size += size
        rc = self._add_memory_driver_managed(addr, size)
        if rc:
            self.offline_size -= size
            self._info(f"adding memory failed: {rc}")
            self.stop_reason = f"add_memory_driver_managed({addr:#x}) failed: {errno_name(rc)}"
        return rc

    def _add_memory_driver_managed(self, addr: int, size: int) -> int:
        """``add_memory_driver_managed()`` -> ``add_memory_resource()`` (mm/memory_hotplug.c,
        5.8+): ``register_memory_resource`` (a busy SYSTEM_RAM|DRIVER_MANAGED request that
        nests under the non-busy parent; -EEXIST on conflict; revokes /dev/mem mappings),
        ``arch_add_memory`` (x86: high_memory rises), memory block devices, resource merge
        (5.10+), then auto-onlining per memhp_default_state."""
        mbs = self.mbs
        if addr % mbs or size % mbs:
            return -EINVAL  # check_hotplug_memory_range
        self._flush_remove()
        conflict = self._region_conflict(addr, size)
        if conflict:
            self._t(f"register_memory_resource({addr:#x}, {size:#x}): {conflict} -> -EEXIST")
            return -EEXIST
        self._queue_add(addr, size)  # arch_add_memory: high_memory rises at the flush (x86)
        first = addr // mbs
        ids = range(first, first + size // mbs)
        for mb in ids:
            self.mm[mb] = OFFLINE
        log = self._log_or_new()
        log.added.extend(ids)
        if log.want():
            log.trace.append(
                f"add_memory_driver_managed({addr:#x}, {size:#x}, "
                f"{RESOURCE_NAME!r}) -> 0: memory{first}"
                + (f"-memory{ids[-1]}" if len(ids) > 1 else "")
                + " added"
            )
        online_type = self.machine.config.auto_online
        if online_type != "offline":
            for mb in ids:
                self._mm_online(mb, online_type, auto=True)
        return 0

    def _region_conflict(self, start: int, size: int) -> str | None:
        """What ``__request_region`` would conflict with (it descends into non-busy
        resources that contain the range), checked without inserting anything."""
        end = start + size - 1
        tree = self.machine.tree
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

    def _queue_add(self, addr: int, size: int) -> None:
        end = addr + size - 1
        merges = self.machine.config.virtio_mem_merges_resources
        p = self._pending_add
        if p is not None and merges and p[1] + 1 == addr:
            p[1] = end
            return
        self._flush_add()
        self._pending_add = [addr, end]
        if not merges:
            self._flush_add()

    def _queue_remove(self, addr: int, size: int) -> None:
        self._flush_add()
        end = addr + size - 1
        p = self._pending_remove
        if p is not None and (end + 1 == p[0] or p[1] + 1 == addr):
            p[0], p[1] = min(p[0], addr), max(p[1], end)
            return
        self._flush_remove()
        self._pending_remove = [addr, end]

    def _flush(self) -> None:
        self._flush_add()
        self._flush_remove()

    def _flush_add(self) -> None:
        """Perform the coalesced ``register_memory_resource`` (+ revocation, + merge)."""
        p = self._pending_add
        if p is None:
            return
        self._pending_add = None
        start, end = p
        tree = self.machine.tree
        res = tree.request_region(
            start, end - start + 1, RESOURCE_NAME, SYSTEM_RAM | F.SYSRAM_DRIVER_MANAGED
        )
        self._revoke(start, end)
        if self.machine.config.x86:
            # update_end_of_memory_vars() in x86-64 add_pages(): once for the coalesced range
            self.machine.raise_high_memory(end + 1)
        if self.machine.config.virtio_mem_merges_resources:
            tree.merge_system_ram_resource(res)

    def _flush_remove(self) -> None:
        """Perform the coalesced ``release_mem_region_adjustable`` calls."""
        p = self._pending_remove
        if p is None:
            return
        self._pending_remove = None
        start, end = p
        tree = self.machine.tree
        parent = self.parent
        if parent is None:
            return
        for child in list(tree.children_overlapping(parent, start, end)):
            a, b = max(child.start, start), min(child.end, end)
            tree.release_mem_region_adjustable(a, b - a + 1)

    def online_spans(self) -> dict[str, tuple[int, int]]:
        """Span [start, end) of this device's online memory per zone (for zone_spans)."""
        if self._spans is None:
            spans: dict[str, tuple[int, int]] = {}
            mbs = self.mbs
            for mb, zone in self.mm.items():
                if zone == OFFLINE:
                    continue
                a, b = mb * mbs, (mb + 1) * mbs
                old = spans.get(zone)
                spans[zone] = (min(a, old[0]), max(b, old[1])) if old else (a, b)
            self._spans = spans
        return self._spans

    def _mm_online(
        self, mb: int, online_type: str, auto: bool = False, zone: str | None = None
    ) -> int:
        """``online_memory_block()`` / ``memory_block_online()`` -> ``online_pages()``: zone
        by online type (``zone_for_pfn_range``), MEM_GOING_ONLINE (the driver may refuse),
        the online-page callback (plugged sub-blocks to the buddy, unplugged ones stay
        PG_offline), MEM_ONLINE."""
        mbs = self.mbs
        start, end = mb * mbs, (mb + 1) * mbs
        if zone is None:
            zone = mbk.zone_for_online_type(self.machine, start, end, online_type)
        rc = self._notify_going_online(mb)
        if rc:
            self._t(f"online_pages(memory{mb}): MEM_GOING_ONLINE -> NOTIFY_BAD -> -EPERM")
            return rc
        self.mm[mb] = zone
        if self._spans is not None:
            old = self._spans.get(zone)
            self._spans[zone] = (min(start, old[0]), max(end, old[1])) if old else (start, end)
        if self._want():
            how = f"auto_online_blocks={online_type}" if auto else online_type
            self._t(f"online_pages(memory{mb}) -> 0: zone {zone} ({how})")
        self._notify_online(mb, zone)
        return 0

    def _notify_going_online(self, mb: int) -> int:
        """``virtio_mem_sbm_notify_going_online()``: SBM refuses onlining unless the block is
        OFFLINE or OFFLINE_PARTIAL ("memory block onlining denied"); BBM accepts."""
        if not self.in_sbm:
            return 0
        if self._state(mb) in (SbmState.OFFLINE, SbmState.OFFLINE_PARTIAL):
            return 0
        self._info("memory block onlining denied")
        return -EPERM

    def _notify_online(self, mb: int, zone: str) -> None:
        """MEM_ONLINE in ``virtio_mem_memory_notifier_cb()``: SBM state by the zone of the
        first page (``virtio_mem_sbm_notify_online``), offline_size -= block, and queue the
        work when not running and at most half the threshold is offline."""
        if self.in_sbm:
            st = self._state(mb)
            movable = zone == MOVABLE
            if st == SbmState.OFFLINE_PARTIAL:
                new = SbmState.MOVABLE_PARTIAL if movable else SbmState.KERNEL_PARTIAL
            elif st == SbmState.OFFLINE:
                new = SbmState.MOVABLE if movable else SbmState.KERNEL
            else:
                raise AssertionError(f"BUG: MEM_ONLINE for memory{mb} in state {st}")
            self._set_state(mb, new)
        self.offline_size -= self.mbs
        if not self.wq_active and self._could_add(self.offline_threshold // 2):
            self._t(
                f"virtio_mem_memory_notifier_cb(MEM_ONLINE memory{mb}): offline "
                f"{fmt_size(self.offline_size)} <= half the threshold -> virtio_mem_retry"
            )
            self._retry("memory onlined")

    def _notify_offline(self, mb: int) -> None:
        """MEM_OFFLINE: ``virtio_mem_sbm_notify_offline()`` (-> OFFLINE / OFFLINE_PARTIAL),
        offline_size += block (no retry: unplug_online defaults to 1)."""
        if self.in_sbm:
            st = self._state(mb)
            if st in (SbmState.KERNEL_PARTIAL, SbmState.MOVABLE_PARTIAL):
                self._set_state(mb, SbmState.OFFLINE_PARTIAL)
            elif st in (SbmState.KERNEL, SbmState.MOVABLE):
                self._set_state(mb, SbmState.OFFLINE)
            else:
                raise AssertionError(f"BUG: MEM_OFFLINE for memory{mb} in state {st}")
        self.offline_size += self.mbs

    def _plugged_pin(self, mb: int) -> int | None:
        """A pinned page in a plugged part of memory block mb (what offline_pages trips on)."""
        mbs = self.mbs
        start = mb * mbs
        if not self.in_sbm:
            return self._pinned_at(start, start + mbs - 1)
        mask = self._mask(mb)
        for lo, hi in _mask_runs_desc(mask)[::-1]:
            hit = self._pinned_at(start + lo * self.sb_size, start + (hi + 1) * self.sb_size - 1)
            if hit is not None:
                return hit
        return None

    def _mm_offline(self, mb: int) -> int:
        """``offline_pages()`` for one memory block: MEM_GOING_OFFLINE (the driver drops its
        references on PG_offline pages so they are skipped), migrate everything else; a
        pinned page makes it fail with -EBUSY (MEM_CANCEL_OFFLINE); else MEM_OFFLINE."""
        pin = self._plugged_pin(mb)
        if pin is not None:
            self._t(
                f"offline_pages(memory{mb}): page {pin:#x} is pinned (unmovable) -> "
                "-EBUSY (MEM_CANCEL_OFFLINE)"
            )
            return -EBUSY
        self.mm[mb] = OFFLINE
        self._spans = None
        if self._want():
            self._t(f"offline_pages(memory{mb}) -> 0")
        self._notify_offline(mb)
        return 0

    def _remove_memory(self, addr: int, size: int) -> int:
        """``remove_memory()`` (via ``virtio_mem_remove_memory``): every block must be
        offline; resources trimmed/split by ``release_mem_region_adjustable``; memoryN
        devices deleted; offline_size -= size and the work is queued again."""
        mbs = self.mbs
        ids = range(addr // mbs, (addr + size) // mbs)
        if any(self.mm.get(mb, OFFLINE) != OFFLINE for mb in ids):
            return -EBUSY
        for mb in ids:
            self.mm.pop(mb, None)
        self._spans = None
        self._queue_remove(addr, size)
        log = self._log_or_new()
        log.removed.extend(ids)
        if log.want():
            log.trace.append(
                f"remove_memory({addr:#x}, {size:#x}) -> 0: memory{ids[0]}"
                + (f"-memory{ids[-1]}" if len(ids) > 1 else "")
                + " removed"
            )
        self.offline_size -= size
        self._retry("memory removed")
        return 0

    def _offline_and_remove(self, addr: int, size: int) -> int:
        """``offline_and_remove_memory()`` (via ``virtio_mem_offline_and_remove_memory``):
        offline every online block (remembering its zone); if one fails, online again those
        it offlined and fail with -EBUSY; else remove."""
        mbs = self.mbs
        done: list[tuple[int, str]] = []
        for mb in range(addr // mbs, (addr + size) // mbs):
            zone = self.mm.get(mb, OFFLINE)
            if zone == OFFLINE:
                continue
            rc = self._mm_offline(mb)
            if rc:
                for back, z in done:
                    self._mm_online(back, "online", zone=z)
                return -EBUSY
            done.append((mb, zone))
        return self._remove_memory(addr, size)

    # ------------------------------------------------------------------ sysfs (user)
    def sysfs_online(self, mb: int, online_type: str) -> SysfsResult:
        """Write ``online``/``online_kernel``/``online_movable`` to memoryN/state
        (``state_store`` -> ``device_online``): -EINVAL when already online."""
        self._begin(f"echo {online_type} > /sys/devices/system/memory/memory{mb}/state")
        zone = self.mm[mb]
        if zone != OFFLINE:
            self._t(f"device_online(memory{mb}): already online ({zone}) -> 1 -> -EINVAL")
            report = self._end()
            return SysfsResult(
                "EINVAL",
                f"memory{mb} is already online ({zone}): write fails with EINVAL",
                report.full_trace(),
            )
        rc = self._mm_online(mb, online_type)
        if rc:
            report = self._end()
            return SysfsResult(
                "EPERM",
                f"memory{mb}: onlining denied by the virtio-mem driver",
                report.full_trace(),
            )
        self._work()
        report = self._end()
        msg = f"memory{mb} online ({self.mm[mb]})"
        if report.requests:
            msg += f"; {self.name} driver ran:\n" + report.text()
        return SysfsResult("DONE", msg, report.full_trace(), [report])

    def sysfs_offline(self, mb: int) -> SysfsResult:
        """Write ``offline`` to memoryN/state (``device_offline`` -> ``offline_pages``):
        -EINVAL when already offline, -EBUSY when a pinned page cannot be migrated."""
        self._begin(f"echo offline > /sys/devices/system/memory/memory{mb}/state")
        zone = self.mm[mb]
        if zone == OFFLINE:
            self._t(f"device_offline(memory{mb}): already offline -> 1 -> -EINVAL")
            report = self._end()
            return SysfsResult(
                "EINVAL",
                f"memory{mb} is already offline: write fails with EINVAL",
                report.full_trace(),
            )
        rc = self._mm_offline(mb)
        if rc:
            report = self._end()
            return SysfsResult(
                "EBUSY",
                f"memory{mb} cannot be offlined: pinned (unmovable) pages -> EBUSY",
                report.full_trace(),
            )
        self._work()
        report = self._end()
        return SysfsResult(
            "DONE",
            f"memory{mb} offline (was {zone}); valid_zones now "
            f"{mbk.valid_zones(self.machine, self, mb)}",
            report.full_trace(),
            [report],
        )

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
        if size % bs:
            reason = (
                f"size {size:#x} is not a multiple of the device block size {bs:#x}: no "
                "nb_blocks expresses it"
            )
            return RawAnswer("ERROR", f"{call} -> ERROR ({reason})", [reason])
        nb = size // bs
        if nb > MAX_NB_BLOCKS:
            reason = (
                f"{nb} blocks do not fit the 16-bit nb_blocks field (max {MAX_NB_BLOCKS}); "
                "split the request"
            )
            return RawAnswer("ERROR", f"{call} -> ERROR ({reason})", [reason])
        if addr + size > (1 << 64):
            reason = f"{addr:#x}+{size:#x} overflows 64 bits"
            return RawAnswer("ERROR", f"{call} -> ERROR ({reason})", [reason])
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
        if unplug:
            used = [
                mb
                for mb in range(start // self.mbs, end // self.mbs + 1)
                if self.mm.get(mb, OFFLINE) != OFFLINE
            ]
            if used:
                out.append(
                    f"memory{used[0]}"
                    + (f" (+{len(used) - 1} more)" if len(used) > 1 else "")
                    + " is online RAM the kernel uses: it just lost its backing "
                    "memory (the guest would crash or read garbage)"
                )
        return out

    # ------------------------------------------------------------------ queries
    def memory_state(self, addr: int) -> str:
        """Linux MM state of the page at addr (for /proc/kcore and reads): 'online',
        'offline' (added block offline: ``pfn_to_online_page`` fails), 'page_offline'
        (PG_offline: an unplugged sub-block of an added block), 'not_added'."""
        if not self.probed or self.kdump:
            return "not_added"
        mb = addr // self.mbs
        zone = self.mm.get(mb)
        if zone is None:
            return "not_added"
        if zone == OFFLINE:
            return "offline"
        if self.in_sbm:
            sb = (addr - mb * self.mbs) // self.sb_size
            return "online" if self._mask(mb) >> sb & 1 else "page_offline"
        return "online"

    def unpinnable(self, start: int, end: int) -> str | None:
        """Why pages of [start, end] inside this device cannot be pinned, or None."""
        dev = self.device
        a, b = max(start, dev.addr), min(end, dev.end - 1)
        if a > b:
            return None
        mbs = self.mbs
        for mb in range(a // mbs, b // mbs + 1):
            zone = self.mm.get(mb)
            if zone is None:
                return f"{max(a, mb * mbs):#x} is {self.name} memory that is not added"
            if zone == OFFLINE:
                return f"{max(a, mb * mbs):#x} is in memory{mb}, which is offline"
            if self.in_sbm:
                lo = (max(a, mb * mbs) - mb * mbs) // self.sb_size
                hi = (min(b, (mb + 1) * mbs - 1) - mb * mbs) // self.sb_size
                want = ((1 << (hi - lo + 1)) - 1) << lo
                missing = want & ~self._mask(mb)
                if missing:
                    sb = (missing & -missing).bit_length() - 1
                    return (
                        f"{mb * mbs + sb * self.sb_size:#x} is an unplugged sub-block of "
                        f"memory{mb} (PG_offline, not in the page allocator)"
                    )
        return None

    def sbm_state_name(self, mb: int) -> str:
        """Driver state of memory block mb (SBM) or of its big block (BBM), or '-'."""
        if not self.probed or self.kdump:
            return "-"
        if self.in_sbm:
            if self.first_id <= mb < self.next_id:
                return SbmState(self._state(mb)).name
            return "-"
        bb = mb * self.mbs // self.bb_size
        if self.first_id <= bb < self.next_id:
            return BbmState(self._state(bb)).name
        return "-"

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
    def kexec(self, kdump: bool = False) -> VmemReport:
        """Boot a new kernel without a system reset (kexec, or a kdump crash kernel): QEMU keeps
        its bitmap; the old kernel's memory blocks and resources are gone; the new driver
        probes with plugged_size != 0 and first sends UNPLUG_ALL (``unplug_all_required``,
        T35), or in kdump mode adds nothing and answers ``pfn_is_ram`` (T39, 5.16+).
        Only this device's part of the machine is rebooted (boot RAM and mappings stay)."""
        self._flush()
        tree = self.machine.tree
        if self.parent is not None and self.parent.parent is not None:
            tree.release(self.parent)
        self.parent = None
        dev = self.device
        mbk.remove_pin(self.machine, dev.addr, dev.end - 1)
        fresh = VirtioMem(self.machine, dev, self.index)
        keep = {"machine", "device", "index", "res_name"}
        for k, v in vars(fresh).items():
            if k not in keep:
                setattr(self, k, v)
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

    def suspend(self, persistent_suspend: bool = False, to_idle: bool = False) -> VmemReport:
        """``virtio_mem_freeze()`` / ``virtio_mem_restore()``: before 6.10 [I] freeze always
        fails (-EPERM); since, suspend-to-RAM with memory plugged needs
        VIRTIO_MEM_F_PERSISTENT_SUSPEND (QEMU 9.2+ [I]); otherwise the device is reset (blocks
        kept), QEMU's wakeup reset keeps the bitmap, and restore triggers a config refresh."""
        log = self._begin(f"{self.name}: suspend")
        cfg = self.machine.config
        if not self.probed or self.kdump:
            log.t("no virtio-mem driver bound: suspend proceeds")
            return self._end()
        if not cfg.at_least(6, 10):
            log.warnings.append("virtio_mem_freeze -> -EPERM (no suspend support before 6.10)")
            return self._end()
        if not to_idle and self.plugged_size and not persistent_suspend:
            log.warnings.append("suspending with plugged memory is not supported -> -EPERM")
            self._info("suspending with plugged memory is not supported")
            return self._end()
        log.t("virtio_mem_freeze: virtio_reset_device (blocks stay plugged), del_vqs")
        ans = self.device.system_reset(wakeup=True)
        log.t(f"resume: {ans.reason}")
        log.t("virtio_mem_restore: init_vq, virtio_mem_config_changed")
        self._config_changed()
        return self._end()

    # ------------------------------------------------------------------ consistency
    def check(self) -> None:
        """AssertionError unless the three layers agree (used by the tests)."""
        dev = self.device
        assert dev.plugged_size == dev.blocks.total() * dev.block_size
        if not self.probed or self.kdump:
            assert not self.mm
            return
        mbs = self.mbs
        n = self.next_id - self.first_id
        assert len(self.states) == n
        if self.in_sbm:
            assert len(self.sb_masks) == n
            for i, st in enumerate(self.states):
                mb = self.first_id + i
                mask = self.sb_masks[i]
                added = mb in self.mm
                assert added == (st in _ADDED_SBM), f"memory{mb}: state {st} vs added {added}"
                if st == SbmState.UNUSED:
                    assert mask == 0, f"memory{mb} UNUSED with sub-blocks plugged"
                if st in (SbmState.OFFLINE, SbmState.KERNEL, SbmState.MOVABLE):
                    assert mask == self.full_mask, f"memory{mb} {SbmState(st).name} not full"
                if st in (
                    SbmState.OFFLINE_PARTIAL,
                    SbmState.KERNEL_PARTIAL,
                    SbmState.MOVABLE_PARTIAL,
                ):
                    assert mask != self.full_mask, f"memory{mb} partial state but full"
                if added:
                    zone = self.mm[mb]
                    if st in (SbmState.OFFLINE, SbmState.OFFLINE_PARTIAL):
                        assert zone == OFFLINE
                    elif st in (SbmState.MOVABLE, SbmState.MOVABLE_PARTIAL):
                        assert zone == MOVABLE
                    else:
                        assert zone not in (OFFLINE, MOVABLE)
        else:
            for i, st in enumerate(self.states):
                bb = self.first_id + i
                bb_added = [mb in self.mm for mb in self._bb_blocks(bb)]
                assert all(bb_added) == (st in (BbmState.ADDED, BbmState.FAKE_OFFLINE))
                assert any(bb_added) == all(bb_added)
        offline = sum(mbs for z in self.mm.values() if z == OFFLINE)
        assert self.offline_size == offline, (self.offline_size, offline)
        assert self._pending_add is None and self._pending_remove is None

    # ------------------------------------------------------------------ save / open
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; ``from_dict(machine, d).to_dict() == d``."""
        return {
            "name": self.name,
            "index": self.index,
            "device": self.device.to_dict(),
            "probed": self.probed,
            "probe_error": self.probe_error,
            "kdump": self.kdump,
            "exclusive": self.exclusive,
            "mode": self.mode,
            "sb_size": _h(self.sb_size),
            "sbs_per_mb": self.sbs_per_mb,
            "bb_size": _h(self.bb_size),
            "first_id": self.first_id,
            "next_id": self.next_id,
            "last_usable_id": self.last_usable_id,
            "states": _rle(list(self.states)),
            "sb_masks": [[_h(v), n] for v, n in _rle(self.sb_masks)],
            "offline_size": _h(self.offline_size),
            "offline_threshold": _h(self.offline_threshold),
            "plugged_size": _h(self.plugged_size),
            "requested_size": _h(self.requested_size),
            "usable_region_size": _h(self.usable_region_size),
            "unplug_all_required": self.unplug_all_required,
            "config_changed": self.config_changed,
            "broken": self.broken,
            "have_unplugged_mb": self.have_unplugged_mb,
            "retry_timer_s": self.retry_timer_s,
            "timer_deadline": self.timer_deadline,
            "stop_rc": self.stop_rc,
            "stop_reason": self.stop_reason,
            "livelock": self.livelock,
            "last_block": (
                None
                if self.last_block_addr is None
                else [_h(self.last_block_addr), self.last_block_plugged]
            ),
            "mm": _mm_runs(self.mm),
        }

    @classmethod
    def from_dict(cls, machine: MachineLike, data: dict[str, Any]) -> VirtioMem:
        """Inverse of ``to_dict``; the machine's resource tree must already be restored (the
        ``virtioN`` parent is looked up there). Does not register in ``machine.vmem``."""
        try:
            device = VirtioMemDevice.from_dict(data["device"])
        except ValueError as e:
            raise DevmemError(f"virtio-mem device: {e}") from None
        index = _int(data["index"], "index")
        vm = cls(machine, device, index)
        if data.get("name", device.name) != device.name:
            raise DevmemError("virtio-mem name differs from its device's name")
        vm.probed = _bool(data["probed"], "probed")
        vm.probe_error = str(data.get("probe_error", ""))
        vm.kdump = _bool(data.get("kdump", False), "kdump")
        vm.exclusive = _bool(data.get("exclusive", False), "exclusive")
        mode = data.get("mode", "SBM")
        if mode not in ("SBM", "BBM"):
            raise DevmemError(f"unknown virtio-mem mode {mode!r}")
        vm.in_sbm = mode == "SBM"
        vm.sb_size = _hx(data["sb_size"], "sb_size")
        vm.sbs_per_mb = _int(data["sbs_per_mb"], "sbs_per_mb")
        vm.bb_size = _hx(data["bb_size"], "bb_size")
        vm.first_id = _int(data["first_id"], "first_id")
        vm.next_id = _int(data["next_id"], "next_id")
        vm.last_usable_id = _int(data["last_usable_id"], "last_usable_id")
        # A saved file is untrusted: bound every count by the device's own size, so a run of
        # 2^40 entries or a 2^64-bit sub-block mask is refused rather than exhausting memory.
        most = device.region_size // max(machine.memory_block_size, 1) + 2
        if not 0 <= vm.next_id - vm.first_id <= most:
            raise DevmemError("virtio-mem tracking arrays do not match next_id - first_id")
        if vm.probed and not vm.kdump:  # the geometry probe() derives from the device
            if vm.in_sbm and (
                not 0 < vm.sb_size < vm.mbs
                or vm.mbs % vm.sb_size
                or vm.sb_size % device.block_size
                or vm.sbs_per_mb != vm.mbs // vm.sb_size
            ):
                raise DevmemError("virtio-mem sub-block size does not fit the memory block size")
            if not vm.in_sbm and vm.bb_size != max(device.block_size, vm.mbs):
                raise DevmemError("virtio-mem big block size does not match the device")
            unit = vm.mbs if vm.in_sbm else vm.bb_size
            if vm.first_id != -(-device.addr // unit):
                raise DevmemError("virtio-mem first block id does not match the device address")
        states = _unrle(data["states"], "states", most)
        if any(not 0 <= s <= 7 for s in states):
            raise DevmemError("virtio-mem block state out of range")
        vm.states = bytearray(states)
        vm.sb_masks = _unrle(
            [[_hx(v, "sb mask"), n] for v, n in data["sb_masks"]], "sb_masks", most
        )
        n = vm.next_id - vm.first_id
        if n < 0 or len(vm.states) != n or (vm.in_sbm and len(vm.sb_masks) != n):
            raise DevmemError("virtio-mem tracking arrays do not match next_id - first_id")
        if vm.in_sbm and vm.probed and not vm.kdump and vm.sbs_per_mb <= 0:
            raise DevmemError("virtio-mem SBM without sub-blocks")
        if not vm.in_sbm and vm.probed and not vm.kdump and vm.bb_size <= 0:
            raise DevmemError("virtio-mem BBM without a big block size")
        vm.offline_size = _hx(data["offline_size"], "offline_size")
        vm.offline_threshold = _hx(data["offline_threshold"], "offline_threshold")
        vm.plugged_size = _hx(data["plugged_size"], "plugged_size")
        vm.requested_size = _hx(data["requested_size"], "requested_size")
        vm.usable_region_size = _hx(data["usable_region_size"], "usable_region_size")
        vm.unplug_all_required = _bool(data["unplug_all_required"], "unplug_all_required")
        vm.config_changed = _bool(data["config_changed"], "config_changed")
        vm.broken = _bool(data["broken"], "broken")
        vm.have_unplugged_mb = _bool(data["have_unplugged_mb"], "have_unplugged_mb")
        vm.retry_timer_s = float(data["retry_timer_s"])
        td = data["timer_deadline"]
        vm.timer_deadline = None if td is None else float(td)
        # A period below 50 s (0, NaN) or a deadline outside the clock's range would make
        # `wait` fire the timer forever without the clock moving on.
        if not RETRY_TIMER_MIN <= vm.retry_timer_s <= RETRY_TIMER_MAX:
            raise DevmemError(
                f"retry_timer_s {vm.retry_timer_s:g} is outside "
                f"{RETRY_TIMER_MIN:g}..{RETRY_TIMER_MAX:g}"
            )
        if (
            vm.timer_deadline is not None
            and not 0 <= vm.timer_deadline <= MAX_CLOCK + RETRY_TIMER_MAX
        ):
            raise DevmemError(f"timer_deadline {vm.timer_deadline:g} is outside the clock's range")
        vm.stop_rc = _int(data.get("stop_rc", 0), "stop_rc")
        vm.stop_reason = str(data.get("stop_reason", ""))
        vm.livelock = _bool(data.get("livelock", False), "livelock")
        lb = data.get("last_block")
        if lb is not None:
            vm.last_block_addr = _hx(lb[0], "last_block")
            vm.last_block_plugged = _bool(lb[1], "last_block")
        vm.mm = _mm_unruns(data["mm"], most)
        if vm.probed and not vm.kdump and vm.mm:
            unit = vm.mbs if vm.in_sbm else vm.bb_size
            lo, hi = vm.first_id * unit // vm.mbs, vm.next_id * unit // vm.mbs
            if any(not lo <= mb < hi for mb in vm.mm):
                raise DevmemError("virtio-mem memory blocks outside the blocks the driver tracks")
        vm._spans = None
        if vm.probed and not vm.kdump:
            end = device.end - 1
            found = [
                r for r in machine.tree.find(vm.res_name) if r.start == device.addr and r.end == end
            ]
            if not found:
                raise DevmemError(
                    f"{device.name}: its {vm.res_name} resource "
                    f"{device.addr:#x}-{end:#x} is missing from the map"
                )
            vm.parent = found[0]
        return vm


# ----------------------------------------------------------------------------- (de)serialising
def _h(n: int) -> str:
    return f"{n:#x}"


def _hx(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise DevmemError(f"virtio-mem {what}: not a number")
    n = int(v, 0) if isinstance(v, str) else v
    if n < 0:
        raise DevmemError(f"virtio-mem {what}: negative")
    return n


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise DevmemError(f"virtio-mem {what}: not an integer")
    return v


def _bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise DevmemError(f"virtio-mem {what}: not true/false")
    return v


def _rle(values: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return out


def _unrle(pairs: Any, what: str, most: int) -> list[int]:
    if not isinstance(pairs, list):
        raise DevmemError(f"virtio-mem {what}: not a list")
    out: list[int] = []
    for p in pairs:
        if not isinstance(p, list) or len(p) != 2:
            raise DevmemError(f"virtio-mem {what}: bad [value, count] pair")
        v, n = _int(p[0], what), _int(p[1], what)
        if n <= 0:
            raise DevmemError(f"virtio-mem {what}: empty run")
        if len(out) + n > most:
            raise DevmemError(f"virtio-mem {what}: more entries than the device has blocks")
        out.extend([v] * n)
    return out


def _mm_runs(mm: dict[int, str]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for mb in sorted(mm):
        zone = mm[mb]
        if out and out[-1][0] + out[-1][1] == mb and out[-1][2] == zone:
            out[-1][1] += 1
        else:
            out.append([mb, 1, zone])
    return out


def _mm_unruns(runs: Any, most: int) -> dict[int, str]:
    if not isinstance(runs, list):
        raise DevmemError("virtio-mem memory blocks: not a list")
    mm: dict[int, str] = {}
    zones = (OFFLINE, MOVABLE, *mbk.KERNEL_ZONES)
    for r in runs:
        if not isinstance(r, list) or len(r) != 3 or r[2] not in zones:
            raise DevmemError("virtio-mem memory blocks: bad [first, count, zone] run")
        first, n = _int(r[0], "memory block"), _int(r[1], "memory block count")
        if not 0 < n <= most - len(mm):
            raise DevmemError("virtio-mem memory blocks: more than the device has")
        for mb in range(first, first + n):
            mm[mb] = r[2]
    return mm


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
) -> VirtioMem:
    """Hot-add a virtio-mem device (QEMU ``device_add virtio-mem-pci``) and, if the config can
    build the driver, probe it. Validates everything before changing anything: DevmemError
    (one line) for a bad name, geometry, or an overlap with RAM, resources or another device.

    ``unplugged_inaccessible`` None picks what a working setup has: on, unless the kernel's
    driver cannot accept the feature (before 5.15), which needs a QEMU machine type <= 6.2."""
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
    names = {r.name for r in machine.tree.resources()}
    used = {vm.index for vm in others}
    if index is None:
        index = next(
            i
            for i in range(len(used) + len(names) + 1)
            if i not in used and f"virtio{i}" not in names
        )
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


# ----------------------------------------------------------------------------- tables
GLYPH_PLUGGED = "#"
GLYPH_UNPLUGGED = "."
GLYPH_PINNED = "!"
GLYPH_MISMATCH = "?"


def sub_block_strip(vm: VirtioMem, mb: int) -> str:
    """One glyph per sub-block of memory block mb: '#' plugged, '.' unplugged (PG_offline),
    '!' plugged with pinned pages, '?' where the device disagrees with the driver (raw
    requests). BBM: one glyph for the whole block."""
    dev = vm.device
    mbs = vm.mbs
    start = mb * mbs
    if not vm.in_sbm:
        plugged = (
            dev.blocks.all_set(dev.block_index(start), mbs // dev.block_size)
            if dev.addr <= start and start + mbs <= dev.end
            else False
        )
        drv = vm.mm.get(mb) is not None
        g = GLYPH_PLUGGED if drv else GLYPH_UNPLUGGED
        if drv != plugged:
            g = GLYPH_MISMATCH
        return g
    mask = vm._mask(mb) if vm.first_id <= mb < vm.next_id else 0
    per_sb = vm.sb_size // dev.block_size
    first_blk = dev.block_index(start)
    n_dev = dev.blocks.count_in(first_blk, vm.sbs_per_mb * per_sb)
    fast = (mask == vm.full_mask and n_dev == vm.sbs_per_mb * per_sb) or (mask == 0 and n_dev == 0)
    pins = vm._pinned_at(start, start + mbs - 1) is not None
    out = []
    for sb in range(vm.sbs_per_mb):
        drv = bool(mask >> sb & 1)
        g = GLYPH_PLUGGED if drv else GLYPH_UNPLUGGED
        if not fast:
            blk = first_blk + sb * per_sb
            devp = dev.blocks.all_set(blk, per_sb)
            if devp != drv or (not drv and not dev.blocks.none_set(blk, per_sb)):
                g = GLYPH_MISMATCH
        if g == GLYPH_PLUGGED and pins:
            a = start + sb * vm.sb_size
            if vm._pinned_at(a, a + vm.sb_size - 1) is not None:
                g = GLYPH_PINNED
        out.append(g)
    return "".join(out)


def _block_row(vm: VirtioMem, mb: int) -> tuple[str, str, str, str]:
    """(STATE, ZONES, VIRTIO-MEM state, PLUGGED) of memory block mb."""
    m = vm.machine
    zone = vm.mm.get(mb)
    drv = vm.sbm_state_name(mb)
    mbs = vm.mbs
    dev = vm.device
    if zone is None:
        usable_end = dev.addr + dev.usable_region_size
        state = "not added" if (mb + 1) * mbs <= usable_end else "unusable"
        plugged = "-"
        if vm.in_sbm and vm.first_id <= mb < vm.next_id and vm._mask(mb):
            plugged = f"{bin(vm._mask(mb)).count('1')}/{vm.sbs_per_mb}"
        return state, "-", drv, plugged
    state = "offline" if zone == OFFLINE else "online"
    zones = mbk.valid_zones(m, vm, mb) if zone == OFFLINE else zone
    if vm.in_sbm:
        plugged = f"{bin(vm._mask(mb)).count('1')}/{vm.sbs_per_mb}"
    else:
        plugged = "all"
    return state, zones, drv, plugged


def blocks_table(vm: VirtioMem, all: bool = False) -> str:
    """lsmem-style table of the device's memory blocks: RANGE SIZE STATE BLOCK ZONES plus the
    driver's block state and plugged sub-blocks; neighbouring blocks that match in every column
    are merged (``all``: one row per block). Partially plugged blocks (every block with
    ``all``) get a sub-block strip. Ends with a summary."""
    dev = vm.device
    mbs = vm.mbs
    first = -(-dev.addr // mbs)
    last = dev.end // mbs - 1
    rows: list[list[Any]] = []  # [first_mb, last_mb, key]
    for mb in range(first, last + 1):
        key = _block_row(vm, mb)
        if rows and not all and rows[-1][2] == key and rows[-1][1] == mb - 1:
            rows[-1][1] = mb
        else:
            rows.append([mb, mb, key])
    header = ("RANGE", "SIZE", "STATE", "BLOCK", "ZONES", "VIRTIO-MEM", "PLUGGED")
    table = [header]
    strips: list[str] = []
    for a, b, (state, zones, drv, plugged) in rows:
        rng = f"0x{a * mbs:016x}-0x{(b + 1) * mbs - 1:016x}"
        blk = str(a) if a == b else f"{a}-{b}"
        table.append((rng, fmt_size((b - a + 1) * mbs), state, blk, zones, drv, plugged))
    if vm.probed and not vm.kdump:
        for mb in range(first, last + 1):
            if vm.in_sbm:
                in_range = vm.first_id <= mb < vm.next_id
                mask = vm._mask(mb) if in_range else 0
                partial = in_range and 0 < mask < vm.full_mask
                if all and (mb in vm.mm or mask) or partial:
                    strips.append(f"memory{mb:<5} {sub_block_strip(vm, mb)}")
            elif all and mb in vm.mm:
                strips.append(f"memory{mb:<5} {sub_block_strip(vm, mb)}")
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for r in table:
        cells = [c.rjust(widths[i]) if i == 1 else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    if strips:
        lines.append("")
        lines.append(
            f"sub-blocks ({GLYPH_PLUGGED} plugged, {GLYPH_UNPLUGGED} unplugged/"
            f"PG_offline, {GLYPH_PINNED} plugged+pinned, {GLYPH_MISMATCH} device "
            "disagrees with the driver):"
        )
        lines.extend(strips)
    lines.append("")
    lines.extend(summary_lines(vm))
    return "\n".join(lines)


def summary_lines(vm: VirtioMem) -> list[str]:
    dev = vm.device
    online = sum(vm.mbs for z in vm.mm.values() if z != OFFLINE)
    offline = sum(vm.mbs for z in vm.mm.values() if z == OFFLINE)
    mem_total = 0
    if vm.probed and not vm.kdump:
        for mb, z in vm.mm.items():
            if z == OFFLINE:
                continue
            if vm.in_sbm:
                mem_total += bin(vm._mask(mb)).count("1") * vm.sb_size
            else:
                mem_total += vm.mbs
    if not vm.probed:
        mode = f"no driver: {vm.probe_error or 'not probed'}"
    elif vm.kdump:
        mode = "kdump mode"
    elif vm.in_sbm:
        mode = f"SBM, sub-block {fmt_size(vm.sb_size)} ({vm.sbs_per_mb} per memory block)"
    else:
        mode = f"BBM, big block {fmt_size(vm.bb_size)}"
    return [
        f"Memory block size:     {fmt_size(vm.mbs)}",
        f"Total online memory:   {fmt_size(online)}",
        f"Total offline memory:  {fmt_size(offline)}",
        f"{dev.name} ({vm.res_name}, {mode}): plugged {fmt_size(dev.plugged_size)} of requested "
        f"{fmt_size(dev.requested_size)}, usable {fmt_size(dev.usable_region_size)}, device "
        f"block {fmt_size(dev.block_size)}; MemTotal share {fmt_size(mem_total)}; driver "
        f"{vm.driver_state()}",
    ]


def info_text(vm: VirtioMem) -> str:
    """HMP ``info memory-devices`` for one device, plus the guest driver's view."""
    d = vm.device.info()
    lines = [f'Memory device [virtio-mem]: "{vm.name}"']
    for key in ("memaddr", "node", "requested-size", "size", "max-size", "block-size", "memdev"):
        v = d[key]
        lines.append(f"  {key}: {v:#x}" if key == "memaddr" else f"  {key}: {v}")
    lines.append(
        f"  usable-region-size: {vm.device.usable_region_size} "
        f"({fmt_size(vm.device.usable_region_size)})"
    )
    mode = vm.mode if vm.probed and not vm.kdump else "-"
    lines.append(f"  guest: {vm.res_name}, mode {mode}, driver {vm.driver_state()}")
    return "\n".join(lines)
