"""The virtio-mem device as QEMU's hw/virtio/virtio-mem.c answers requests, plus BlockRuns checks.

The guest: ``-m 4G,maxmem=20G``, 16 GiB memdev, ``memaddr``
0x140000000, 2 MiB blocks; device block i starts at 0x140000000 + i*2 MiB.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devmem_tui.engine.virtio_mem.blockruns import BlockRuns
from devmem_tui.engine.virtio_mem.device import (
    BlockState,
    DeviceAnswer,
    GiB,
    MiB,
    Response,
    VirtioMemDevice,
)

ADDR = 0x140000000
REGION = 0x400000000
BS = 0x200000


def blk(i: int) -> int:
    """Guest-physical address of device block i in this file's guest."""
    return ADDR + i * BS


def ref_dev(requested: int = 0) -> VirtioMemDevice:
    return VirtioMemDevice.create("vmem0", ADDR, REGION, BS, requested)


def plug_first(dev: VirtioMemDevice, nblocks: int) -> None:
    """Plug bits 0..nblocks-1 in 64-block requests, as a driver would."""
    done = 0
    while done < nblocks:
        n = min(64, nblocks - done)
        ans = dev.plug(blk(done), n)
        assert ans.response is Response.ACK, ans
        done += n


def assert_state(
    dev: VirtioMemDevice,
    *,
    requested: int,
    usable: int,
    plugged: int,
    runs: list[tuple[int, int]],
) -> None:
    assert dev.requested_size == requested
    assert dev.usable_region_size == usable
    assert dev.plugged_size == plugged
    assert dev.blocks.runs() == runs
    assert dev.plugged_size == dev.blocks.total() * dev.block_size


def assert_error(ans: DeviceAnswer, fn: str) -> None:
    assert ans.response is Response.ERROR
    assert ans.state is None
    assert fn in ans.reason and ans.reason.endswith("-> ERROR")


# --- requests and sizes ----------------------------------------------------


def test_plug_with_empty_usable_region_is_error() -> None:
    dev = ref_dev(0)
    before = dev.to_dict()
    ans = dev.plug(ADDR, 1)
    assert_error(ans, "virtio_mem_valid_range")
    assert "usable" in ans.reason
    assert dev.to_dict() == before
    assert_state(dev, requested=0, usable=0, plugged=0, runs=[])


def test_host_sets_requested_size_grows_usable() -> None:
    dev = ref_dev(0)
    dev.set_requested_size(1 * GiB)
    assert dev.config_notifications == 1
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0, runs=[])


def test_plug_first_memory_block_acks() -> None:
    dev = ref_dev(1 * GiB)
    ans = dev.plug(0x140000000, 64)
    assert ans.response is Response.ACK and ans.state is None
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x8000000, runs=[(0, 64)])


def test_unaligned_plug_is_error() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 64)
    ans = dev.plug(0x140100000, 1)
    assert_error(ans, "virtio_mem_valid_range")
    assert ans.reason == (
        "virtio_mem_valid_range: 0x140100000 not aligned to block size 0x200000 -> ERROR"
    )
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x8000000, runs=[(0, 64)])


def test_zero_blocks_is_error() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 64)
    ans = dev.plug(0x140000000, 0)
    assert_error(ans, "virtio_mem_valid_range")
    assert "size 0" in ans.reason
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x8000000, runs=[(0, 64)])


def test_range_end_past_usable_end() -> None:
    dev = ref_dev(1 * GiB)
    ans = dev.plug(0x18FE00000, 2)
    assert_error(ans, "virtio_mem_valid_range")
    assert "0x190200000" in ans.reason
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0, runs=[])

    ans = dev.plug(0x18FE00000, 1)
    assert ans.response is Response.ACK
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=BS, runs=[(639, 640)])


def test_inside_region_outside_usable_is_error() -> None:
    dev = ref_dev(1 * GiB)
    ans = dev.plug(0x190000000, 1)
    assert_error(ans, "virtio_mem_valid_range")
    assert "not below end of usable region 0x190000000" in ans.reason
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0, runs=[])


