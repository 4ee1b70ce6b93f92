"""A virtio-mem device and its driver to and from JSON-ready dicts (one ``vmem`` entry of a
session file), with the validation of untrusted saved data.

``from_dict(machine, to_dict(vm))`` rebuilds the same state and ``to_dict`` of it gives the same
dict back. A saved file is untrusted: every count is bounded by the device's own size and every
geometry must be what a probe of that device would derive, so a hand-edited file is refused
with one line instead of exhausting memory or tripping an assertion later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import MAX_CLOCK, MachineLike
from devmem_tui.engine.json_fields import want_bool, want_int, want_number, want_str
from devmem_tui.engine.mm.memory_blocks import KERNEL_ZONES, MOVABLE, OFFLINE
from devmem_tui.engine.runs import RunIndex
from devmem_tui.engine.virtio_mem.bbm import BigBlockMode
from devmem_tui.engine.virtio_mem.blockmode import BlockMode
from devmem_tui.engine.virtio_mem.core import RETRY_TIMER_MAX, RETRY_TIMER_MIN
from devmem_tui.engine.virtio_mem.device import VirtioMemDevice
from devmem_tui.engine.virtio_mem.driver import VirtioMem
from devmem_tui.engine.virtio_mem.sbm import SubBlockMode


def to_dict(vm: VirtioMem) -> dict[str, Any]:
    """JSON-ready state; ``from_dict(machine, d)`` rebuilds it and ``to_dict`` of that is d."""
    bm = vm.blockmode
    sbm = bm if isinstance(bm, SubBlockMode) else None
    bbm = bm if isinstance(bm, BigBlockMode) else None
    return {
        "name": vm.name,
        "index": vm.index,
        "device": vm.device.to_dict(),
        "probed": vm.probed,
        "probe_error": vm.probe_error,
        "kdump": vm.kdump,
        "exclusive": vm.exclusive,
        "mode": bm.name,
        "sb_size": _h(sbm.sb_size if sbm else 0),
        "sbs_per_mb": sbm.sbs_per_mb if sbm else 0,
        "bb_size": _h(bbm.bb_size if bbm else 0),
        "first_id": bm.first_id,
        "next_id": bm.next_id,
        "last_usable_id": bm.last_usable_id,
        "states": [[v, n] for v, n in _runs(bm.state_runs, bm.state_at, bm.first_id, bm.next_id)],
        "sb_masks": (
            [[_h(v), n] for v, n in _runs(sbm.mask_runs, sbm.mask_at, sbm.first_id, sbm.next_id)]
            if sbm
            else []
        ),
        "offline_size": _h(vm.offline_size),
        "offline_threshold": _h(vm.offline_threshold),
        "plugged_size": _h(vm.plugged_size),
        "requested_size": _h(vm.requested_size),
        "usable_region_size": _h(vm.usable_region_size),
        "unplug_all_required": vm.unplug_all_required,
        "config_changed": vm.config_changed,
        "broken": vm.broken,
        "have_unplugged_mb": sbm.have_unplugged_mb if sbm else False,
        "retry_timer_s": vm.retry_timer_s,
        "timer_deadline": vm.timer_deadline,
        "stop_rc": vm.stop_rc,
        "stop_reason": vm.stop_reason,
        "livelock": vm.livelock,
        "last_block": (
            None if vm.last_block_addr is None else [_h(vm.last_block_addr), vm.last_block_plugged]
        ),
        "mm": [[a, b - a, zone] for a, b, zone in vm.group.zone_runs()],
    }


def from_dict(machine: MachineLike, data: dict[str, Any]) -> VirtioMem:
    """Inverse of ``to_dict``; the machine's resource tree must already be restored (the
    ``virtioN`` parent is looked up there). Registers nothing in the machine
    (``machine.add_device`` does)."""
    try:
        device = VirtioMemDevice.from_dict(data["device"])
    except ValueError as e:
        raise DevmemError(f"virtio-mem device: {e}") from None
    index = _int(data["index"], "index")
    vm = VirtioMem(machine, device, index)
    if data.get("name", device.name) != device.name:
        raise DevmemError("virtio-mem name differs from its device's name")
    vm.probed = _bool(data["probed"], "probed")
    vm.probe_error = want_str(data.get("probe_error", ""), "virtio-mem probe_error")
    vm.kdump = _bool(data.get("kdump", False), "kdump")
    vm.exclusive = _bool(data.get("exclusive", False), "exclusive")
    vm.blockmode = _blockmode(vm, data)
    vm.offline_size = _hx(data["offline_size"], "offline_size")
    vm.offline_threshold = _hx(data["offline_threshold"], "offline_threshold")
    vm.plugged_size = _hx(data["plugged_size"], "plugged_size")
    vm.requested_size = _hx(data["requested_size"], "requested_size")
    vm.usable_region_size = _hx(data["usable_region_size"], "usable_region_size")
    vm.unplug_all_required = _bool(data["unplug_all_required"], "unplug_all_required")
    vm.config_changed = _bool(data["config_changed"], "config_changed")
    vm.broken = _bool(data["broken"], "broken")
    have_unplugged_mb = _bool(data["have_unplugged_mb"], "have_unplugged_mb")
    if isinstance(vm.blockmode, SubBlockMode):
        vm.blockmode.have_unplugged_mb = have_unplugged_mb
    elif have_unplugged_mb:
        raise DevmemError("virtio-mem BBM with SBM fields (have_unplugged_mb)")
    vm.retry_timer_s = want_number(data["retry_timer_s"], "virtio-mem retry_timer_s")
    td = data["timer_deadline"]
    vm.timer_deadline = None if td is None else want_number(td, "virtio-mem timer_deadline")
    # A period below 50 s (0, NaN) or a deadline outside the clock's range would make
    # `wait` fire the timer forever without the clock moving on.
    if not RETRY_TIMER_MIN <= vm.retry_timer_s <= RETRY_TIMER_MAX:
        raise DevmemError(
            f"retry_timer_s {vm.retry_timer_s:g} is outside "
            f"{RETRY_TIMER_MIN:g}..{RETRY_TIMER_MAX:g}"
        )
    if vm.timer_deadline is not None and not 0 <= vm.timer_deadline <= MAX_CLOCK + RETRY_TIMER_MAX:
        raise DevmemError(f"timer_deadline {vm.timer_deadline:g} is outside the clock's range")
    vm.stop_rc = _int(data.get("stop_rc", 0), "stop_rc")
    vm.stop_reason = want_str(data.get("stop_reason", ""), "virtio-mem stop_reason")
    vm.livelock = _bool(data.get("livelock", False), "livelock")
    lb = data.get("last_block")
    if lb is not None:
        vm.last_block_addr = _hx(lb[0], "last_block")
        vm.last_block_plugged = _bool(lb[1], "last_block")
    bm = vm.blockmode
    mm_runs = _mm_unruns(data["mm"], _most(machine, device))
    vm.group.restore(mm_runs)
    if vm.probed and not vm.kdump and mm_runs:
        lo, hi = bm.first_id * bm.unit // vm.mbs, bm.next_id * bm.unit // vm.mbs
        if any(first < lo or first + n > hi for first, n, _zone in mm_runs):
            raise DevmemError("virtio-mem memory blocks outside the blocks the driver tracks")
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


def _most(machine: MachineLike, device: VirtioMemDevice) -> int:
    """A bound on every per-block count of a device: its memory blocks, plus slack."""
    return device.region_size // max(machine.memory_block_size, 1) + 2


def _blockmode(vm: VirtioMem, data: dict[str, Any]) -> BlockMode:
    """The driver's mode and its tracking arrays, checked against the device's geometry."""
    device = vm.device
    mode = data.get("mode", "SBM")
    if mode not in ("SBM", "BBM"):
        raise DevmemError(f"unknown virtio-mem mode {mode!r}")
    sbm = mode == "SBM"
    sb_size = _hx(data["sb_size"], "sb_size")
    sbs_per_mb = _int(data["sbs_per_mb"], "sbs_per_mb")
    bb_size = _hx(data["bb_size"], "bb_size")
    first_id = _int(data["first_id"], "first_id")
    next_id = _int(data["next_id"], "next_id")
    last_usable_id = _int(data["last_usable_id"], "last_usable_id")
    # A saved file is untrusted: bound every count by the device's own size, so a run of
    # 2^40 entries or a 2^64-bit sub-block mask is refused rather than exhausting memory.
    most = _most(vm.machine, device)
    if not 0 <= next_id - first_id <= most:
        raise DevmemError("virtio-mem tracking arrays do not match next_id - first_id")
    mbs = vm.mbs
    hotplug = vm.probed and not vm.kdump
    if hotplug:  # the geometry probe() derives from the device
        if sbm and (
            not 0 < sb_size < mbs
            or mbs % sb_size
            or sb_size % device.block_size
            or sbs_per_mb != mbs // sb_size
        ):
            raise DevmemError("virtio-mem sub-block size does not fit the memory block size")
        if not sbm and bb_size != max(device.block_size, mbs):
            raise DevmemError("virtio-mem big block size does not match the device")
        if first_id != -(-device.addr // (mbs if sbm else bb_size)):
            raise DevmemError("virtio-mem first block id does not match the device address")
    states = _unrle(data["states"], "states", most)
    if any(not 0 <= v <= 7 for v, _n in states):
        raise DevmemError("virtio-mem block state out of range")
    sb_masks = _unrle(
        [[_hx(v, "sb mask", _MASK_DIGITS), n] for v, n in data["sb_masks"]], "sb_masks", most
    )
    n = next_id - first_id
    if n < 0 or _count(states) != n or (sbm and _count(sb_masks) != n):
        raise DevmemError("virtio-mem tracking arrays do not match next_id - first_id")
    if sbm and hotplug and sbs_per_mb <= 0:
        raise DevmemError("virtio-mem SBM without sub-blocks")
    if not sbm and hotplug and bb_size <= 0:
        raise DevmemError("virtio-mem BBM without a big block size")
    bm: BlockMode
    if sbm:
        if bb_size:
            raise DevmemError("virtio-mem SBM with a big block size")
        bm = SubBlockMode(vm, sb_size, sbs_per_mb, first_id)
        bm.load_masks(sb_masks)
    else:
        if sb_size or sbs_per_mb or sb_masks:
            raise DevmemError("virtio-mem BBM with sub-block fields")
        bm = BigBlockMode(vm, bb_size, first_id)
    bm.next_id = next_id
    bm.last_usable_id = last_usable_id
    bm.load_states(states)
    return bm


# ----------------------------------------------------------------------------- (de)serialising
def _h(n: int) -> str:
    return f"{n:#x}"


def _hx(v: Any, what: str, max_digits: int = 16) -> int:
    """A size or address as ``to_dict`` writes it (a "0x..." string of at most max_digits
    significant hex digits), or a JSON integer."""
    if isinstance(v, str):
        digits = v[2:] if v[:2].lower() == "0x" else ""
        if (
            not digits
            or len(digits.lstrip("0")) > max_digits
            or not all(c in _HEXDIGITS for c in digits)
        ):
            raise DevmemError(
                f"virtio-mem {what}: {v[:40]!r} is not a {max_digits * 4}-bit hex number"
            )
        return int(digits, 16)
    return want_int(v, f"virtio-mem {what}", hi=(1 << (4 * max_digits)) - 1)


_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
# A sub-block mask has one bit per sub-block of a memory block: at most a few thousand.
_MASK_DIGITS = 1024


def _int(v: Any, what: str) -> int:
    """A JSON integer (counts and ids are bounded where they are used)."""
    return want_int(v, f"virtio-mem {what}", lo=-(1 << 1024), hi=1 << 1024)


def _bool(v: Any, what: str) -> bool:
    return want_bool(v, f"virtio-mem {what}")


def _runs(
    index: RunIndex, value: Callable[[int], int | None], lo: int, hi: int
) -> list[tuple[int, int]]:
    """(value, count) runs of a per-block array from its run index: O(runs), not O(blocks)."""
    out: list[tuple[int, int]] = []
    for a, b in index.runs(lo, hi):
        v = value(a)
        assert v is not None
        out.append((v, b - a))
    return out


def _count(runs: list[tuple[int, int]]) -> int:
    return sum(n for _v, n in runs)


def _unrle(pairs: Any, what: str, most: int) -> list[tuple[int, int]]:
    """Validated (value, count) runs; the arrays are built from them by the block mode."""
    if not isinstance(pairs, list):
        raise DevmemError(f"virtio-mem {what}: not a list")
    out: list[tuple[int, int]] = []
    total = 0
    for p in pairs:
        if not isinstance(p, list) or len(p) != 2:
            raise DevmemError(f"virtio-mem {what}: bad [value, count] pair")
        v, n = _int(p[0], what), _int(p[1], what)
        if n <= 0:
            raise DevmemError(f"virtio-mem {what}: empty run")
        total += n
        if total > most:
            raise DevmemError(f"virtio-mem {what}: more entries than the device has blocks")
        out.append((v, n))
    return out


def _mm_unruns(runs: Any, most: int) -> list[tuple[int, int, str]]:
    """Validated (first, count, zone) runs of memory blocks, ascending and apart (as
    ``to_dict`` writes them)."""
    if not isinstance(runs, list):
        raise DevmemError("virtio-mem memory blocks: not a list")
    out: list[tuple[int, int, str]] = []
    zones = (OFFLINE, MOVABLE, *KERNEL_ZONES)
    total, end = 0, -1
    for r in runs:
        if not isinstance(r, list) or len(r) != 3 or r[2] not in zones:
            raise DevmemError("virtio-mem memory blocks: bad [first, count, zone] run")
        first, n = _int(r[0], "memory block"), _int(r[1], "memory block count")
        if not 0 < n <= most - total:
            raise DevmemError("virtio-mem memory blocks: more than the device has")
        if first < end:
            raise DevmemError("virtio-mem memory blocks: runs out of order or overlapping")
        total, end = total + n, first + n
        out.append((first, n, r[2]))
    return out
