"""virtio-mem commands through the command layer (Session.execute):
vmem, vmem add, vmem resize, blocks, plug, unplug, unplug-all, state, online, offline,
pin, unpin, wait; and the guest's /proc/iomem at every plug state, from an empty device to a
fully plugged one."""

from __future__ import annotations

from pathlib import Path

import pytest

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session

IOMEM_RANGE = "iomem 0x140000000-0x53fffffff"
A = "140000000-53fffffff : virtio0"
RAM = "System RAM (virtio_mem)"


def run(s: Session, line: str) -> Result:
    r = s.execute(line)
    assert r is not None
    return r


def ok(s: Session, line: str, outcome: str = "DONE") -> Result:
    r = run(s, line)
    assert r.ok, r.message
    assert r.outcome == outcome, r.message
    return r


def iomem(s: Session) -> str:
    return ok(s, IOMEM_RANGE).message.rstrip("\n")


def snapshot(s: Session) -> tuple[str, str, str, float]:
    return (
        run(s, "iomem").message,
        run(s, "vmem").message,
        run(s, "blocks --all").message,
        s.machine.clock,
    )


@pytest.fixture
def s() -> Session:
    return Session.new()


# ----------------------------------------------------------------------------- /proc/iomem
def test_iomem_a_b_c(s: Session) -> None:
    assert iomem(s) == A  # (a)
    ok(s, "vmem resize vmem0 1G")
    assert iomem(s) == f"{A}\n  140000000-17fffffff : {RAM}"  # (b)
    ok(s, "vmem resize vmem0 1088M")
    assert iomem(s) == f"{A}\n  140000000-187ffffff : {RAM}"  # (c)


def test_iomem_d_split_and_e_full(s: Session) -> None:
    ok(s, "vmem resize vmem0 1G")
    ok(s, "offline memory44")
    r = ok(s, "vmem resize vmem0 896M")
    assert "UNPLUG(0x160000000, 64) -> ACK" in r.message and "removed: memory44" in r.message
    assert iomem(s) == (f"{A}\n  140000000-15fffffff : {RAM}\n  168000000-17fffffff : {RAM}")  # (d)
    r = ok(s, "vmem resize vmem0 16G")
    assert "settled" in r.message
    assert iomem(s) == f"{A}\n  140000000-53fffffff : {RAM}"  # (e)


def test_iomem_f_bbm() -> None:
    s = Session.new("qemu-x86")
    r = ok(s, "vmem add vmem0 0x140000000 16G block=1G")
    assert "driver probed: virtio0, BBM" in r.message
    r = ok(s, "vmem resize vmem0 2G")
    assert "PLUG(0x140000000, 1) -> ACK" in r.message and "PLUG(0x180000000, 1) -> ACK" in r.message
    assert iomem(s) == f"{A}\n  140000000-1bfffffff : {RAM}"  # (f)


# ----------------------------------------------------------------------------- vmem
def test_vmem_lists_info_memory_devices(s: Session) -> None:
    ok(s, "vmem resize vmem0 1G")
    msg = ok(s, "vmem").message
    for line in (
        'Memory device [virtio-mem]: "vmem0"',
        "memaddr: 0x140000000",
        "node: 0",
        "requested-size: 1073741824",
        "size: 1073741824",
        "max-size: 17179869184",
        "block-size: 2097152",
        "memdev: /objects/mem0",
        "usable-region-size: 1342177280",
        "mode SBM",
        "driver ready",
    ):
        assert line in msg


def test_vmem_add_errors_change_nothing(s: Session) -> None:
    before = snapshot(s)
    for line in (
        "vmem add vmem0 0x600000000 1G",  # duplicate name
        "vmem add vmem1 0x500000000 2G",  # overlaps vmem0
        "vmem add vmem1 0x100000000 512M",  # overlaps boot RAM
        "vmem add vmem1 0x600100000 1G",  # not block aligned
        "vmem add vmem1 0x600000000 1G block=3M",  # not a power of two
        "vmem add vmem1 0x600000000 1G colour=red",
        "vmem add vmem1 0x600000000",
        "vmem resize vmem0 3M",  # not a multiple of the block size
        "vmem resize vmem0 17G",  # beyond the memory backend
        "vmem resize nosuch 1G",
        "vmem frobnicate",
    ):
        r = run(s, line)
        assert not r.ok and r.outcome is None and r.message.startswith("error:"), line
    assert snapshot(s) == before


