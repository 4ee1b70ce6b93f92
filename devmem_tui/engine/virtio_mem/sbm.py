"""Sub Block Mode (drivers/virtio/virtio_mem.c ``virtio_mem_sbm_*``): the device block is
smaller than a Linux memory block, so the driver adds whole memory blocks and (un)plugs
sub-blocks inside them, tracking one state byte per memory block (``mb_states``) and one
bitmap of plugged sub-blocks per memory block (a Python int, ``sb_states``).

Unplugged sub-blocks of an added block are PG_offline: never given to the buddy, skipped
when the block is offlined, and reported as such to /proc/kcore and to ``pin``.
"""

from __future__ import annotations

from enum import IntEnum

from devmem_tui.engine.mm.memory_blocks import MOVABLE, OFFLINE
from devmem_tui.engine.runs import RunIndex, cut, edges_of_runs
from devmem_tui.engine.units import EBUSY, EINVAL, ENOSPC, EPERM, fmt_size
from devmem_tui.engine.virtio_mem.blockmode import BlockMode, Driver
from devmem_tui.engine.virtio_mem.report import SubBlock, sb_list


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


_STATE_NAMES = tuple(s.name for s in SbmState)  # by value: the blocks table names each block
ONLINE_STATES = (
    SbmState.KERNEL,
    SbmState.KERNEL_PARTIAL,
    SbmState.MOVABLE,
    SbmState.MOVABLE_PARTIAL,
)
ADDED_STATES = (SbmState.OFFLINE, SbmState.OFFLINE_PARTIAL, *ONLINE_STATES)
_OFFLINE_STATES = (SbmState.OFFLINE, SbmState.OFFLINE_PARTIAL)


# plain references: the strip loops read them per sub-block
_PLUGGED, _UNPLUGGED = SubBlock.PLUGGED, SubBlock.UNPLUGGED
_PINNED, _MISMATCH = SubBlock.PINNED, SubBlock.MISMATCH


def mask_runs_desc(mask: int) -> list[tuple[int, int]]:
    """Runs (lo, hi) of set bits, highest run first."""
    out = []
    while mask:
        hi = mask.bit_length() - 1
        zeros_below = ~mask & ((1 << (hi + 1)) - 1)
        lo = zeros_below.bit_length()
        out.append((lo, hi))
        mask &= (1 << lo) - 1
    return out