def test_plug_beyond_requested_is_nack() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 512)
    ans = dev.plug(0x180000000, 1)
    assert ans.response is Response.NACK
    assert "virtio_mem_state_change_request" in ans.reason
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x40000000, runs=[(0, 512)])


def test_plug_already_plugged_is_error() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 64)
    ans = dev.plug(0x140000000, 1)
    assert_error(ans, "virtio_mem_state_change_request")
    assert "already plugged" in ans.reason
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x8000000, runs=[(0, 64)])


def test_nack_precedes_already_plugged_check() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 512)
    ans = dev.plug(0x140000000, 1)
    assert ans.response is Response.NACK
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x40000000, runs=[(0, 512)])


def test_whole_request_compared_no_partial_plug() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 511)
    ans = dev.plug(blk(600), 2)
    assert ans.response is Response.NACK
    assert_state(
        dev, requested=0x40000000, usable=0x50000000, plugged=0x40000000 - BS, runs=[(0, 511)]
    )
    # One block still fits.
    assert dev.plug(blk(600), 1).response is Response.ACK
    assert_state(
        dev,
        requested=0x40000000,
        usable=0x50000000,
        plugged=0x40000000,
        runs=[(0, 511), (600, 601)],
    )


def test_unplug_unplugged_block_is_error() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 64)
    ans = dev.unplug(0x148000000, 1)
    assert_error(ans, "virtio_mem_state_change_request")
    assert "already unplugged" in ans.reason
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x8000000, runs=[(0, 64)])


def test_unplug_mixed_range_is_error_all_or_nothing() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 64)
    ans = dev.unplug(0x147E00000, 2)
    assert_error(ans, "virtio_mem_is_range_plugged")
    assert dev.blocks.is_set(63)
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x8000000, runs=[(0, 64)])


def test_unplug_has_no_requested_size_check() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 512)
    ans = dev.unplug(0x140000000, 64)
    assert ans.response is Response.ACK
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x38000000, runs=[(64, 512)])


def test_state_requests() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 64)
    cases = [
        (0x140000000, 64, BlockState.PLUGGED),
        (0x147E00000, 2, BlockState.MIXED),
        (0x150000000, 64, BlockState.UNPLUGGED),
    ]
    for gpa, n, expected in cases:
        ans = dev.state(gpa, n)
        assert ans.response is Response.ACK
        assert ans.state is expected
        assert int(ans.state) == {"PLUGGED": 0, "UNPLUGGED": 1, "MIXED": 2}[expected.name]
    assert_error(dev.state(0x190000000, 1), "virtio_mem_valid_range")
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x8000000, runs=[(0, 64)])


def test_migration_makes_plug_and_unplug_busy_not_state() -> None:
    dev = ref_dev(1 * GiB)
    dev.migration = True
    ans = dev.plug(0x140000000, 64)
    assert ans.response is Response.BUSY
    assert "virtio_mem_is_busy" in ans.reason
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0, runs=[])

    # UNPLUG of a plugged range: plug it first with migration off.
    dev.migration = False
    plug_first(dev, 64)
    dev.migration = True
    assert dev.unplug(0x140000000, 64).response is Response.BUSY
    assert dev.plug(blk(64), 64).response is Response.BUSY
    ans = dev.state(0x140000000, 64)
    assert ans.response is Response.ACK and ans.state is BlockState.PLUGGED
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x8000000, runs=[(0, 64)])


def test_unplug_all_with_nothing_plugged_acks_during_migration() -> None:
    dev = ref_dev(2 * GiB)
    dev.set_requested_size(512 * MiB)
    assert_state(dev, requested=0x20000000, usable=0x90000000, plugged=0, runs=[])
    notes = dev.config_notifications
    dev.migration = True
    ans = dev.unplug_all()
    assert ans.response is Response.ACK
    assert dev.config_notifications == notes  # no config notification
    assert_state(dev, requested=0x20000000, usable=0x30000000, plugged=0, runs=[])