def test_vmem_add_then_resize_second_device(s: Session) -> None:
    r = ok(s, "vmem add vmem1 0x600000000 4G block=4M requested=256M")
    assert "driver probed: virtio1, SBM" in r.message and "PLUG(0x600000000, 32)" in r.message
    assert s.machine.vmem["vmem1"].blockmode.sb_size == 4 << 20
    assert "600000000-6ffffffff : virtio1" in run(s, "iomem").message


def test_vmem_add_without_driver_is_a_hole(s: Session) -> None:
    ok(s, "set strict_devmem off")
    r = ok(s, "vmem add vmem1 0x600000000 4G")
    assert "no driver" in r.message and "hole" in r.message
    assert "virtio1" not in run(s, "iomem").message
    r = ok(s, "vmem resize vmem1 1G")
    assert "requests: none" in r.message and "no driver" in r.message


# ----------------------------------------------------------------------------- raw requests
def test_raw_requests_answer_like_qemu(s: Session) -> None:
    ok(s, "plug vmem0 0x140000000 2M", "ERROR")  # T01: usable region 0
    ok(s, "vmem resize vmem0 1G")
    r = ok(s, "plug vmem0 0x140000000 3M", "ERROR")  # not expressible: the device's ERROR
    assert "not a multiple of the device block size" in r.message
    ok(s, "plug vmem0 0x140100000 2M", "ERROR")  # T04
    ok(s, "plug vmem0 0x140000000 0", "ERROR")  # T05
    ok(s, "plug vmem0 0x180000000 2M", "NACK")  # T08: P + size > R
    ok(s, "plug vmem0 0x140000000 2M", "NACK")  # T10: NACK before "already plugged"
    ok(s, "unplug vmem0 0x180000000 2M", "ERROR")  # T12: already unplugged
    ok(s, "unplug vmem0 0x17fe00000 4M", "ERROR")  # T13: mixed range
    r = ok(s, "unplug vmem0 0x17fe00000 2M", "ACK")
    assert "did not send this" in r.message and "online RAM" in r.message
    ok(s, "state vmem0 0x140000000 128M", "PLUGGED")  # T15
    ok(s, "state vmem0 0x17fc00000 4M", "MIXED")
    ok(s, "state vmem0 0x180000000 128M", "UNPLUGGED")
    ok(s, "state vmem0 0x190000000 2M", "ERROR")
    ok(s, "set migration on")
    ok(s, "plug vmem0 0x17fe00000 2M", "BUSY")  # T16
    ok(s, "state vmem0 0x140000000 2M", "PLUGGED")
    ok(s, "unplug-all vmem0", "BUSY")  # T18 with migration
    ok(s, "set migration off")
    r = ok(s, "unplug-all vmem0", "ACK")
    assert s.machine.vmem["vmem0"].device.plugged_size == 0
    assert "?" in ok(s, "blocks --all").message  # device and driver now disagree
    assert not run(s, "plug vmem0 0x140000000").ok  # missing SIZE: usage error
    assert not run(s, "plug nosuch 0x140000000 2M").ok


def test_raw_plug_is_adopted_at_next_refresh(s: Session) -> None:
    ok(s, "vmem resize vmem0 1G")
    ok(s, "unplug vmem0 0x17fe00000 2M", "ACK")
    r = ok(s, "vmem resize vmem0 1G")
    assert "WARN_ON_ONCE" in r.message and "adopting" in r.message
    assert "PLUG(0x180000000, 1) -> ACK" in r.message  # the driver plugs the 2 MiB it lacks