class SubBlockMode(BlockMode):
    """The SBM part of ``struct virtio_mem`` and the SBM algorithms."""

    name = "SBM"
    id_word = "memory"
    plug_unit_name = "sub-block"

    def __init__(self, drv: Driver, sb_size: int = 0, sbs_per_mb: int = 0, first_id: int = 0):
        super().__init__(drv, first_id)
        self.sb_size = sb_size
        self.sbs_per_mb = sbs_per_mb
        # Fully plugged blocks share this one int object: 8192 separate 64-bit masks were
        # 288 KiB of a plugged 1 TiB device's 879 KiB of state (docs/performance.md).
        self.full_mask = (1 << sbs_per_mb) - 1
        # plugged sub-blocks per memory block: changed only by set_mask and grow
        self.sb_masks: list[int] = []
        self.mask_runs = RunIndex(self.mask_at)
        self.have_unplugged_mb = False

    # ------------------------------------------------------------------ geometry
    @property
    def unit(self) -> int:
        return self.drv.mbs

    @property
    def plug_unit(self) -> int:
        return self.sb_size

    def geometry_line(self) -> str:
        return f"subblock size: {self.sb_size:#x}"

    def describe(self) -> str:
        return f"SBM, sub-block {fmt_size(self.sb_size)} ({self.sbs_per_mb} per memory block)"

    def grow(self) -> None:
        super().grow()
        self.sb_masks.append(0)
        self.mask_runs.touch(self.first_id + len(self.sb_masks) - 1)
        j = self._journal
        if j is not None and j.depth:
            j.record(self._shrink_masks)

    def _shrink_masks(self) -> None:
        """Undo the mask array's part of ``grow``."""
        self.sb_masks.pop()
        self.mask_runs.touch(self.first_id + len(self.sb_masks))

    def mask_at(self, mb: int) -> int | None:
        """The plugged sub-block mask of memory block mb, or None outside the tracked ids
        (what ``mask_runs`` and the session codec read)."""
        i = mb - self.first_id
        return self.sb_masks[i] if 0 <= i < len(self.sb_masks) else None

    def mask(self, mb: int) -> int:
        return self.sb_masks[mb - self.first_id]

    def set_mask(self, mb: int, mask: int) -> None:
        full = self.full_mask
        i = mb - self.first_id
        j = self._journal
        if j is not None and j.depth:
            j.record(self.set_mask, mb, self.sb_masks[i])
        self.sb_masks[i] = full if mask == full else mask
        self.mask_runs.touch(mb)

    def load_masks(self, runs: list[tuple[int, int]]) -> None:
        """Set the sub-block masks from (mask, count) runs (a saved session)."""
        full = self.full_mask
        masks: list[int] = []
        edges, pos = [], self.first_id
        for v, n in runs:
            masks += [full if v == full else v] * n
            edges.append((pos, n, v))
            pos += n
        self.sb_masks = masks
        self.mask_runs.reset(edges_of_runs(edges))

    # ------------------------------------------------------------------ plug
    def plug_request(self, diff: int) -> int:
        """``virtio_mem_sbm_plug_request()``: fill partial added blocks (KERNEL_PARTIAL,
        MOVABLE_PARTIAL, OFFLINE_PARTIAL, ascending), then reuse UNUSED blocks, then new ones;
        the threshold is checked before every add; nb_sb = floor(diff / sb_size)."""
        drv = self.drv
        nb_sb = diff // self.sb_size
        if not nb_sb:
            drv.trace(f"virtio_mem_sbm_plug_request: {diff:#x} < sub-block {self.sb_size:#x} -> 0")
            return 0
        for st in (SbmState.KERNEL_PARTIAL, SbmState.MOVABLE_PARTIAL, SbmState.OFFLINE_PARTIAL):
            for mb in self.iter_state(st):
                rc, nb_sb = self._plug_any_sb(mb, nb_sb)
                if rc or not nb_sb:
                    return rc
        for mb in self.iter_state(SbmState.UNUSED):
            if not drv.could_add_memory(drv.mbs):
                return -ENOSPC
            rc, nb_sb = self._plug_and_add_mb(mb, nb_sb)
            if rc or not nb_sb:
                return rc
        while nb_sb:
            if not drv.could_add_memory(drv.mbs):
                return -ENOSPC
            rc, mb = self.prepare_next()
            if rc:
                return rc
            rc, nb_sb = self._plug_and_add_mb(mb, nb_sb)
            if rc:
                return rc
        return 0

    def _plug_sb(self, mb: int, sb: int, count: int) -> int:
        """``virtio_mem_sbm_plug_sb()``: PLUG count sub-blocks; on ACK mark them plugged."""
        addr = mb * self.drv.mbs + sb * self.sb_size
        rc = self.drv.send_request("PLUG", addr, count * self.sb_size)
        if not rc:
            self.set_mask(mb, self.mask(mb) | (((1 << count) - 1) << sb))
        return rc

    def _unplug_sb(self, mb: int, sb: int, count: int) -> int:
        """``virtio_mem_sbm_unplug_sb()``: UNPLUG count sub-blocks; on ACK mark them
        unplugged."""
        addr = mb * self.drv.mbs + sb * self.sb_size
        rc = self.drv.send_request("UNPLUG", addr, count * self.sb_size)
        if not rc:
            self.set_mask(mb, self.mask(mb) & ~(((1 << count) - 1) << sb))
        return rc

    def _plug_and_add_mb(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_plug_and_add_mb()``: plug sbs 0..n-1 (n = min(nb_sb, per mb)),
        mark OFFLINE/OFFLINE_PARTIAL, add the block; on add failure unplug again (UNUSED) or,
        if that fails too, leave it PLUGGED for the cleanup."""
        count = min(nb_sb, self.sbs_per_mb)
        rc = self._plug_sb(mb, 0, count)
        if rc:
            return rc, nb_sb
        full = count == self.sbs_per_mb
        self.set_state(mb, SbmState.OFFLINE if full else SbmState.OFFLINE_PARTIAL)
        mbs = self.drv.mbs
        rc = self.drv.add_memory(mb * mbs, mbs)
        if rc:
            new = SbmState.UNUSED
            if self._unplug_sb(mb, 0, count):
                new = SbmState.PLUGGED
            self.set_state(mb, new)
            return rc, nb_sb
        return 0, nb_sb - count

    def _plug_any_sb(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_plug_any_sb()``: from the lowest unplugged sub-block, one PLUG per
        run of unplugged sub-blocks; online blocks hand the pages to the buddy (fake-online);
        a block that becomes full moves to the non-partial state (PARTIAL - 1)."""
        drv = self.drv
        old = self.state(mb)
        while nb_sb:
            mask = self.mask(mb)
            if mask == self.full_mask:
                break
            sb = (~mask & (mask + 1)).bit_length() - 1  # lowest unplugged
            above = mask & ~((1 << sb) - 1)
            nxt = (above & -above).bit_length() - 1 if above else self.sbs_per_mb
            count = min(nb_sb, nxt - sb)
            rc = self._plug_sb(mb, sb, count)
            if rc:
                return rc, nb_sb
            nb_sb -= count
            if old != SbmState.OFFLINE_PARTIAL and drv.want_trace():
                drv.trace(
                    f"virtio_mem_fake_online({mb * drv.mbs + sb * self.sb_size:#x}, "
                    f"{count * self.sb_size:#x}): pages to the buddy"
                )
        if self.mask(mb) == self.full_mask:
            self.set_state(mb, old - 1)
        return 0, nb_sb

    # ------------------------------------------------------------------ unplug
    def unplug_request(self, diff: int) -> int:
        """``virtio_mem_sbm_unplug_request()``: OFFLINE_PARTIAL, OFFLINE, MOVABLE_PARTIAL,
        KERNEL_PARTIAL, MOVABLE, KERNEL; descending ids in each; -EBUSY if the amount could
        not be reached (unplug_online=1, the default)."""
        nb_sb = diff // self.sb_size
        if not nb_sb:
            self.drv.trace(
                f"virtio_mem_sbm_unplug_request: {diff:#x} < sub-block {self.sb_size:#x} -> 0"
            )
            return 0
        for st in (
            SbmState.OFFLINE_PARTIAL,
            SbmState.OFFLINE,
            SbmState.MOVABLE_PARTIAL,
            SbmState.KERNEL_PARTIAL,
            SbmState.MOVABLE,
            SbmState.KERNEL,
        ):
            for mb in self.iter_state(st, reverse=True):
                rc, nb_sb = self._unplug_any_sb(mb, nb_sb)
                if rc or not nb_sb:
                    return rc
        if nb_sb:
            self.drv.stop_reason = (
                f"{nb_sb} sub-block(s) ({fmt_size(nb_sb * self.sb_size)}) "
                "could not be freed (unmovable/pinned pages)"
            )
            return -EBUSY
        return 0

    def _unplug_any_sb(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_unplug_any_sb()``: dispatch on online / offline."""
        st = self.state(mb)
        if st in ONLINE_STATES:
            return self._unplug_any_sb_online(mb, nb_sb)
        if st in _OFFLINE_STATES:
            return self._unplug_any_sb_offline(mb, nb_sb)
        return -EINVAL, nb_sb

    def _unplug_any_sb_raw(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_unplug_any_sb_raw()``: from the highest plugged sub-block down,
        maximal runs of plugged sub-blocks (bounded by nb_sb), one UNPLUG each; any error
        aborts."""
        for lo, hi in mask_runs_desc(self.mask(mb)):
            if not nb_sb:
                break
            count = min(nb_sb, hi - lo + 1)
            rc = self._unplug_sb(mb, hi - count + 1, count)
            if rc:
                return rc, nb_sb
            nb_sb -= count
        return 0, nb_sb

    def _unplug_any_sb_offline(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_unplug_any_sb_offline()``: raw unplug; OFFLINE_PARTIAL; fully
        unplugged -> UNUSED and ``remove_memory`` (which must not fail)."""
        rc, nb_sb = self._unplug_any_sb_raw(mb, nb_sb)
        if self.mask(mb) != self.full_mask:
            self.set_state(mb, SbmState.OFFLINE_PARTIAL)
        if rc:
            return rc, nb_sb
        if self.mask(mb) == 0:
            self.set_state(mb, SbmState.UNUSED)
            mbs = self.drv.mbs
            rc = self.drv.remove_memory(mb * mbs, mbs)
            assert rc == 0, "remove_memory of an offline block failed (BUG_ON in the kernel)"
        return 0, nb_sb

    def _unplug_sb_online(self, mb: int, sb: int, count: int, quiet: bool = False) -> int:
        """``virtio_mem_sbm_unplug_sb_online()``: fake-offline, UNPLUG (on failure give the
        pages back), KERNEL/MOVABLE -> *_PARTIAL."""
        drv = self.drv
        start = mb * drv.mbs + sb * self.sb_size
        size = count * self.sb_size
        rc = drv.fake_offline(start, size, quiet)
        if rc:
            return rc
        rc = self._unplug_sb(mb, sb, count)
        if rc:
            drv.trace(f"virtio_mem_fake_online({start:#x}, {size:#x}): pages given back")
            return rc
        st = self.state(mb)
        if st == SbmState.KERNEL:
            self.set_state(mb, SbmState.KERNEL_PARTIAL)
        elif st == SbmState.MOVABLE:
            self.set_state(mb, SbmState.MOVABLE_PARTIAL)
        return 0

    def _unplug_any_sb_online(self, mb: int, nb_sb: int) -> tuple[int, int]:
        """``virtio_mem_sbm_unplug_any_sb_online()``: the whole block in one go if possible,
        else single sub-blocks from the highest down, skipping busy ones; then try to offline
        and remove a block that has nothing plugged any more."""
        done = False
        if nb_sb >= self.sbs_per_mb and self.mask(mb) == self.full_mask:
            rc = self._unplug_sb_online(mb, 0, self.sbs_per_mb)
            if not rc:
                nb_sb -= self.sbs_per_mb
                done = True
            elif rc != -EBUSY:
                return rc, nb_sb
        if not done:
            sb = self.sbs_per_mb - 1
            busy: list[int] = []
            while sb >= 0 and nb_sb:
                mask = self.mask(mb) & ((1 << (sb + 1)) - 1)
                if not mask:
                    break
                sb = mask.bit_length() - 1  # next plugged sub-block at or below sb
                rc = self._unplug_sb_online(mb, sb, 1, quiet=True)
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
                    if self.drv.mm.get(mb) == MOVABLE
                    else "1 attempt each outside ZONE_MOVABLE"
                )
                self.drv.trace(
                    f"virtio_mem_sbm_unplug_any_sb_online(memory{mb}): fake-offline of "
                    f"{len(busy)} sub-block(s) {sb_list(busy)} -> -EBUSY (pinned pages, "
                    f"{tries}): skipped"
                )
        rc = self._try_remove_unplugged_mb(mb)
        if rc:
            self.have_unplugged_mb = True
        return 0, nb_sb

    def _try_remove_unplugged_mb(self, mb: int) -> int:
        """``virtio_mem_sbm_try_remove_unplugged_mb()``: nothing plugged -> offline and remove
        the block -> UNUSED."""
        if self.mask(mb):
            return 0
        mbs = self.drv.mbs
        rc = self.drv.offline_and_remove_memory(mb * mbs, mbs)
        if not rc:
            self.set_state(mb, SbmState.UNUSED)
        return rc

    def cleanup_pending(self) -> int:
        """``virtio_mem_cleanup_pending_mb()``: unplug PLUGGED (not added) blocks -> UNUSED,
        then retry offline+remove of fully unplugged partial blocks."""
        for mb in self.iter_state(SbmState.PLUGGED):
            rc, _ = self._unplug_any_sb_raw(mb, self.sbs_per_mb)
            if rc:
                return rc
            self.set_state(mb, SbmState.UNUSED)
        if not self.have_unplugged_mb:
            return 0
        self.have_unplugged_mb = False
        failed = False
        for st in (SbmState.MOVABLE_PARTIAL, SbmState.KERNEL_PARTIAL, SbmState.OFFLINE_PARTIAL):
            for mb in self.iter_state(st):
                if self._try_remove_unplugged_mb(mb):
                    failed = True
        if failed:
            self.have_unplugged_mb = True
        return 0

    def left_busy(self) -> str:
        return "a fully unplugged block could not be removed yet" if self.have_unplugged_mb else ""

    # ------------------------------------------------------------------ memory notifier
    def going_online(self, mb: int) -> int:
        """``virtio_mem_sbm_notify_going_online()``: onlining is refused unless the block is
        OFFLINE or OFFLINE_PARTIAL ("memory block onlining denied")."""
        if self.state(mb) in _OFFLINE_STATES:
            return 0
        self.drv.dev_info("memory block onlining denied")
        return -EPERM

    def online(self, mb: int, zone: str) -> None:
        """``virtio_mem_sbm_notify_online()``: the state by the zone of the first page."""
        st = self.state(mb)
        movable = zone == MOVABLE
        if st == SbmState.OFFLINE_PARTIAL:
            new = SbmState.MOVABLE_PARTIAL if movable else SbmState.KERNEL_PARTIAL
        elif st == SbmState.OFFLINE:
            new = SbmState.MOVABLE if movable else SbmState.KERNEL
        else:
            raise AssertionError(f"BUG: MEM_ONLINE for memory{mb} in state {st}")
        self.set_state(mb, new)

    def offline(self, mb: int) -> None:
        """``virtio_mem_sbm_notify_offline()``: -> OFFLINE / OFFLINE_PARTIAL."""
        st = self.state(mb)
        if st in (SbmState.KERNEL_PARTIAL, SbmState.MOVABLE_PARTIAL):
            self.set_state(mb, SbmState.OFFLINE_PARTIAL)
        elif st in (SbmState.KERNEL, SbmState.MOVABLE):
            self.set_state(mb, SbmState.OFFLINE)
        else:
            raise AssertionError(f"BUG: MEM_OFFLINE for memory{mb} in state {st}")

    def plugged_ranges(self, mb: int) -> list[tuple[int, int]]:
        start = mb * self.drv.mbs
        sb = self.sb_size
        return [
            (start + lo * sb, start + (hi + 1) * sb - 1)
            for lo, hi in reversed(mask_runs_desc(self.mask(mb)))
        ]

    # ------------------------------------------------------------------ queries
    def page_state(self, mb: int, offset: int) -> str:
        plugged = self.sb_masks[mb - self.first_id] >> (offset // self.sb_size) & 1
        return "online" if plugged else "page_offline"

    def page_state_end(self, mb: int, addr: int, end_mb: int | None) -> int:
        mbs = self.drv.mbs
        base = mb * mbs
        sb = (addr - base) // self.sb_size
        mask = self.mask(mb)
        m = mask >> sb
        if m & 1:  # plugged: the state lasts while the following sub-blocks are plugged
            k = ((~m) & (m + 1)).bit_length() - 1
        else:
            k = (m & -m).bit_length() - 1 if m else self.sbs_per_mb
        if sb + k < self.sbs_per_mb:
            return base + (sb + k) * self.sb_size - 1
        if mask == 0 or mask == self.full_mask:  # on through the blocks with the same mask
            mask_end = self.mask_runs.run_end(mb)
            ends = [e for e in (end_mb, mask_end) if e is not None]
            if ends:
                return min(ends) * mbs - 1
            return (self.next_id) * mbs - 1
        return base + mbs - 1

    def page_offline_reason(self, mb: int, start: int, end: int) -> str | None:
        base = mb * self.drv.mbs
        lo = (start - base) // self.sb_size
        hi = (end - base) // self.sb_size
        missing = (((1 << (hi - lo + 1)) - 1) << lo) & ~self.mask(mb)
        if not missing:
            return None
        sb = (missing & -missing).bit_length() - 1
        return (
            f"{base + sb * self.sb_size:#x} is an unplugged sub-block of "
            f"memory{mb} (PG_offline, not in the page allocator)"
        )

    def state_name(self, mb: int) -> str:
        return _STATE_NAMES[self.state(mb)] if self.tracks(mb) else "-"

    def plugged_view(self, mb: int, added: bool) -> tuple[str, bool, bool]:
        tracked = self.first_id <= mb < self.next_id
        mask = self.sb_masks[mb - self.first_id] if tracked else 0
        text = f"{bin(mask).count('1')}/{self.sbs_per_mb}" if added or mask else "-"
        return text, added or bool(mask), tracked and 0 < mask < self.full_mask

    def sub_blocks(self, mb: int) -> list[SubBlock]:
        """Per sub-block: plugged, unplugged (PG_offline), plugged with pinned pages, or
        the device disagreeing with the driver (raw requests)."""
        drv = self.drv
        dev = drv.device
        mbs = drv.mbs
        start = mb * mbs
        mask = self.mask(mb) if self.tracks(mb) else 0
        per_sb = self.sb_size // dev.block_size
        first_blk = dev.block_index(start)
        n_dev = dev.blocks.count_in(first_blk, self.sbs_per_mb * per_sb)
        fast = (mask == self.full_mask and n_dev == self.sbs_per_mb * per_sb) or (
            mask == 0 and n_dev == 0
        )
        pins = drv.pinned_at(start, start + mbs - 1) is not None
        n = self.sbs_per_mb
        out = [_PLUGGED if mask >> sb & 1 else _UNPLUGGED for sb in range(n)]
        if fast and not pins:
            return out
        all_set, none_set = dev.blocks.all_set, dev.blocks.none_set
        for sb in range(n):
            plugged = out[sb] is _PLUGGED
            if not fast:
                blk = first_blk + sb * per_sb
                if all_set(blk, per_sb) != plugged or (not plugged and not none_set(blk, per_sb)):
                    out[sb] = _MISMATCH
                    continue
            if plugged and pins:
                a = start + sb * self.sb_size
                if drv.pinned_at(a, a + self.sb_size - 1) is not None:
                    out[sb] = _PINNED
        return out

    def plugged_bytes(self, mb: int) -> int:
        return bin(self.mask(mb)).count("1") * self.sb_size

    def plugged_bytes_in(self, a: int, b: int) -> int:
        total = 0
        for x, y in self.mask_runs.runs(a, b):  # equal masks: one popcount per run
            total += bin(self.mask(x)).count("1") * self.sb_size * (y - x)
        return total

    def block_edges(self, lo: int, hi: int) -> list[int]:
        return [*super().block_edges(lo, hi), *(a for a, _b in self.mask_runs.runs(lo, hi + 1))]

    def check_indexes(self) -> None:
        super().check_indexes()
        self.mask_runs.check(self.first_id - 1, self.next_id + 1)

    def check(self) -> None:
        mm = self.drv.mm
        assert len(self.sb_masks) == len(self.states)
        # The blocks of a stretch where neither state, mask nor zone changes agree alike:
        # one check per stretch (opening a session runs this on every device).
        cuts = cut(
            self.first_id, self.next_id, self.state_runs, self.mask_runs, self.drv.group.runs
        )
        for mb, _end in cuts:
            i = mb - self.first_id
            st, mask = self.states[i], self.sb_masks[i]
            added = mb in mm
            assert added == (st in ADDED_STATES), f"memory{mb}: state {st} vs added {added}"
            if st == SbmState.UNUSED:
                assert mask == 0, f"memory{mb} UNUSED with sub-blocks plugged"
            if st in (SbmState.OFFLINE, SbmState.KERNEL, SbmState.MOVABLE):
                assert mask == self.full_mask, f"memory{mb} {SbmState(st).name} not full"
            if st in (SbmState.OFFLINE_PARTIAL, SbmState.KERNEL_PARTIAL, SbmState.MOVABLE_PARTIAL):
                assert mask != self.full_mask, f"memory{mb} partial state but full"
            if added:
                zone = mm[mb]
                if st in _OFFLINE_STATES:
                    assert zone == OFFLINE
                elif st in (SbmState.MOVABLE, SbmState.MOVABLE_PARTIAL):
                    assert zone == MOVABLE
                else:
                    assert zone not in (OFFLINE, MOVABLE)