def test_unplug_all_clears_and_shrinks() -> None:
    dev = ref_dev(2 * GiB)
    plug_first(dev, 512)
    dev.set_requested_size(512 * MiB)
    assert_state(dev, requested=0x20000000, usable=0x90000000, plugged=0x40000000, runs=[(0, 512)])
    snapshot = dev.to_dict()

    # With migration running: BUSY, nothing changes.
    dev.migration = True
    ans = dev.unplug_all()
    assert ans.response is Response.BUSY
    dev.migration = False
    assert dev.to_dict() == snapshot

    notes = dev.config_notifications
    ans = dev.unplug_all()
    assert ans.response is Response.ACK
    assert dev.config_notifications == notes
    assert_state(dev, requested=0x20000000, usable=0x30000000, plugged=0, runs=[])


def test_lowering_requested_size_does_not_shrink_usable() -> None:
    dev = ref_dev(2 * GiB)
    assert dev.usable_region_size == 0x90000000
    notes = dev.config_notifications
    dev.set_requested_size(512 * MiB)
    assert dev.config_notifications == notes + 1
    assert_state(dev, requested=0x20000000, usable=0x90000000, plugged=0, runs=[])


def test_invalid_requested_sizes_rejected_without_notification() -> None:
    dev = ref_dev(0)
    before = dev.to_dict()
    with pytest.raises(
        ValueError,
        match=r"^requested-size 0x300000 is not a multiple of the block size 0x200000$",
    ):
        dev.set_requested_size(3 * MiB)
    assert dev.to_dict() == before
    with pytest.raises(ValueError, match="cannot exceed the memory backend size"):
        dev.set_requested_size(17 * GiB)
    assert dev.to_dict() == before
    assert dev.config_notifications == 0
    assert_state(dev, requested=0, usable=0, plugged=0, runs=[])


def test_usable_capped_at_region_size() -> None:
    dev = ref_dev(0)
    dev.set_requested_size(16 * GiB)
    assert_state(dev, requested=0x400000000, usable=0x400000000, plugged=0, runs=[])


def test_system_reset_unplugs_wakeup_reset_does_not() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 512)
    ans = dev.system_reset()
    assert ans.response is Response.ACK
    assert "virtio_mem_system_reset_hold" in ans.reason
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0, runs=[])

    dev = ref_dev(1 * GiB)
    plug_first(dev, 512)
    snapshot = dev.to_dict()
    dev.system_reset(wakeup=True)
    assert dev.to_dict() == snapshot
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0x40000000, runs=[(0, 512)])


def test_system_reset_shrinks_usable_after_requested_lowered() -> None:
    dev = ref_dev(2 * GiB)
    dev.set_requested_size(1 * GiB)
    assert dev.usable_region_size == 0x90000000
    dev.system_reset()
    assert_state(dev, requested=0x40000000, usable=0x50000000, plugged=0, runs=[])


def test_system_reset_during_migration_keeps_plugged_memory() -> None:
    # QEMU ignores virtio_mem_unplug_all's -EBUSY in the reset handler.
    dev = ref_dev(1 * GiB)
    plug_first(dev, 64)
    dev.migration = True
    snapshot = dev.to_dict()
    assert dev.system_reset().response is Response.BUSY
    assert dev.to_dict() == snapshot


@pytest.mark.skip(
    reason="unplugged-inaccessible is feature negotiation (virtio_mem_validate_features vs. an "
    "old driver); "
    "the device model only carries unplugged_inaccessible, negotiation is the driver's"
)
def test_unplugged_inaccessible_negotiation() -> None:
    pass


# --- request-format and construction checks ---------------------------------


def test_nb_blocks_is_16_bit() -> None:
    dev = ref_dev(16 * GiB)
    # 0xFFFF is a well-formed request; 16 GiB is only 8192 blocks, so it is ERROR.
    assert_error(dev.plug(ADDR, 0xFFFF), "virtio_mem_valid_range")
    for call in (dev.plug, dev.unplug, dev.state):
        with pytest.raises(ValueError, match="16-bit"):
            call(ADDR, 0x10000)
        with pytest.raises(ValueError, match="16-bit"):
            call(ADDR, -1)
        with pytest.raises(ValueError, match="64 bits"):
            call(-BS, 1)