# ----------------------------------------------------------------------------- sysfs
def test_online_offline_outcomes(s: Session) -> None:
    ok(s, "vmem resize vmem0 1G")
    ok(s, "online memory40", "EINVAL")  # already online
    r = ok(s, "offline memory44")
    assert "valid_zones now Movable Normal" in r.message
    ok(s, "offline memory44", "EINVAL")
    ok(s, "online memory44 kernel")
    assert s.machine.vmem["vmem0"].mm[44] == "Normal"
    ok(s, "pin 0x148000000")
    r = ok(s, "offline memory41", "EBUSY")
    assert "unmovable pages fail isolation" in r.message
    for bad in (
        "online memory48",
        "online memory2",
        "offline memoryX",
        "online memory40 dma",
        "online",
        "offline memory40 now",
    ):
        assert not run(s, bad).ok, bad


def test_auto_online_offline_threshold_and_user_onlining(s: Session) -> None:
    ok(s, "set auto_online offline")
    r = ok(s, "vmem resize vmem0 1536M")
    assert "pending: -ENOSPC" in r.message and "threshold" in r.message
    blocks = ok(s, "blocks").message
    assert "offline" in blocks and "Normal Movable" in blocks and "OFFLINE" in blocks
    for mb in (40, 41, 42):
        ok(s, f"online memory{mb}")
    r = ok(s, "online memory43")
    assert "driver ran" in r.message and "added: memory48-memory51 (4 blocks)" in r.message


# ----------------------------------------------------------------------------- pins, wait
def test_pin_rules(s: Session) -> None:
    ok(s, "vmem resize vmem0 1G")
    for bad in (
        "pin 0x180000000",  # not added
        "pin 0xfe000000",  # MMIO
        "pin 0x140000000 0",
        "unpin 0x150000000",
    ):  # nothing pinned there
        r = run(s, bad)
        assert not r.ok, bad
    ok(s, "vmem resize vmem0 1022M")
    r = run(s, "pin 0x17fe00000")  # the unplugged sub-block is PG_offline
    assert not r.ok and "unplugged sub-block" in r.message
    ok(s, "pin 0x100000")  # boot RAM can be pinned (has no effect on virtio-mem)
    ok(s, "pin 0x170000000 4M")
    assert "!!" in ok(s, "blocks --all").message
    r = ok(s, "unpin 0x170000000 4M")
    assert "unpinned 4M" in r.message


def test_wait_fires_retry_timer(s: Session) -> None:
    ok(s, "set auto_online online")
    ok(s, "vmem resize vmem0 256M")
    for mb in (40, 41):
        ok(s, f"pin {mb * 0x8000000:#x} 128M")
    r = ok(s, "vmem resize vmem0 128M")
    assert "retry timer armed" in r.message and "t=50s" in r.message
    r = ok(s, "wait 49s")
    assert "no timer fired" in r.message
    r = ok(s, "wait 1s")
    assert "retry timer fired at t=50s" in r.message and "t=150s" in r.message
    ok(s, "unpin 0x148000000 128M")
    r = ok(s, "wait 100s")
    assert "UNPLUG(0x148000000, 64) -> ACK" in r.message and "settled" in r.message
    r = ok(s, "wait 1h")
    assert "no timer fired" in r.message and s.machine.clock == 3750
    assert not run(s, "wait soon").ok


def test_wait_long_busy_fast_forwards(s: Session) -> None:
    ok(s, "set auto_online online")
    ok(s, "vmem resize vmem0 128M")
    ok(s, "pin 0x140000000 128M")
    ok(s, "vmem resize vmem0 0")
    r = ok(s, "wait 1000h")
    assert "identical retries" in r.message and s.machine.clock == 3600000


# ----------------------------------------------------------------------------- blocks
def test_blocks_totals_count_boot_memory_and_other_ram() -> None:
    cxl = Session.new("server-cxl")
    msg = ok(cxl, "blocks").message
    assert msg.startswith("no virtio-mem devices\n")
    assert "Total online memory:" in msg and "virtio-mem share:      0 online, 0 offline" in msg
    plain = Session.new()
    assert "Total online memory:   4G" in ok(plain, "blocks").message
    ok(plain, "vmem resize vmem0 1G")
    ok(plain, "offline memory47")
    msg = ok(plain, "blocks").message
    assert "Total online memory:   4.875G\nTotal offline memory:  128M" in msg


