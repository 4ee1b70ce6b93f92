"""The virtio-mem device, answering requests exactly as QEMU's
``hw/virtio/virtio-mem.c`` does.

Only the device side lives here: the plugged-block bitmap, the sizes in the
config space, and the decision procedure for PLUG / UNPLUG / UNPLUG_ALL /
STATE requests. The Linux driver (and its "broken" flag) is modelled elsewhere.

QEMU does its arithmetic in ``uint64_t``; where that can wrap, this model
wraps the same way (``_u64``) so that even absurd geometries give QEMU's
answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.journal import Journal, Journaled, attach
from devmem_tui.engine.json_fields import want_bool, want_int, want_str
from devmem_tui.engine.units import GiB, MiB
from devmem_tui.engine.virtio_mem.blockruns import BlockRuns

U64_LIMIT = 1 << 64
_U64_MASK = U64_LIMIT - 1

#: ``VIRTIO_MEM_MIN_BLOCK_SIZE``.
MIN_BLOCK_SIZE = 1 * MiB
#: Default block size on x86-64 hosts with THP (``virtio_mem_default_block_size``).
DEFAULT_BLOCK_SIZE = 2 * MiB
#: ``nb_blocks`` is a le16 on the wire.
MAX_NB_BLOCKS = 0xFFFF

#: ``VIRTIO_MEM_USABLE_EXTENT`` per QEMU target (TARGET_ARM covers arm64).
USABLE_EXTENT: dict[str, int] = {
    "x86_64": 256 * MiB,
    "i386": 256 * MiB,
    "s390x": 256 * MiB,
    "arm64": 1 * GiB,
    "aarch64": 1 * GiB,
}
#: Targets with ``VIRTIO_MEM_HAS_LEGACY_GUESTS`` (the only ones that have the
#: ``unplugged-inaccessible`` property; elsewhere it is forced on).
_LEGACY_GUEST_ARCHES = frozenset({"x86_64", "i386"})


def _u64(value: int) -> int:
    """Reduce to ``uint64_t`` as C arithmetic in QEMU would."""
    return value & _U64_MASK


def _hex(value: int) -> str:
    return f"{value:#x}"


class Response(IntEnum):
    """``VIRTIO_MEM_RESP_*``."""

    ACK = 0
    NACK = 1
    BUSY = 2
    ERROR = 3


class BlockState(IntEnum):
    """``VIRTIO_MEM_STATE_*`` (answer to a STATE request)."""

    PLUGGED = 0
    UNPLUGGED = 1
    MIXED = 2


@dataclass(frozen=True)
class DeviceAnswer:
    """One device response, plus the one-line reason used in traces."""

    response: Response
    state: BlockState | None = None
    reason: str = ""

    def __str__(self) -> str:
        state = f" {self.state.name}" if self.state is not None else ""
        return f"{self.response.name}{state}: {self.reason}"


@dataclass
class VirtioMemDevice(Journaled):
    """State of one QEMU virtio-mem device (``VirtIOMEM``).

    ``blocks`` is ``vmem->bitmap`` (bit i <=> block at ``addr + i*block_size``);
    ``plugged_size`` (``vmem->size``) is derived from it so the two can never
    disagree. ``migration`` stands for ``virtio_mem_is_busy()`` (migration
    running or incoming postcopy). ``config_notifications`` counts
    ``virtio_notify_config()`` calls, so callers can tell when a guest would be
    told to re-read the config space.

    Build one with :meth:`create`, which also performs realize.
    """

    name: str
    addr: int
    region_size: int
    block_size: int = DEFAULT_BLOCK_SIZE
    requested_size: int = 0
    usable_region_size: int = 0
    blocks: BlockRuns = field(default_factory=BlockRuns)
    migration: bool = False
    unplugged_inaccessible: bool = True
    persistent_suspend: bool = False  # offers VIRTIO_MEM_F_PERSISTENT_SUSPEND (QEMU 9.2+)
    arch: str = "x86_64"
    node: int = 0
    memdev: str = "mem0"
    config_notifications: int = 0

    # --- construction -------------------------------------------------------

    def attach(self, journal: Journal | None) -> None:
        """Record this device's changes (and its bitmap's) in the machine's undo journal."""
        attach(self, journal)
        self.blocks.attach(journal)

    def __post_init__(self) -> None:
        """Validate geometry the way ``virtio_mem_set_block_size`` and
        ``virtio_mem_device_realize`` do, plus the model's own invariants."""
        bs = self.block_size
        if bs < MIN_BLOCK_SIZE:
            raise ValueError(f"block-size {_hex(bs)} has to be at least {_hex(MIN_BLOCK_SIZE)}")
        if bs & (bs - 1):
            raise ValueError(f"block-size {_hex(bs)} has to be a power of two")
        if not 0 < self.region_size < U64_LIMIT:
            raise ValueError(f"region size {_hex(self.region_size)} must be in 1..2^64-1")
        if self.region_size % bs:
            raise ValueError(
                f"memdev size {_hex(self.region_size)} is not a multiple of "
                f"the block size {_hex(bs)}"
            )
        if self.addr < 0 or self.addr % bs:
            raise ValueError(
                f"memaddr {_hex(self.addr)} is not a multiple of the block size {_hex(bs)}"
            )
        if self.addr + self.region_size > U64_LIMIT:
            raise ValueError(f"region {_hex(self.addr)}+{_hex(self.region_size)} extends past 2^64")
        if not 0 <= self.requested_size < U64_LIMIT:
            raise ValueError(f"requested-size {self.requested_size} is not a 64-bit size")
        if self.requested_size % bs:
            raise ValueError(
                f"requested-size {_hex(self.requested_size)} is not a multiple of "
                f"the block size {_hex(bs)}"
            )
        if self.arch not in USABLE_EXTENT:
            raise ValueError(
                f"unknown arch {self.arch!r} (known: {', '.join(sorted(USABLE_EXTENT))})"
            )
        if not self.unplugged_inaccessible and self.arch not in _LEGACY_GUEST_ARCHES:
            raise ValueError(
                f"unplugged-inaccessible is always on for {self.arch} (x86 only property)"
            )
        if (
            self.usable_region_size < 0
            or self.usable_region_size % bs
            or self.usable_region_size > self.region_size
        ):
            raise ValueError(
                f"usable-region-size {_hex(self.usable_region_size)} must be a multiple of "
                f"the block size within the region size {_hex(self.region_size)}"
            )
        runs = self.blocks.runs()
        if runs and runs[-1][1] > self.nb_blocks_total:
            raise ValueError(
                f"plugged block {runs[-1][1] - 1} is outside the region "
                f"({self.nb_blocks_total} blocks)"
            )

    @classmethod
    def create(
        cls,
        name: str,
        addr: int,
        region_size: int,
        block_size: int = DEFAULT_BLOCK_SIZE,
        requested_size: int = 0,
        arch: str = "x86_64",
        *,
        memdev: str = "mem0",
        node: int = 0,
        unplugged_inaccessible: bool = True,
        persistent_suspend: bool = False,
    ) -> VirtioMemDevice:
        """Create and realize a device (``virtio_mem_device_realize``).

        All blocks start unplugged and the usable region is sized from
        ``requested_size`` with shrinking allowed. Like QEMU's realize,
        ``requested_size`` must be block-aligned but is *not* compared with
        the region size (only runtime changes are, see
        :meth:`set_requested_size`); the usable region is capped anyway.
        """
        dev = cls(
            name=name,
            addr=addr,
            region_size=region_size,
            block_size=block_size,
            requested_size=requested_size,
            arch=arch,
            memdev=memdev,
            node=node,
            unplugged_inaccessible=unplugged_inaccessible,
            persistent_suspend=persistent_suspend,
        )
        dev.resize_usable_region(dev.requested_size, can_shrink=True)
        return dev

    # --- derived values -----------------------------------------------------

    @property
    def plugged_size(self) -> int:
        """Bytes plugged (``vmem->size``; config ``plugged_size``)."""
        return self.blocks.total() * self.block_size

    @property
    def nb_blocks_total(self) -> int:
        """Number of device blocks (``vmem->bitmap_size``)."""
        return self.region_size // self.block_size

    @property
    def usable_extent(self) -> int:
        """``VIRTIO_MEM_USABLE_EXTENT`` for this device's target."""
        return USABLE_EXTENT[self.arch]

    @property
    def end(self) -> int:
        """First address after the region."""
        return self.addr + self.region_size

    def block_index(self, gpa: int) -> int:
        """Bitmap bit for the block starting at ``gpa``."""
        return (gpa - self.addr) // self.block_size

    def block_addr(self, index: int) -> int:
        """Guest-physical start of block ``index``."""
        return self.addr + index * self.block_size

    # --- request handling ---------------------------------------------------

    def valid_range(self, gpa: int, size: int) -> tuple[bool, str]:
        """Models ``virtio_mem_valid_range`` (checks in QEMU's order).

        Returns ``(valid, reason)``; the reason names the failed check.
        """
        _check_u64("gpa", gpa)
        _check_u64("size", size)
        fn = "virtio_mem_valid_range"
        usable_end = _u64(self.addr + self.usable_region_size)  # wraps like QEMU
        if gpa % self.block_size:
            return False, f"{fn}: {_hex(gpa)} not aligned to block size {_hex(self.block_size)}"
        if size == 0:
            return False, f"{fn}: size 0 (nb_blocks == 0)"
        if _u64(gpa + size) < gpa:
            return False, f"{fn}: {_hex(gpa)}+{_hex(size)} overflows 64 bits"
        if gpa < self.addr:
            return False, f"{fn}: {_hex(gpa)} below device start {_hex(self.addr)}"
        if gpa >= usable_end:
            return False, (
                f"{fn}: {_hex(gpa)} not below end of usable region {_hex(usable_end)} "
                f"(usable size {_hex(self.usable_region_size)})"
            )
        if gpa + size > usable_end:
            return False, (
                f"{fn}: range end {_hex(gpa + size)} past end of usable region {_hex(usable_end)}"
            )
        return True, f"{fn}: {_hex(gpa)}+{_hex(size)} ok"

    def plug(self, gpa: int, nb_blocks: int) -> DeviceAnswer:
        """PLUG request: models ``virtio_mem_state_change_request(plug=true)``."""
        return self._state_change(gpa, nb_blocks, plug=True)

    def unplug(self, gpa: int, nb_blocks: int) -> DeviceAnswer:
        """UNPLUG request: models ``virtio_mem_state_change_request(plug=false)``."""
        return self._state_change(gpa, nb_blocks, plug=False)

    def _state_change(self, gpa: int, nb_blocks: int, *, plug: bool) -> DeviceAnswer:
        """Models ``virtio_mem_state_change_request`` + ``virtio_mem_set_block_state``."""
        _check_u64("gpa", gpa)
        _check_nb_blocks(nb_blocks)
        fn = "virtio_mem_state_change_request"
        req = "PLUG" if plug else "UNPLUG"
        size = _u64(nb_blocks * self.block_size)  # uint64_t product in QEMU

        ok, why = self.valid_range(gpa, size)
        if not ok:
            return DeviceAnswer(Response.ERROR, None, f"{why} -> ERROR")

        plugged = self.plugged_size
        # QEMU answers NACK before it tests whether the blocks are already plugged.
        if plug and _u64(plugged + size) > self.requested_size:
            return DeviceAnswer(
                Response.NACK,
                None,
                f"{fn}: plugged {_hex(plugged)} + {_hex(size)} > requested "
                f"{_hex(self.requested_size)} -> NACK",
            )

        first = self.block_index(gpa)
        count = size // self.block_size
        if plug and not self.blocks.none_set(first, count):
            return DeviceAnswer(
                Response.ERROR,
                None,
                f"{fn}: {req} {_hex(gpa)}+{count} blocks: "
                f"{self.blocks.count_in(first, count)} already plugged "
                "(virtio_mem_is_range_unplugged) -> ERROR",
            )
        if not plug and not self.blocks.all_set(first, count):
            return DeviceAnswer(
                Response.ERROR,
                None,
                f"{fn}: {req} {_hex(gpa)}+{count} blocks: "
                f"{count - self.blocks.count_in(first, count)} already unplugged "
                "(virtio_mem_is_range_plugged) -> ERROR",
            )

        if self.migration:
            return DeviceAnswer(
                Response.BUSY,
                None,
                "virtio_mem_set_block_state: virtio_mem_is_busy() (migration running) -> BUSY",
            )

        if plug:
            self.blocks.set_range(first, count)
        else:
            self.blocks.clear_range(first, count)
        return DeviceAnswer(
            Response.ACK,
            None,
            f"{fn}: {req} {_hex(gpa)}+{count} blocks -> ACK (plugged {_hex(self.plugged_size)})",
        )

    def unplug_all(self) -> DeviceAnswer:
        """UNPLUG_ALL request: models ``virtio_mem_unplug_all``.

        BUSY only if something is plugged and migration runs; otherwise clear
        the bitmap and *always* resize the usable region with shrinking
        allowed. No config notification (the spec forbids one here).
        """
        fn = "virtio_mem_unplug_all"
        if self.plugged_size:
            if self.migration:
                return DeviceAnswer(
                    Response.BUSY,
                    None,
                    f"{fn}: plugged {_hex(self.plugged_size)} and virtio_mem_is_busy() "
                    "(migration running) -> BUSY",
                )
            self.blocks.clear()
        old_usable = self.usable_region_size
        self.resize_usable_region(self.requested_size, can_shrink=True)
        return DeviceAnswer(
            Response.ACK,
            None,
            f"{fn}: all blocks unplugged, usable {_hex(old_usable)} -> "
            f"{_hex(self.usable_region_size)} -> ACK",
        )

    def state(self, gpa: int, nb_blocks: int) -> DeviceAnswer:
        """STATE request: models ``virtio_mem_state_request`` (ignores migration)."""
        _check_u64("gpa", gpa)
        _check_nb_blocks(nb_blocks)
        fn = "virtio_mem_state_request"
        size = _u64(nb_blocks * self.block_size)
        ok, why = self.valid_range(gpa, size)
        if not ok:
            return DeviceAnswer(Response.ERROR, None, f"{why} -> ERROR")
        first = self.block_index(gpa)
        count = size // self.block_size
        if self.blocks.all_set(first, count):
            st = BlockState.PLUGGED
        elif self.blocks.none_set(first, count):
            st = BlockState.UNPLUGGED
        else:
            st = BlockState.MIXED
        return DeviceAnswer(Response.ACK, st, f"{fn}: {_hex(gpa)}+{count} blocks {st.name} -> ACK")

    # --- host side ----------------------------------------------------------

    def resize_usable_region(self, requested: int, can_shrink: bool) -> None:
        """Models ``virtio_mem_resize_usable_region``.

        new = min(region, requested + extent) rounded up to the block size;
        0 if requested is 0; a smaller value is ignored unless shrinking is
        allowed (realize, UNPLUG_ALL, system reset).
        """
        _check_u64("requested", requested)
        bs = self.block_size
        new = min(self.region_size, _u64(requested + self.usable_extent))
        new = (new + bs - 1) // bs * bs  # QEMU_ALIGN_UP; cannot wrap, region < 2^64
        if not requested:
            new = 0
        if new < self.usable_region_size and not can_shrink:
            return
        self.usable_region_size = new

    def set_requested_size(self, size: int) -> None:
        """Host ``qom-set requested-size``: models ``virtio_mem_set_requested_size``
        (realized device).

        Raises ValueError (QOM error, nothing changes, no notification) if the
        size is not a block multiple or exceeds the memory backend. Otherwise
        grows (never shrinks) the usable region if the value changed, and
        always sends a config notification, even for an unchanged value.
        """
        if not 0 <= size < U64_LIMIT:
            raise ValueError(f"requested-size {size} is not a 64-bit size")
        if size % self.block_size:
            raise ValueError(
                f"requested-size {_hex(size)} is not a multiple of the block size "
                f"{_hex(self.block_size)}"
            )
        if size > self.region_size:
            raise ValueError(
                f"requested-size {_hex(size)} cannot exceed the memory backend size "
                f"{_hex(self.region_size)}"
            )
        if size != self.requested_size:
            self.resize_usable_region(size, can_shrink=False)
            self.requested_size = size
        self.config_notifications += 1

    def system_reset(self, wakeup: bool = False) -> DeviceAnswer:
        """Models ``virtio_mem_system_reset_hold``.

        A wakeup reset (resume from S3, ``RESET_TYPE_WAKEUP``) changes
        nothing; any other system reset runs ``virtio_mem_unplug_all``, whose
        result QEMU ignores (so during migration with memory plugged, nothing
        changes). The returned answer is for traces only.
        """
        if wakeup:
            return DeviceAnswer(
                Response.ACK,
                None,
                "virtio_mem_system_reset_hold: RESET_TYPE_WAKEUP, nothing changes",
            )
        answer = self.unplug_all()
        return DeviceAnswer(
            answer.response, None, f"virtio_mem_system_reset_hold -> {answer.reason}"
        )

    # --- reporting / persistence --------------------------------------------

    def info(self) -> dict[str, Any]:
        """Fields of HMP ``info memory-devices`` (``virtio_mem_fill_device_info``),
        plus ``usable-region-size`` from the config space."""
        return {
            "type": "virtio-mem",
            "id": self.name,
            "memaddr": self.addr,
            "node": self.node,
            "requested-size": self.requested_size,
            "size": self.plugged_size,
            "max-size": self.region_size,
            "block-size": self.block_size,
            "memdev": f"/objects/{self.memdev}",
            "usable-region-size": self.usable_region_size,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; :meth:`from_dict` restores it exactly."""
        return {
            "name": self.name,
            "addr": self.addr,
            "region_size": self.region_size,
            "block_size": self.block_size,
            "requested_size": self.requested_size,
            "usable_region_size": self.usable_region_size,
            "plugged_size": self.plugged_size,
            "blocks": self.blocks.to_list(),
            "migration": self.migration,
            "unplugged_inaccessible": self.unplugged_inaccessible,
            "persistent_suspend": self.persistent_suspend,
            "arch": self.arch,
            "node": self.node,
            "memdev": self.memdev,
            "config_notifications": self.config_notifications,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VirtioMemDevice:
        """Inverse of :meth:`to_dict` (no realize: state is taken as saved). Every field has
        the JSON type ``to_dict`` writes (``json_fields``): ValueError otherwise."""
        try:
            dev = cls(
                name=want_str(data["name"], "name"),
                addr=want_int(data["addr"], "addr"),
                region_size=want_int(data["region_size"], "region_size"),
                block_size=want_int(data["block_size"], "block_size"),
                requested_size=want_int(data["requested_size"], "requested_size"),
                usable_region_size=want_int(data["usable_region_size"], "usable_region_size"),
                blocks=BlockRuns.from_list(data["blocks"]),
                migration=want_bool(data.get("migration", False), "migration"),
                unplugged_inaccessible=want_bool(
                    data.get("unplugged_inaccessible", True), "unplugged_inaccessible"
                ),
                persistent_suspend=want_bool(
                    data.get("persistent_suspend", False), "persistent_suspend"
                ),
                arch=want_str(data.get("arch", "x86_64"), "arch"),
                node=want_int(data.get("node", 0), "node", hi=(1 << 16) - 1),
                memdev=want_str(data.get("memdev", "mem0"), "memdev"),
                config_notifications=want_int(
                    data.get("config_notifications", 0), "config_notifications"
                ),
            )
            plugged = data.get("plugged_size")
            if plugged is not None and want_int(plugged, "plugged_size") != dev.plugged_size:
                raise ValueError(
                    f"plugged_size {_hex(plugged)} does not match the "
                    f"plugged blocks ({_hex(dev.plugged_size)})"
                )
        except DevmemError as e:
            raise ValueError(str(e)) from None
        return dev


def _check_u64(what: str, value: int) -> None:
    """Wire fields are le64: anything else is a malformed request."""
    if not 0 <= value < U64_LIMIT:
        raise ValueError(f"{what} {value} does not fit in 64 bits")


def _check_nb_blocks(nb_blocks: int) -> None:
    """``nb_blocks`` is le16 on the wire; callers must split larger requests."""
    if not 0 <= nb_blocks <= MAX_NB_BLOCKS:
        raise ValueError(
            f"nb_blocks {nb_blocks} does not fit the 16-bit request field "
            f"(0..{MAX_NB_BLOCKS}); split the request"
        )
