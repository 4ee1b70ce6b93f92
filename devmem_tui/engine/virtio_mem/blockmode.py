"""What the driver's two modes share: the per-block state array (``mb_states`` in Sub Block
Mode, ``bb_states`` in Big Block Mode) with its id range, and what a mode asks of the driver.

drivers/virtio/virtio_mem.c keeps the two modes in a union in ``struct virtio_mem`` and
branches on ``vm->in_sbm``; here each mode is a ``BlockMode`` (sbm.py, bbm.py) the driver
delegates to. One byte per block in a ``bytearray``, exactly like the kernel's vmalloc'ed
array: a 1 TiB device of 128 MiB memory blocks is 8192 bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar, Protocol

from devmem_tui.engine.journal import Journaled, attach, journal_of
from devmem_tui.engine.mm.memory_blocks import MemoryGroup
from devmem_tui.engine.runs import RunIndex, RunMap, edges_of_runs
from devmem_tui.engine.units import ENOSPC
from devmem_tui.engine.virtio_mem.device import VirtioMemDevice
from devmem_tui.engine.virtio_mem.report import SubBlock


class Driver(Protocol):
    """The driver (``VirtioMem``) as its mode sees it: the device, the memory-block table and
    the kernel functions the mode algorithms call."""

    device: VirtioMemDevice
    usable_region_size: int
    stop_reason: str
    group: MemoryGroup  # the memory blocks it added (drv.mm is group.blocks)

    @property
    def mbs(self) -> int:
        """The memory block size."""
        ...

    @property
    def mm(self) -> RunMap:
        """The device's memory blocks: memoryN -> zone or 'offline'."""
        ...

    def trace(self, line: str) -> None: ...

    def want_trace(self) -> bool: ...

    def dev_info(self, msg: str) -> None: ...

    def send_request(self, kind: str, addr: int, size: int) -> int: ...

    def could_add_memory(self, size: int) -> bool: ...

    def add_memory(self, addr: int, size: int) -> int: ...

    def remove_memory(self, addr: int, size: int) -> int: ...

    def offline_and_remove_memory(self, addr: int, size: int) -> int: ...

    def fake_offline(self, start: int, size: int, quiet: bool = False) -> int: ...

    def pinned_at(self, start: int, end: int) -> int | None: ...