def test_valid_range_overflow_check() -> None:
    dev = ref_dev(1 * GiB)
    ok, why = dev.valid_range((1 << 64) - BS, 2 * BS)
    assert not ok and "overflows" in why
    ok, why = dev.valid_range(ADDR - BS, BS)
    assert not ok and "below device start" in why
    ok, why = dev.valid_range(ADDR, BS)
    assert ok


def test_device_at_top_of_address_space_wraps_like_qemu() -> None:
    # addr + usable == 2^64 wraps to 0 in QEMU's uint64_t check: every range fails.
    top = (1 << 64) - 16 * GiB
    dev = VirtioMemDevice.create("vmem0", top, 16 * GiB, BS, 16 * GiB)
    assert dev.usable_region_size == 16 * GiB
    assert dev.plug(top, 1).response is Response.ERROR


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"block_size": 0x300000}, "power of two"),
        ({"block_size": 0x80000}, "at least 0x100000"),
        ({"addr": ADDR + 0x100000}, "memaddr 0x140100000 is not a multiple"),
        ({"region_size": REGION + 0x100000}, "memdev size"),
        ({"region_size": 0}, "region size"),
        ({"addr": 1 << 64, "region_size": 0x200000}, "past 2\\^64"),
        ({"requested_size": 0x300000}, "requested-size 0x300000 is not a multiple"),
        ({"arch": "riscv64"}, "unknown arch"),
    ],
)
def test_create_rejects_bad_geometry(kwargs: dict[str, int | str], message: str) -> None:
    args: dict[str, int | str] = {
        "name": "vmem0",
        "addr": ADDR,
        "region_size": REGION,
        "block_size": BS,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        VirtioMemDevice.create(**args)  # type: ignore[arg-type]


def test_create_realize_sizes_usable_region() -> None:
    dev = ref_dev(0)
    assert dev.usable_region_size == 0 and dev.plugged_size == 0 and len(dev.blocks) == 0
    # 1 GiB + 64 MiB -> 0x54000000 (virtio_mem_resize_usable_region).
    assert ref_dev(1 * GiB + 64 * MiB).usable_region_size == 0x54000000
    # arm64 extent is 1 GiB.
    arm = VirtioMemDevice.create("vmem0", ADDR, REGION, BS, 1 * GiB, arch="arm64")
    assert arm.usable_region_size == 2 * GiB
    # Rounded UP to the block size: 1 GiB blocks, 1.25 GiB -> 2 GiB.
    big = VirtioMemDevice.create("vmem0", ADDR, REGION, 1 * GiB, 1 * GiB)
    assert big.usable_region_size == 2 * GiB


def test_unplugged_inaccessible_is_x86_only_property() -> None:
    assert ref_dev().unplugged_inaccessible is True
    VirtioMemDevice.create("v", ADDR, REGION, unplugged_inaccessible=False)
    with pytest.raises(ValueError, match="always on"):
        VirtioMemDevice.create("v", ADDR, REGION, arch="arm64", unplugged_inaccessible=False)


def test_info_fields() -> None:
    dev = ref_dev(1 * GiB)
    plug_first(dev, 64)
    assert dev.info() == {
        "type": "virtio-mem",
        "id": "vmem0",
        "memaddr": 0x140000000,
        "node": 0,
        "requested-size": 0x40000000,
        "size": 0x8000000,
        "max-size": 0x400000000,
        "block-size": 0x200000,
        "memdev": "/objects/mem0",
        "usable-region-size": 0x50000000,
    }


def test_to_dict_from_dict_round_trip() -> None:
    dev = ref_dev(2 * GiB)
    plug_first(dev, 100)
    dev.unplug(blk(10), 5)
    dev.set_requested_size(1 * GiB)
    dev.migration = True
    data = json.loads(json.dumps(dev.to_dict()))
    back = VirtioMemDevice.from_dict(data)
    assert back == dev
    assert back.to_dict() == dev.to_dict()
    assert back.blocks is not dev.blocks
    data["plugged_size"] = 0
    with pytest.raises(ValueError, match="plugged_size"):
        VirtioMemDevice.from_dict(data)


def test_one_tib_plug_all_and_unplug_all_stay_one_run() -> None:
    region = 1 << 40
    dev = VirtioMemDevice.create("vmem0", ADDR, region, BS, region)
    total = region // BS
    assert total == 524_288
    done = 0
    while done < total:
        n = min(0xFFFF, total - done)
        assert dev.plug(blk(done), n).response is Response.ACK
        assert len(dev.blocks) <= 1
        done += n
    assert dev.plugged_size == region and dev.blocks.runs() == [(0, total)]
    assert dev.state(ADDR, 0xFFFF).state is BlockState.PLUGGED
    assert dev.unplug_all().response is Response.ACK
    assert len(dev.blocks) <= 1 and dev.plugged_size == 0


# --- BlockRuns ----------------------------------------------------------------

UNIVERSE = 96
_op = st.tuples(
    st.sampled_from(["set", "clear"]),
    st.integers(0, UNIVERSE),
    st.integers(0, 40),
)


def _check_invariants(runs: BlockRuns) -> None:
    pairs = runs.runs()
    for s, e in pairs:
        assert 0 <= s < e
    for (_, e1), (s2, _) in zip(pairs, pairs[1:], strict=False):
        assert e1 < s2  # sorted, disjoint and non-adjacent
    assert runs.total() == sum(e - s for s, e in pairs)
    assert len(runs) == len(pairs)


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(_op, max_size=40),
    queries=st.lists(
        st.tuples(st.integers(0, UNIVERSE + 10), st.integers(0, 50)), min_size=1, max_size=10
    ),
)
def test_blockruns_matches_set_model(
    ops: list[tuple[str, int, int]], queries: list[tuple[int, int]]
) -> None:
    runs = BlockRuns()
    model: set[int] = set()
    for kind, first, count in ops:
        rng = range(first, first + count)
        if kind == "set":
            runs.set_range(first, count)
            model.update(rng)
        else:
            runs.clear_range(first, count)
            model.difference_update(rng)
        _check_invariants(runs)
        assert runs.total() == len(model)
        for first_q, count_q in queries:
            window = set(range(first_q, first_q + count_q))
            hit = window & model
            assert runs.count_in(first_q, count_q) == len(hit)
            assert runs.all_set(first_q, count_q) == (hit == window)
            assert runs.none_set(first_q, count_q) == (not hit)
            clipped = runs.runs_in(first_q, count_q)
            assert {i for s, e in clipped for i in range(s, e)} == hit
            assert all(first_q <= s < e <= first_q + count_q for s, e in clipped)
    for i in range(UNIVERSE + 45):
        assert runs.is_set(i) == (i in model)
    assert {i for s, e in runs.runs() for i in range(s, e)} == model

    copy = runs.copy()
    assert copy == runs
    copy.set_range(UNIVERSE + 100, 1)
    assert copy != runs
    back = BlockRuns.from_list(json.loads(json.dumps(runs.to_list())))
    assert back == runs and back.total() == runs.total()
    runs.clear()
    assert len(runs) == 0 and runs.total() == 0