def test_online_offline_take_chmem_ranges(s: Session) -> None:
    ok(s, "vmem resize vmem0 1G")
    ok(s, "pin 0x168000000")  # memory45: unmovable
    r = run(s, "offline memory40-47")
    assert r.ok and r.outcome == "EBUSY"  # the first failure's outcome
    first = r.message.splitlines()[0]
    assert first == (
        "offline memory40-memory47 (1G): could only offline 896M of memory; "
        "memory45 failed with EBUSY"
    )
    assert s.machine.memory_blocks.zone_of(46) == "offline"  # a failure does not stop the rest
    r = run(s, "online 0x140000000-0x167ffffff movable")
    assert r.outcome == "DONE" and r.message.startswith(
        "online memory40-memory44 (640M): all 5 memory blocks online"
    )
    r = run(s, "online memory44-memory47")
    assert r.outcome == "DONE" and "memory44 already online (Movable)" in r.message
    assert run(s, "offline memory48-49").message == (
        "error: memory48 does not exist: 0x180000000 belongs to vmem0 but is not added to "
        "Linux (no /sys/devices/system/memory/memory48)"
    )
    bad = run(s, "online 0x140000000-0x140000fff")
    assert bad.message == (
        "error: online: 0x140000000-0x140000fff: start and end + 1 must be aligned to the "
        "memory block size (128M)"
    )
    assert run(s, "offline memory47-40").message.startswith("error: bad memory block range")
    assert run(s, "online memory40").outcome == "EINVAL"  # one block: the sysfs write itself


def test_blocks_table(s: Session) -> None:
    ok(s, "vmem resize vmem0 1088M")
    msg = ok(s, "blocks vmem0").message
    lines = msg.splitlines()
    assert lines[0].split() == ["RANGE", "SIZE", "STATE", "BLOCK", "ZONES", "VIRTIO-MEM", "PLUGGED"]
    assert lines[1].split() == [
        "0x0000000140000000-0x000000017fffffff",
        "1G",
        "online",
        "40-47",
        "Movable",
        "MOVABLE",
        "64/64",
    ]
    assert lines[2].split() == [
        "0x0000000180000000-0x0000000187ffffff",
        "128M",
        "online",
        "48",
        "Movable",
        "MOVABLE_PARTIAL",
        "32/64",
    ]
    assert "memory48    " + "#" * 32 + "." * 32 in msg
    # lsmem's totals are the whole system's (4 GiB of boot RAM: memory0-23 and 32-39), with
    # the virtio-mem share apart
    assert "Memory block size:     128M" in msg and "Total online memory:   5.125G" in msg
    assert "virtio-mem share:      1.125G online, 0 offline" in msg
    assert "vmem0 (virtio0, SBM, sub-block 2M (64 per memory block)): 1.125G online" in msg
    full = ok(s, "blocks --all").message
    strips = [ln for ln in full.splitlines() if ln.startswith("memory")]
    assert [ln.split()[0] for ln in strips] == [f"memory{mb}" for mb in range(40, 49)]
    assert "#" * 64 in full
    assert not run(s, "blocks nosuch").ok
    assert not run(s, "blocks vmem0 --bogus").ok


def test_save_open_round_trip(s: Session, tmp_path: Path) -> None:
    ok(s, "vmem resize vmem0 1G")
    ok(s, "offline memory44")
    ok(s, "vmem resize vmem0 1100M")
    f = tmp_path / "sess.json"
    ok(s, f"save {f}")
    before = snapshot(s)
    s2 = Session.new()
    ok(s2, f"open {f}")
    assert snapshot(s2) == before
    r1 = ok(s, "vmem resize vmem0 512M").message
    r2 = ok(s2, "vmem resize vmem0 512M").message
    assert r1 == r2