class BlockMode(Journaled, ABC):
    """The block ids the driver tracks (``first_id`` .. ``next_id`` - 1, usable up to
    ``last_usable_id``), one state byte each, and the mode's algorithms (subclasses)."""

    name: ClassVar[str]  # SBM / BBM
    id_word: ClassVar[str]  # what a block is called: 'memory' block / 'big' block
    plug_unit_name: ClassVar[str]  # the unit of plug requests: 'sub-block' / 'big block'

    def __init__(self, drv: Driver, first_id: int = 0) -> None:
        attach(self, journal_of(drv))  # the driver's changes are the machine's
        self.drv = drv
        self.first_id = first_id  # first_mb_id / first_bb_id
        self.next_id = first_id  # next_mb_id / next_bb_id
        self.last_usable_id = first_id - 1
        # mb_states / bb_states, index id - first_id: changed only by set_state and grow,
        # which record the inverse in the journal and keep ``state_runs`` current
        self.states = bytearray()
        self.state_runs = RunIndex(self.state_at)

    def state_at(self, id_: int) -> int | None:
        """The state byte of block id_, or None outside the tracked ids (what ``state_runs``
        and the session codec read)."""
        i = id_ - self.first_id
        return self.states[i] if 0 <= i < len(self.states) else None

    def load_states(self, runs: list[tuple[int, int]]) -> None:
        """Set the state array from (value, count) runs (a saved session)."""
        states = bytearray()
        for v, n in runs:
            states += bytes((v,)) * n
        self.states = states
        first = self.first_id
        edges, pos = [], first
        for v, n in runs:
            edges.append((pos, n, v))
            pos += n
        self.state_runs.reset(edges_of_runs(edges))

    # ------------------------------------------------------------------ geometry
    @property
    @abstractmethod
    def unit(self) -> int:
        """The add/remove unit: a memory block (SBM) or a big block (BBM)."""

    @property
    @abstractmethod
    def plug_unit(self) -> int:
        """The (un)plug request unit: a sub-block (SBM) or a big block (BBM)."""

    @abstractmethod
    def geometry_line(self) -> str:
        """The dev_info() line probe prints for the mode's block size."""

    @abstractmethod
    def describe(self) -> str:
        """The mode and its block size, for the ``blocks`` summary."""

    # ------------------------------------------------------------------ the state array
    def tracks(self, id_: int) -> bool:
        return self.first_id <= id_ < self.next_id

    def state(self, id_: int) -> int:
        return self.states[id_ - self.first_id]

    def set_state(self, id_: int, st: int) -> None:
        i = id_ - self.first_id
        j = self._journal
        if j is not None and j.depth:
            j.record(self.set_state, id_, self.states[i])
        self.states[i] = st
        self.state_runs.touch(id_)

    def iter_state(self, st: int, reverse: bool = False) -> Iterator[int]:
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

    def prepare_next(self) -> tuple[int, int]:
        """``virtio_mem_sbm_prepare_next_mb()`` / ``virtio_mem_bbm_prepare_next_bb()``:
        -ENOSPC beyond the last usable id, else grow the tracking arrays by one."""
        if self.next_id > self.last_usable_id:
            drv = self.drv
            end = drv.device.addr + drv.usable_region_size
            drv.stop_reason = (
                f"no further {self.id_word} block fits the usable region (ends at {end:#x})"
            )
            return -ENOSPC, 0
        self.grow()
        id_ = self.next_id
        self.next_id += 1
        return 0, id_

    def grow(self) -> None:
        """One more tracked block (state 0) at the end of the arrays."""
        self.states.append(0)
        self.state_runs.touch(self.first_id + len(self.states) - 1)
        j = self._journal
        if j is not None and j.depth:
            j.record(self._shrink_states)

    def _shrink_states(self) -> None:
        """Undo the state array's part of ``grow``."""
        self.states.pop()
        self.state_runs.touch(self.first_id + len(self.states))

    # ------------------------------------------------------------------ the work item
    @abstractmethod
    def plug_request(self, diff: int) -> int:
        """Plug diff bytes (``virtio_mem_sbm_plug_request()`` / ``..._bbm_...``)."""

    @abstractmethod
    def unplug_request(self, diff: int) -> int:
        """Unplug diff bytes (``virtio_mem_sbm_unplug_request()`` / ``..._bbm_...``)."""

    @abstractmethod
    def cleanup_pending(self) -> int:
        """``virtio_mem_cleanup_pending_mb()``."""

    def left_busy(self) -> str:
        """Why the work must be retried although the request went through ('' if not)."""
        return ""

    # ------------------------------------------------------------------ memory notifier
    def going_online(self, mb: int) -> int:
        """MEM_GOING_ONLINE: 0 or -EPERM."""
        return 0

    @abstractmethod
    def online(self, mb: int, zone: str) -> None:
        """MEM_ONLINE: the mode's state of the block."""

    @abstractmethod
    def offline(self, mb: int) -> None:
        """MEM_OFFLINE: the mode's state of the block."""

    @abstractmethod
    def plugged_ranges(self, mb: int) -> list[tuple[int, int]]:
        """The plugged parts [start, end] of added block mb (what offline_pages migrates)."""

    # ------------------------------------------------------------------ queries
    def page_state(self, mb: int, offset: int) -> str:
        """'online' or 'page_offline' for the page at offset in online block mb."""
        return "online"

    def page_offline_reason(self, mb: int, start: int, end: int) -> str | None:
        """Why a page of [start, end] in online block mb is PG_offline, or None."""
        return None

    def page_state_end(self, mb: int, addr: int, end_mb: int | None) -> int:
        """The last byte from addr (in online block mb) on with ``page_state(addr)``, or an
        earlier one; ``end_mb`` ends the run of online blocks mb is in (None: never)."""
        end = mb + 1 if end_mb is None else end_mb
        return end * self.drv.mbs - 1

    @abstractmethod
    def state_name(self, mb: int) -> str:
        """The driver's state of memory block mb (or of its big block), or '-'."""

    @abstractmethod
    def plugged_view(self, mb: int, added: bool) -> tuple[str, bool, bool]:
        """For the ``blocks`` table: how much of memory block mb is plugged ('n/64', 'all',
        '-'), whether it has a sub-block strip to show with --all, whether it is partly
        plugged (its strip shows without --all)."""

    @abstractmethod
    def sub_blocks(self, mb: int) -> list[SubBlock]:
        """Memory block mb's sub-blocks as the driver and the device see them."""

    @abstractmethod
    def plugged_bytes(self, mb: int) -> int:
        """Bytes of added block mb the driver considers plugged (its MemTotal share)."""

    def plugged_bytes_in(self, a: int, b: int) -> int:
        """``plugged_bytes`` summed over added blocks a..b-1, run by run."""
        return sum(self.plugged_bytes(mb) for mb in range(a, b))

    def block_edges(self, lo: int, hi: int) -> list[int]:
        """Memory blocks in [lo, hi] where the mode's view of a block (its state name, its
        plugged column) may differ from the block before: from the state array's run index,
        in memory blocks."""
        ratio = max(self.unit // self.drv.mbs, 1)
        return [a * ratio for a, _b in self.state_runs.runs(lo // ratio, -(-hi // ratio) + 1)]

    @abstractmethod
    def check(self) -> None:
        """AssertionError unless the mode's tracking agrees with the memory blocks."""

    def check_indexes(self) -> None:
        """AssertionError unless the run indexes match the arrays (visits every block)."""
        self.state_runs.check(self.first_id - 1, self.next_id + 1)