def test_blockruns_merge_split_and_validation() -> None:
    r = BlockRuns()
    r.set_range(0, 4)
    r.set_range(8, 4)
    assert r.runs() == [(0, 4), (8, 12)]
    r.set_range(4, 4)  # fills the gap exactly: adjacent runs merge
    assert r.runs() == [(0, 12)] and len(r) == 1
    r.clear_range(5, 2)
    assert r.runs() == [(0, 5), (7, 12)] and r.total() == 10
    assert r.runs_in(3, 6) == [(3, 5), (7, 9)]
    with pytest.raises(ValueError):
        r.set_range(-1, 2)
    with pytest.raises(ValueError):
        r.count_in(0, -1)
    for bad in ([[3, 3]], [[0, 2], [2, 4]], [[4, 6], [0, 2]], [[0, 2, 3]]):
        with pytest.raises(ValueError):
            BlockRuns.from_list(bad)


# --- device vs. a literal transcription of QEMU's procedure -------------------

_NB = 32  # blocks in the small device used below
_SMALL_ADDR = 0x100000000


class _NaiveQemu:
    """One bool per block; the QEMU functions transcribed as plainly as possible."""

    def __init__(self, requested: int) -> None:
        self.bits = [False] * _NB
        self.requested = requested
        self.usable = 0
        self.migration = False
        self.resize(requested, True)

    def resize(self, requested: int, can_shrink: bool) -> None:
        new = min(_NB * MiB, requested + 256 * MiB)
        new = -(-new // MiB) * MiB
        if not requested:
            new = 0
        if new < self.usable and not can_shrink:
            return
        self.usable = new

    def valid(self, gpa: int, size: int) -> bool:
        end = _SMALL_ADDR + self.usable
        return not (gpa % MiB or size == 0 or gpa < _SMALL_ADDR or gpa >= end or gpa + size > end)

    def change(self, gpa: int, n: int, plug: bool) -> Response:
        if not self.valid(gpa, n * MiB):
            return Response.ERROR
        first = (gpa - _SMALL_ADDR) // MiB
        idx = range(first, first + n)
        if plug and (sum(self.bits) + n) * MiB > self.requested:
            return Response.NACK
        if any(self.bits[i] == plug for i in idx):
            return Response.ERROR
        if self.migration:
            return Response.BUSY
        for i in idx:
            self.bits[i] = plug
        return Response.ACK

    def unplug_all(self) -> Response:
        if any(self.bits):
            if self.migration:
                return Response.BUSY
            self.bits = [False] * _NB
        self.resize(self.requested, True)
        return Response.ACK

    def state(self, gpa: int, n: int) -> tuple[Response, BlockState | None]:
        if not self.valid(gpa, n * MiB):
            return Response.ERROR, None
        first = (gpa - _SMALL_ADDR) // MiB
        vals = self.bits[first : first + n]
        if all(vals):
            return Response.ACK, BlockState.PLUGGED
        if not any(vals):
            return Response.ACK, BlockState.UNPLUGGED
        return Response.ACK, BlockState.MIXED


_gpa = st.one_of(
    st.integers(0, _NB - 1).map(lambda k: _SMALL_ADDR + k * MiB),
    # Half-MiB steps around the device: unaligned and out-of-range gpas too.
    st.integers(-4, 2 * (_NB + 2)).map(lambda k: _SMALL_ADDR + k * (MiB // 2)),
)
_request_op = st.tuples(
    st.sampled_from(["plug", "plug", "unplug", "state"]), _gpa, st.integers(0, 12)
)
# Requests dominate so that states with much plugged memory are reached.
_dev_op = st.one_of(
    _request_op,
    _request_op,
    _request_op,
    _request_op,
    st.tuples(st.just("requested"), st.integers(0, _NB), st.just(0)),
    st.tuples(st.sampled_from(["unplug_all", "migration", "reset"]), st.just(0), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(initial=st.integers(0, _NB), ops=st.lists(_dev_op, max_size=40))
def test_device_matches_naive_qemu(initial: int, ops: list[tuple[str, int, int]]) -> None:
    dev = VirtioMemDevice.create("vmem0", _SMALL_ADDR, _NB * MiB, MiB, initial * MiB)
    model = _NaiveQemu(initial * MiB)
    for kind, a, b in ops:
        if kind in ("plug", "unplug"):
            ans = dev.plug(a, b) if kind == "plug" else dev.unplug(a, b)
            assert ans.response is model.change(a, b, kind == "plug"), ans
        elif kind == "state":
            ans = dev.state(a, b)
            assert (ans.response, ans.state) == model.state(a, b), ans
        elif kind == "requested":
            dev.set_requested_size(a * MiB)
            if a * MiB != model.requested:
                model.resize(a * MiB, False)
                model.requested = a * MiB
        elif kind == "unplug_all":
            assert dev.unplug_all().response is model.unplug_all()
        elif kind == "migration":
            dev.migration = model.migration = not model.migration
        else:
            dev.system_reset()
            model.unplug_all()
        assert [dev.blocks.is_set(i) for i in range(_NB)] == model.bits
        assert dev.plugged_size == sum(model.bits) * MiB == dev.blocks.total() * MiB
        assert dev.usable_region_size == model.usable
        assert dev.requested_size == model.requested
