"""Big Block Mode (drivers/virtio/virtio_mem.c ``virtio_mem_bbm_*``, 5.11+): the device
block is at least a Linux memory block, so the driver plugs, adds, removes and unplugs whole
big blocks (one or more memory blocks each), tracking one state byte per big block
(``bb_states``). There is no PG_offline memory inside an added big block.
"""

from __future__ import annotations

from enum import IntEnum

from devmem_tui.engine.mm.memory_blocks import MOVABLE, OFFLINE
from devmem_tui.engine.runs import cut
from devmem_tui.engine.units import EBUSY, ENOSPC, fmt_size
from devmem_tui.engine.virtio_mem.blockmode import BlockMode, Driver
from devmem_tui.engine.virtio_mem.report import SubBlock


class BbmState(IntEnum):
    """``enum virtio_mem_bbm_bb_state`` (5.11+)."""

    UNUSED = 0
    PLUGGED = 1
    ADDED = 2
    FAKE_OFFLINE = 3


class BigBlockMode(BlockMode):
    """The BBM part of ``struct virtio_mem`` and the BBM algorithms."""

    name = "BBM"
    id_word = "big"
    plug_unit_name = "big block"

    def __init__(self, drv: Driver, bb_size: int, first_id: int = 0) -> None:
        super().__init__(drv, first_id)
        self.bb_size = bb_size

    # ------------------------------------------------------------------ geometry
    @property
    def unit(self) -> int:
        return self.bb_size

    @property
    def plug_unit(self) -> int:
        return self.bb_size

    def geometry_line(self) -> str:
        return f"big block size: {self.bb_size:#x}"

    def describe(self) -> str:
        return f"BBM, big block {fmt_size(self.bb_size)}"

    def _blocks(self, bb: int) -> range:
        """The memory blocks of big block bb."""
        mbs = self.drv.mbs
        first = bb * self.bb_size // mbs
        return range(first, first + self.bb_size // mbs)

    def _bb_of(self, mb: int) -> int:
        return mb * self.drv.mbs // self.bb_size

    # ------------------------------------------------------------------ plug
    def plug_request(self, diff: int) -> int:
        """``virtio_mem_bbm_plug_request()``: UNUSED big blocks ascending, then new ones;
        threshold check before each; nb_bb = floor(diff / bb_size)."""
        drv = self.drv
        nb_bb = diff // self.bb_size
        if not nb_bb:
            drv.trace(f"virtio_mem_bbm_plug_request: {diff:#x} < big block {self.bb_size:#x} -> 0")
            return 0
        for bb in self.iter_state(BbmState.UNUSED):
            if not drv.could_add_memory(self.bb_size):
                return -ENOSPC
            rc = self._plug_and_add_bb(bb)
            if not rc:
                nb_bb -= 1
            if rc or not nb_bb:
                return rc
        while nb_bb:
            if not drv.could_add_memory(self.bb_size):
                return -ENOSPC
            rc, bb = self.prepare_next()
            if rc:
                return rc
            rc = self._plug_and_add_bb(bb)
            if rc:
                return rc
            nb_bb -= 1
        return 0

    def _plug_and_add_bb(self, bb: int) -> int:
        """``virtio_mem_bbm_plug_and_add_bb()``: PLUG the whole big block, ADDED, add it (on
        failure unplug -> UNUSED, or PLUGGED when the unplug fails too)."""
        drv = self.drv
        addr = bb * self.bb_size
        rc = drv.send_request("PLUG", addr, self.bb_size)
        if rc:
            return rc
        self.set_state(bb, BbmState.ADDED)
        rc = drv.add_memory(addr, self.bb_size)
        if rc:
            if not drv.send_request("UNPLUG", addr, self.bb_size):
                self.set_state(bb, BbmState.UNUSED)
            else:
                self.set_state(bb, BbmState.PLUGGED)
            return rc
        return 0

    # ------------------------------------------------------------------ unplug
    def _bb_is_offline(self, bb: int) -> bool:
        """``virtio_mem_bbm_bb_is_offline()``: no online section in the big block."""
        mm = self.drv.mm
        return all(mm.get(mb, OFFLINE) == OFFLINE for mb in self._blocks(bb))

    def _bb_is_movable(self, bb: int) -> bool:
        """``virtio_mem_bbm_bb_is_movable()``: every online section is ZONE_MOVABLE."""
        mm = self.drv.mm
        return all(mm.get(mb, OFFLINE) in (OFFLINE, MOVABLE) for mb in self._blocks(bb))

    def unplug_request(self, diff: int) -> int:
        """``virtio_mem_bbm_unplug_request()``: three passes over ADDED big blocks, descending
        (0: completely offline, 1: online parts all ZONE_MOVABLE, 2: any); -EBUSY skips to the
        next big block."""
        nb_bb = diff // self.bb_size
        if not nb_bb:
            self.drv.trace(
                f"virtio_mem_bbm_unplug_request: {diff:#x} < big block {self.bb_size:#x} -> 0"
            )
            return 0
        for i in range(3):
            for bb in self.iter_state(BbmState.ADDED, reverse=True):
                if i == 0 and not self._bb_is_offline(bb):
                    continue
                if i == 1 and not self._bb_is_movable(bb):
                    continue
                rc = self._offline_remove_and_unplug_bb(bb)
                if rc == -EBUSY:
                    continue
                if not rc:
                    nb_bb -= 1
                if rc or not nb_bb:
                    return rc
        if nb_bb:
            self.drv.stop_reason = f"{nb_bb} big block(s) could not be freed (pinned pages)"
            return -EBUSY
        return 0

    def _offline_remove_and_unplug_bb(self, bb: int) -> int:
        """``virtio_mem_bbm_offline_remove_and_unplug_bb()``: FAKE_OFFLINE, fake-offline every
        online section, offline + remove the big block, then UNPLUG it (failure -> PLUGGED,
        retried by the cleanup); failures before the removal roll back to ADDED."""
        drv = self.drv
        mbs = drv.mbs
        self.set_state(bb, BbmState.FAKE_OFFLINE)
        for mb in self._blocks(bb):
            if drv.mm.get(mb, OFFLINE) == OFFLINE:
                continue
            rc = drv.fake_offline(mb * mbs, mbs)
            if rc:
                drv.trace(f"virtio_mem_bbm_offline_remove_and_unplug_bb(bb {bb}): rollback")
                self.set_state(bb, BbmState.ADDED)
                return rc
        rc = drv.offline_and_remove_memory(bb * self.bb_size, self.bb_size)
        if rc:
            self.set_state(bb, BbmState.ADDED)
            return rc
        rc = drv.send_request("UNPLUG", bb * self.bb_size, self.bb_size)
        self.set_state(bb, BbmState.PLUGGED if rc else BbmState.UNUSED)
        return rc

    def cleanup_pending(self) -> int:
        """``virtio_mem_cleanup_pending_mb()``: unplug PLUGGED (not added) big blocks ->
        UNUSED."""
        drv = self.drv
        for bb in self.iter_state(BbmState.PLUGGED):
            rc = drv.send_request("UNPLUG", bb * self.bb_size, self.bb_size)
            if rc:
                if not drv.stop_reason:
                    drv.stop_reason = "cleanup UNPLUG of a removed big block failed"
                return rc
            self.set_state(bb, BbmState.UNUSED)
        return 0

    # ------------------------------------------------------------------ memory notifier
    def online(self, mb: int, zone: str) -> None:
        """Nothing to track: a big block's state does not follow its memory blocks."""

    def offline(self, mb: int) -> None:
        """Nothing to track (see ``online``)."""

    def plugged_ranges(self, mb: int) -> list[tuple[int, int]]:
        mbs = self.drv.mbs
        return [(mb * mbs, (mb + 1) * mbs - 1)]

    # ------------------------------------------------------------------ queries
    def state_name(self, mb: int) -> str:
        bb = self._bb_of(mb)
        return BbmState(self.state(bb)).name if self.tracks(bb) else "-"

    def plugged_view(self, mb: int, added: bool) -> tuple[str, bool, bool]:
        return "all" if added else "-", added, False

    def sub_blocks(self, mb: int) -> list[SubBlock]:
        """One entry for the whole memory block: plugged when added, or the device
        disagreeing."""
        drv = self.drv
        dev = drv.device
        mbs = drv.mbs
        start = mb * mbs
        plugged = (
            dev.blocks.all_set(dev.block_index(start), mbs // dev.block_size)
            if dev.addr <= start and start + mbs <= dev.end
            else False
        )
        added = drv.mm.get(mb) is not None
        if added != plugged:
            return [SubBlock.MISMATCH]
        return [SubBlock.PLUGGED if added else SubBlock.UNPLUGGED]

    def plugged_bytes(self, mb: int) -> int:
        return self.drv.mbs

    def plugged_bytes_in(self, a: int, b: int) -> int:
        return (b - a) * self.drv.mbs

    def check(self) -> None:
        mm = self.drv.mm
        ratio = self.bb_size // self.drv.mbs
        lo, hi = self.first_id * ratio, self.next_id * ratio
        # one check per stretch of memory blocks where neither the big block's state nor
        # whether the block is added changes (opening a session runs this on every device)
        for a, _b in cut(lo, hi, self.drv.group.runs, (self.state_runs, ratio)):
            if a % ratio:  # inside a big block: all of its memory blocks added, or none
                assert (a in mm) == (a - 1 in mm), f"big block {a // ratio} partly added"
                continue
            st = self.state(a // ratio)
            assert (a in mm) == (st in (BbmState.ADDED, BbmState.FAKE_OFFLINE))
