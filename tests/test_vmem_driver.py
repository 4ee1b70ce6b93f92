"""The Linux virtio-mem driver model (drivers/virtio/virtio_mem.c): plug and unplug order, zones,
the offline threshold, the retry timer, BBM, kexec/kdump/suspend, the memory states kcore
reads, revocation at probe, save/open round trips
and the complexity bound (1 TiB device, no per-block objects).

The guest: i440fx 4 GiB, vmem0 = 16 GiB at 0x140000000, 2 MiB blocks, SBM with
2 MiB sub-blocks, auto-online online_movable; memory block m starts at m * 0x8000000.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devmem_tui.commands import vmem_tables
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem import mappings
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.tree import F
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.mm.hotplug import sysfs_offline, sysfs_online, valid_zones
from devmem_tui.engine.units import EBUSY, ENOSPC, EPERM
from devmem_tui.engine.virtio_mem import codec
from devmem_tui.engine.virtio_mem import driver as vd
from devmem_tui.engine.virtio_mem.bbm import BbmState
from devmem_tui.engine.virtio_mem.driver import VirtioMem
from devmem_tui.engine.virtio_mem.report import TRACE_LIMIT
from devmem_tui.engine.virtio_mem.sbm import SbmState

PRESET = Path(__file__).resolve().parent.parent / "devmem_tui" / "presets"
ADDR, REGION = 0x140000000, 0x400000000
MB = 0x8000000
G, M = 1 << 30, 1 << 20

BOOT_L1 = """\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-7ffdffff : System RAM
7ffe0000-7fffffff : Reserved
c0000000-febfffff : PCI Bus 0000:00
  febd0000-febd0fff : 0000:00:02.0
fec00000-fec003ff : IOAPIC 0
100000000-27fffffff : System RAM
"""


def machine(*sets: str, boot: str | None = None) -> Machine:
    """The guest's boot map with a config, no device yet."""
    cfg = KernelConfig()
    for kv in sets:
        k, v = kv.split("=")
        cfg.set(k, v)
    text = boot if boot is not None else (PRESET / "qemu-x86-virtio-mem.iomem").read_text()
    return Machine(iomem_text.parse(text), cfg)


def ref(*sets: str, block: int = 0x200000, requested: int = 0) -> VirtioMem:
    m = machine(*sets)
    return vd.add_device(m, "vmem0", ADDR, REGION, block, requested, index=0)


def iomem(vm: VirtioMem) -> str:
    d = vm.device
    return iomem_text.render(vm.machine.tree, d.addr, d.end - 1)


def calls(report: vd.VmemReport) -> list[str]:
    return [r.call() for r in report.requests]


def st(vm: VirtioMem, mb: int) -> str:
    return vm.sbm_state_name(mb)


IOMEM_A = "140000000-53fffffff : virtio0\n"
IOMEM_B = IOMEM_A + "  140000000-17fffffff : System RAM (virtio_mem)\n"
IOMEM_C = IOMEM_A + "  140000000-187ffffff : System RAM (virtio_mem)\n"
IOMEM_D = (
    IOMEM_A + "  140000000-15fffffff : System RAM (virtio_mem)\n"
    "  168000000-17fffffff : System RAM (virtio_mem)\n"
)


@pytest.fixture
def one_gib() -> VirtioMem:
    vm = ref()
    vm.resize(1 * G)
    return vm


# ----------------------------------------------------------------------------- probe
def test_probe_creates_exclusive_parent_and_dmesg() -> None:
    vm = ref()
    assert (
        vm.probed
        and vm.mode == "SBM"
        and vm.blockmode.sb_size == 0x200000
        and vm.blockmode.sbs_per_mb == 64
    )
    assert vm.blockmode.first_id == 40
    assert iomem(vm) == IOMEM_A  # an empty device: only the parent
    parent = vm.machine.tree.find("virtio0")[0]
    assert parent.flags & F.EXCLUSIVE and not parent.flags & F.BUSY
    trace = "\n".join(vm.last_probe.trace)  # type: ignore[union-attr]
    for line in (
        "start address: 0x140000000",
        "region size: 0x400000000",
        "device block size: 0x200000",
        "memory block size: 0x8000000",
        "subblock size: 0x200000",
        "plugged size: 0x0",
        "requested size: 0x0",
    ):
        assert f"virtio_mem virtio0: {line}" in trace


def test_probe_before_5_16_parent_not_exclusive_and_old_subblock() -> None:
    vm = ref("kernel=5.15")
    parent = vm.machine.tree.find("virtio0")[0]
    assert not parent.flags & F.EXCLUSIVE
    vm2 = ref("kernel=5.17")
    assert (
        vm2.blockmode.sb_size == 0x400000 and vm2.blockmode.sbs_per_mb == 32
    )  # MAX_ORDER sub-blocks before 5.19


def test_not_buildable_leaves_a_hole() -> None:
    vm = ref("strict_devmem=off")  # 6.16, DEVMEM=y STRICT=n: no EXCLUSIVE_SYSTEM_RAM
    assert not vm.probed and "EXCLUSIVE_SYSTEM_RAM" in vm.probe_error
    assert iomem(vm) == ""
    r = vm.resize(1 * G)
    assert r.requests == [] and vm.device.requested_size == 1 * G
    assert vm.device.plugged_size == 0 and r.pending and "no driver" in r.pending[0]
    assert vm.machine.memory_state(ADDR) == "not_added"


def test_add_device_validation() -> None:
    vm = ref()
    m = vm.machine
    with pytest.raises(DevmemError, match="already exists"):
        vd.add_device(m, "vmem0", 0x600000000, 1 * G)
    with pytest.raises(DevmemError, match="overlaps vmem0"):
        vd.add_device(m, "vmem1", 0x500000000, 2 * G)
    with pytest.raises(DevmemError, match="overlaps 100000000-13fffffff : System RAM"):
        vd.add_device(m, "vmem1", 0x100000000, 512 * M)
    with pytest.raises(DevmemError, match="multiple of the block size"):
        vd.add_device(m, "vmem1", 0x600100000, 1 * G)
    before = iomem_text.render(m.tree)
    assert set(m.vmem) == {"vmem0"} and before == iomem_text.render(m.tree)
    vm1 = vd.add_device(m, "vmem1", 0x600000000, 1 * G)
    assert vm1.res_name == "virtio1" and vm1.probed


def test_old_driver_without_unplugged_inaccessible() -> None:
    m = machine("kernel=5.13")
    vm = vd.add_device(m, "vmem0", ADDR, REGION, unplugged_inaccessible=True)
    assert not vm.probed and "UNPLUGGED_INACCESSIBLE" in vm.probe_error
    vm2 = vd.add_device(m, "vmem1", 0x600000000, 1 * G)  # auto: off for this kernel
    assert vm2.probed and not vm2.device.unplugged_inaccessible


# ----------------------------------------------------------------------------- plug, unplug, zones
def test_plug_one_gib(one_gib: VirtioMem) -> None:
    vm = ref()
    r = vm.resize(1 * G)
    assert calls(r) == [f"PLUG({ADDR + k * MB:#x}, 64)" for k in range(8)]
    assert all(q.response == "ACK" for q in r.requests)
    assert r.added == list(range(40, 48)) and r.settled
    assert [st(vm, mb) for mb in range(40, 48)] == ["MOVABLE"] * 8
    assert all(vm.mm[mb] == "Movable" for mb in range(40, 48))
    assert valid_zones(vm.machine, 40) == "Movable"
    assert iomem(vm) == IOMEM_B
    assert vm.machine.high_memory == 0x180000000
    assert "MemTotal share 1G" in vmem_tables.blocks_table(vm)
    vm.check()


def test_partial_block(one_gib: VirtioMem) -> None:
    vm = one_gib
    r = vm.resize(1 * G + 64 * M)
    assert calls(r) == ["PLUG(0x180000000, 32)"] and r.added == [48]
    assert st(vm, 48) == "MOVABLE_PARTIAL" and vm.blockmode.mask(48) == (1 << 32) - 1
    assert iomem(vm) == IOMEM_C  # whole 128 MiB shown
    assert "MemTotal share 1088M" in vmem_tables.blocks_table(vm)
    r = vm.resize(1 * G + 96 * M)
    assert calls(r) == ["PLUG(0x184000000, 16)"] and r.added == [] and r.removed == []
    assert st(vm, 48) == "MOVABLE_PARTIAL" and iomem(vm) == IOMEM_C
    r = vm.resize(1 * G + 128 * M)
    assert calls(r) == ["PLUG(0x186000000, 16)"]
    assert st(vm, 48) == "MOVABLE" and iomem(vm) == IOMEM_C
    vm.check()


def test_whole_block_unplug(one_gib: VirtioMem) -> None:
    vm = one_gib
    vm.resize(1 * G + 128 * M)
    r = vm.resize(1 * G)
    assert calls(r) == ["UNPLUG(0x180000000, 64)"] and r.removed == [48]
    assert st(vm, 48) == "UNUSED" and 48 not in vm.mm
    assert iomem(vm) == IOMEM_B
    vm.check()


def test_partial_block_unplugged_sub_block_by_sub_block(one_gib: VirtioMem) -> None:
    vm = one_gib
    vm.resize(1 * G + 96 * M)  # mb 48: sbs 0-47
    r = vm.resize(1 * G)
    assert calls(r) == [f"UNPLUG({0x180000000 + sb * 0x200000:#x}, 1)" for sb in range(47, -1, -1)]
    assert r.requests[0].addr == 0x185E00000 and r.requests[-1].addr == 0x180000000
    assert r.removed == [48] and st(vm, 48) == "UNUSED"
    assert iomem(vm) == IOMEM_B
    assert "UNPLUG(0x185e00000, 1) .. UNPLUG(0x180000000, 1): 48 requests" in r.text()
    vm.check()


def test_single_sub_block_from_highest_movable(one_gib: VirtioMem) -> None:
    vm = one_gib
    r = vm.resize(1 * G - 2 * M)
    assert calls(r) == ["UNPLUG(0x17fe00000, 1)"]
    assert st(vm, 47) == "MOVABLE_PARTIAL" and iomem(vm) == IOMEM_B and 47 in vm.mm
    assert vm.machine.memory_state(0x17FE00000) == "page_offline"
    assert vm.machine.memory_state(0x17FDFF000) == "online"


def test_offline_blocks_are_unplugged_first(one_gib: VirtioMem) -> None:
    vm = one_gib
    res = sysfs_offline(vm.machine, 44)
    assert res.outcome == "DONE"
    assert vm.mm[44] == "offline" and st(vm, 44) == "OFFLINE"
    assert valid_zones(vm.machine, 44) == "Movable Normal"
    assert vm.offline_size == 128 * M
    r = vm.resize(896 * M)
    assert calls(r) == ["UNPLUG(0x160000000, 64)"] and r.removed == [44]
    assert (
        st(vm, 44) == "UNUSED" and iomem(vm) == IOMEM_D
    )  # the resource is split around the removed block
    assert all(st(vm, mb) == "MOVABLE" for mb in (40, 41, 42, 43, 45, 46, 47))
    vm.check()


def test_unused_blocks_reused_and_remerged(one_gib: VirtioMem) -> None:
    vm = one_gib
    sysfs_offline(vm.machine, 44)
    vm.resize(896 * M)
    r = vm.resize(1 * G)
    assert calls(r) == ["PLUG(0x160000000, 64)"] and r.added == [44]
    assert st(vm, 44) == "MOVABLE" and iomem(vm) == IOMEM_B
    vm.check()


def test_offline_threshold_then_onlining_resumes() -> None:
    vm = ref("auto_online=offline")
    r = vm.resize(1536 * M)
    assert calls(r) == [f"PLUG({ADDR + k * MB:#x}, 64)" for k in range(8)]
    assert all(st(vm, mb) == "OFFLINE" for mb in range(40, 48))
    assert valid_zones(vm.machine, 40) == "Normal Movable"
    assert vm.timer_deadline is None and vm.stop_rc == -ENOSPC
    assert r.pending and r.pending[0].startswith("-ENOSPC") and "threshold" in r.pending[0]
    assert iomem(vm) == IOMEM_B  # offline memory is still System RAM
    assert "MemTotal share 0" in vmem_tables.blocks_table(vm)
    for mb in (40, 41, 42):
        res = sysfs_online(vm.machine, mb)
        assert res.outcome == "DONE" and not res.reports[0].requests
    assert vm.mm[40] == "Normal" and st(vm, 40) == "KERNEL"  # contig-zones: kernel zone
    res = sysfs_online(vm.machine, 43)  # offline_size now 512 MiB -> the work runs
    rep = res.reports[0]
    assert calls(rep) == [f"PLUG({ADDR + k * MB:#x}, 64)" for k in range(8, 12)]
    assert rep.added == [48, 49, 50, 51] and vm.device.plugged_size == 1536 * M
    assert rep.settled
    vm.check()


def test_online_movable_and_kernel_and_einval() -> None:
    vm = ref("auto_online=offline")
    vm.resize(256 * M)
    assert sysfs_online(vm.machine, 40, "movable").outcome == "DONE"
    assert vm.mm[40] == "Movable" and st(vm, 40) == "MOVABLE"
    # memory41 now touches nothing but lies above ZONE_MOVABLE's span end: kernel zone
    assert valid_zones(vm.machine, 41) == "Normal Movable"
    assert sysfs_online(vm.machine, 41, "kernel").outcome == "DONE"
    assert vm.mm[41] == "Normal" and st(vm, 41) == "KERNEL"
    assert sysfs_online(vm.machine, 41).outcome == "EINVAL"
    assert sysfs_offline(vm.machine, 41).outcome == "DONE"
    assert sysfs_offline(vm.machine, 41).outcome == "EINVAL"
    with pytest.raises(DevmemError, match="memory42 does not exist"):
        sysfs_online(vm.machine, 42)
    with pytest.raises(DevmemError, match="not virtio-mem memory"):
        sysfs_online(vm.machine, 33)
    vm.check()


def _pin_every_sub_block(vm: VirtioMem, mbs: range) -> None:
    from devmem_tui.engine.mm.hotplug import add_pin

    for mb in mbs:
        for sb in range(vm.blockmode.sbs_per_mb):
            a = mb * MB + sb * vm.blockmode.sb_size
            add_pin(vm.machine, a, a + 0xFFF)


def test_kernel_zone_busy_then_timer_50_100_200_300() -> None:
    vm = ref("auto_online=online")
    vm.resize(1 * G)
    assert all(vm.mm[mb] == "Normal" and st(vm, mb) == "KERNEL" for mb in range(40, 48))
    _pin_every_sub_block(vm, range(40, 48))
    r = vm.resize(896 * M)
    assert r.requests == [] and vm.device.plugged_size == 1 * G
    assert "1 attempt outside ZONE_MOVABLE" in "\n".join(r.trace)
    assert vm.timer_deadline == 50.0 and vm.stop_rc == -EBUSY
    assert r.pending and "retry timer" in r.pending[0]
    assert iomem(vm) == IOMEM_B
    fired = []
    for _ in range(5):
        before = vm.timer_deadline
        assert vm.timer_deadline is not None
        reps = vd.advance(vm.machine, vm.timer_deadline - vm.machine.clock)
        assert len(reps) == 1
        fired.append(before)
    assert fired == [50.0, 150.0, 350.0, 650.0, 950.0]  # delays 50, 100, 200, 300, 300
    assert vm.timer_deadline == 1250.0


def test_partial_progress_then_unpin_and_wait() -> None:
    vm = ref("auto_online=online")
    vm.resize(1 * G)
    from devmem_tui.engine.mm.hotplug import add_pin, remove_pin

    for mb in range(40, 48):  # slab in sub-blocks 0..39 of every block
        add_pin(vm.machine, mb * MB, mb * MB + 40 * vm.blockmode.sb_size - 1)
    r = vm.resize(1 * G - 8 * 32 * M)  # 128 sub-blocks to free
    # mb 47 then 46...: whole-block attempts fail, singles 63..40 succeed (24 per block)
    assert [q.addr for q in r.requests[:24]] == [
        47 * MB + sb * 0x200000 for sb in range(63, 39, -1)
    ]
    assert len(r.requests) == 128 and vm.device.plugged_size == 1 * G - 256 * M
    assert r.settled
    assert st(vm, 47) == "KERNEL_PARTIAL" and iomem(vm) == IOMEM_B
    r = vm.resize(1 * G - 8 * 64 * M)  # needs the pinned ones too: -EBUSY, partial progress
    assert not r.settled and vm.timer_deadline is not None
    remove_pin(vm.machine, 40 * MB, 48 * MB - 1)
    reps = vd.advance(vm.machine, 50)
    assert reps and reps[0].settled and vm.device.plugged_size == 512 * M
    assert reps[0].removed  # fully unplugged blocks went away
    vm.check()


def test_pinned_movable_block_gets_five_attempts(one_gib: VirtioMem) -> None:
    vm = one_gib
    _pin_every_sub_block(vm, range(47, 48))
    r = vm.resize(1 * G - 64 * M)
    trace = "\n".join(r.trace)
    assert (
        "virtio_mem_sbm_unplug_any_sb_online(memory47): fake-offline of 64 sub-block(s) "
        "63-0 -> -EBUSY (pinned pages, 5 attempts each in ZONE_MOVABLE): skipped" in trace
    )
    # mb 47 is busy everywhere; the driver moves on to mb 46 (MOVABLE, descending)
    assert calls(r)[0] == f"UNPLUG({46 * MB + 63 * 0x200000:#x}, 1)"
    assert vm.device.plugged_size == 1 * G - 64 * M and r.settled
    assert sysfs_offline(vm.machine, 47).outcome == "EBUSY"


# ------------------------------------------------------------------------ kexec, BBM, kdump, PM
def test_kexec_unplug_all_then_replug(one_gib: VirtioMem) -> None:
    vm = one_gib
    r = vm.kexec()
    assert calls(r)[0] == "UNPLUG_ALL" and r.requests[0].response == "ACK"
    assert calls(r)[1:] == [f"PLUG({ADDR + k * MB:#x}, 64)" for k in range(8)]
    assert "unplugging all memory is required" in "\n".join(r.trace)
    assert iomem(vm) == IOMEM_B and vm.device.plugged_size == 1 * G
    vm.check()


def test_kexec_during_migration_is_busy(one_gib: VirtioMem) -> None:
    vm = one_gib
    vm.machine.config.set("migration", "on")
    r = vm.kexec()
    assert calls(r) == ["UNPLUG_ALL"] and r.requests[0].response == "BUSY"
    assert vm.timer_deadline is not None and vm.unplug_all_required
    assert iomem(vm) == IOMEM_A
    vm.machine.config.set("migration", "off")
    reps = vd.advance(vm.machine, 50)
    assert calls(reps[0])[0] == "UNPLUG_ALL" and vm.device.plugged_size == 1 * G
    assert iomem(vm) == IOMEM_B


def test_bbm() -> None:
    vm = ref(block=1 * G)
    assert vm.mode == "BBM" and vm.blockmode.bb_size == 1 * G and vm.blockmode.first_id == 5
    assert vm.offline_threshold == 2 * G
    r = vm.resize(2 * G)
    assert calls(r) == ["PLUG(0x140000000, 1)", "PLUG(0x180000000, 1)"]
    assert r.added == list(range(40, 56))
    assert all(vm.mm[mb] == "Movable" for mb in range(40, 56))
    assert iomem(vm) == IOMEM_A + "  140000000-1bfffffff : System RAM (virtio_mem)\n"  # (f)
    r = vm.resize(1 * G)
    assert calls(r) == ["UNPLUG(0x180000000, 1)"] and r.removed == list(range(48, 56))
    assert vm.blockmode.state(6) == BbmState.UNUSED
    assert iomem(vm) == IOMEM_B
    vm.check()


def test_bbm_unplug_busy_cleanup_retries() -> None:
    vm = ref(block=1 * G)
    vm.resize(2 * G)
    vm.machine.config.set("migration", "on")
    r = vm.resize(1 * G)
    # The removal queues the work again (virtio_mem_retry), so the kernel's next run follows
    # at once: its cleanup UNPLUG is BUSY too, then the timer is armed.
    assert calls(r) == ["UNPLUG(0x180000000, 1)"] * 2
    assert [q.response for q in r.requests] == ["BUSY", "BUSY"]
    assert iomem(vm) == IOMEM_B and not any(mb in vm.mm for mb in range(48, 56))
    assert vm.blockmode.state(6) == BbmState.PLUGGED and vm.device.plugged_size == 2 * G
    assert vm.timer_deadline == 50.0
    vm.machine.config.set("migration", "off")
    reps = vd.advance(vm.machine, 50)
    assert calls(reps[0]) == ["UNPLUG(0x180000000, 1)"] and reps[0].requests[0].response == "ACK"
    assert vm.blockmode.state(6) == BbmState.UNUSED and vm.device.plugged_size == 1 * G
    vm.check()


def test_kdump_pfn_is_ram(one_gib: VirtioMem) -> None:
    vm = one_gib
    r = vm.kexec(kdump=True)
    assert vm.probed and vm.kdump and r.requests == []
    assert "memory hot(un)plug disabled in kdump kernel" in "\n".join(r.trace)
    assert iomem(vm) == ""  # the kdump kernel adds no memory
    assert vm.vmcore_pfn_is_ram(0x140000)[0] is True
    ok, why = vm.vmcore_pfn_is_ram(0x180000)
    assert ok is False and "UNPLUGGED" in why
    ok, why = vm.vmcore_pfn_is_ram(0x1A0000)  # outside the usable region
    assert ok is False and "ERROR" in why
    ok, why = vm.vmcore_pfn_is_ram(0x100000)
    assert ok is True and "outside" in why
    assert vm.resize(2 * G).requests == []  # config changes are ignored in kdump mode


def test_kdump_nothing_plugged_and_old_kernels() -> None:
    vm = ref()
    vm.kexec(kdump=True)
    assert vm.vmcore_pfn_is_ram(0x140000) == (
        False,
        "virtio_mem_vmcore_pfn_is_ram(0x140000): plugged_size 0 -> false",
    )
    old = ref("kernel=5.15")
    old.kexec(kdump=True)
    assert not old.probed and "kdump" in old.probe_error


def test_hibernate_and_suspend(one_gib: VirtioMem) -> None:
    vm = one_gib
    rc, msg = vm.hibernate()
    assert rc == -EPERM and msg.endswith("hibernation is not supported.")
    r = vm.suspend()
    assert any("suspending with plugged memory is not supported" in w for w in r.warnings)
    r = vm.suspend(persistent_suspend=True)
    assert not r.warnings and vm.device.plugged_size == 1 * G and r.settled
    assert "plugged size: 0x40000000" in "\n".join(r.trace)  # restore refreshed the config
    vm.machine.config.set("kernel", "6.6")
    assert vm.suspend(persistent_suspend=True).warnings


def test_one_mib_device_blocks() -> None:
    vm = ref(block=1 * M)
    assert vm.mode == "SBM" and vm.blockmode.sb_size == 2 * M
    r = vm.resize(129 * M)
    assert calls(r) == ["PLUG(0x140000000, 128)"]
    assert vm.device.plugged_size == 128 * M and vm.timer_deadline is None
    assert r.pending and "smaller than a sub-block" in r.pending[0]


def test_error_marks_device_broken(one_gib: VirtioMem) -> None:
    vm = one_gib
    # a debugging host moves one block behind the driver's back
    assert vm.raw_request("UNPLUG", 0x17FE00000, 2 * M).outcome == "ACK"
    ans = vm.raw_request("PLUG", 0x180000000, 2 * M)
    assert ans.outcome == "ACK" and ans.warnings
    r = vm.resize(1 * G + 128 * M)
    assert calls(r) == ["PLUG(0x180000000, 64)"] and r.requests[0].response == "ERROR"
    assert vm.broken and "unknown error, marking device broken: -22" in r.warnings
    assert r.pending and "broken" in r.pending[0]
    r = vm.resize(1 * G)
    assert r.requests == [] and "device is broken" in "\n".join(r.trace)
    assert vm.driver_state().startswith("broken")


def test_raw_plug_behind_the_driver_nack_livelock_is_stopped() -> None:
    vm = ref("auto_online=offline")
    vm.resize(1536 * M)  # 8 blocks added offline, -ENOSPC
    # the host plugs the last usable block behind the driver's back (device 1G + 2M)
    assert vm.raw_request("PLUG", 0x1AFE00000, 2 * M).outcome == "ACK"
    for mb in (40, 41, 42):
        sysfs_online(vm.machine, mb)
    res = sysfs_online(vm.machine, 43)  # MEM_ONLINE runs the work, without a config refresh
    rep = res.reports[0]
    assert [q.response for q in rep.requests] == ["ACK", "ACK", "ACK", "NACK", "NACK"]
    assert vm.livelock and any("livelock" in p for p in rep.pending)
    assert vm.timer_deadline is None and not vm.broken
    # a config change makes the driver re-read (and adopt) plugged_size
    r = vm.resize(1536 * M)
    assert any("WARN_ON_ONCE" in w for w in r.warnings) and not vm.livelock
    assert vm.plugged_size == vm.device.plugged_size


def test_unplug_all_raw_warns_about_online_memory(one_gib: VirtioMem) -> None:
    ans = one_gib.raw_request("UNPLUG_ALL")
    assert ans.outcome == "ACK" and any("online RAM" in w for w in ans.warnings)
    assert one_gib.device.plugged_size == 0
    assert "?" in vmem_tables.sub_block_strip(one_gib, 40)


def test_claim_inside_region_makes_add_fail_and_device_broken() -> None:
    vm = ref()
    mappings.claim(vm.machine, 0x140000000, 0x140000FFF, "intruder")
    r = vm.resize(256 * M)
    # mb 40 add fails (-EEXIST): unplugged again, rc -EEXIST -> broken
    assert calls(r) == ["PLUG(0x140000000, 64)", "UNPLUG(0x140000000, 64)"]
    assert vm.broken and vm.device.plugged_size == 0 and st(vm, 40) == "UNUSED"


def test_online_reports_its_zone_when_the_work_removes_the_block_again() -> None:
    """MEM_ONLINE queues the work; with requested-size 0 it removes the block just onlined."""
    m = machine("kernel=6.1", "io_strict_devmem=off", "auto_online=offline")
    vm = vd.add_device(m, "vmem0", ADDR, 2 * G, 512 * M, index=0)  # BBM, 512 MiB big blocks
    vm.resize(1 * G)
    m.config.set("migration", "on")
    vm.resize(0)  # the device answers BUSY: the blocks stay added, offline
    m.config.set("migration", "off")
    assert vm.mm.get(40) == "offline" and vm.timer_deadline is not None
    res = sysfs_online(m, 40)
    assert res.outcome == "DONE"
    assert res.message.startswith("memory40 online (Normal); vmem0 driver ran:")
    assert 40 not in vm.mm and "removed: memory40-memory43" in res.message
    vm.check()


# ----------------------------------------------------------------------------- kcore, revoke
def l1(*sets: str) -> VirtioMem:
    """The virtio-mem part of tests/layouts.py L1: block A (mb 80) online, B (81) not added, C (82)
    online with 0x294000000-0x297ffffff unplugged."""
    m = machine(*sets, boot=BOOT_L1)
    vm = vd.add_device(m, "vmem0", 0x280000000, 0x200000000, index=0)
    vm.resize(384 * M)
    assert sysfs_offline(m, 81).outcome == "DONE"
    vm.resize(192 * M)
    assert set(vm.mm) == {80, 82} and st(vm, 82) == "MOVABLE_PARTIAL"
    assert iomem(vm) == (
        "280000000-47fffffff : virtio0\n"
        "  280000000-287ffffff : System RAM (virtio_mem)\n"
        "  290000000-297ffffff : System RAM (virtio_mem)\n"
    )
    assert m.high_memory == 0x298000000
    return vm


def test_kcore_memory_states() -> None:
    vm = l1()
    m = vm.machine
    assert (
        m.memory_state(0x294000000) == "page_offline"
    )  # an unplugged sub-block of an online block
    assert m.memory_state(0x293FFF000) == "online"
    assert m.memory_state(0x288000000) == "not_added"  # block B
    assert sysfs_offline(m, 80).outcome == "DONE"
    assert m.memory_state(0x280000000) == "offline"  # an added block that is offline
    assert m.kcore(0x294000000, 4096).outcome.value == "ZEROS"
    assert m.kcore(0x280000000, 4096).outcome.value == "ZEROS"
    assert m.kcore(0x290000000, 4096).outcome.value == "OK"


def test_kcore_before_5_14() -> None:
    vm = l1("kernel=5.13")
    m = vm.machine
    assert m.memory_state(0x294000000) == "page_offline"
    assert m.kcore(0x294000000, 4096).outcome.value == "OK"  # before 5.14: no PageOffline check
    sysfs_offline(m, 80)
    assert m.memory_state(0x280000000) == "offline"
    assert (
        m.kcore(0x280000000, 4096).outcome.value == "OK"
    )  # before 5.14: an offline block is read raw


@pytest.mark.parametrize("io_strict, touched", [("on", "SIGBUS"), ("off", "OK")])
def test_probe_revokes_existing_mappings(io_strict: str, touched: str) -> None:
    m = machine("kernel=6.1", f"io_strict_devmem={io_strict}", boot=BOOT_L1)
    v = m.mmap(0x288000000, 4096)  # the region is still a hole
    assert v.outcome.value == "OK" and v.mapping
    vm = vd.add_device(m, "vmem0", 0x280000000, 0x200000000, index=0)
    assert any("revoke_iomem(0x280000000-0x47fffffff" in t for t in vm.last_probe.trace)  # type: ignore[union-attr]
    assert m.touch(v.mapping).outcome.value == touched
    assert m.read(0x288000000, 4096).outcome.value in ("EPERM", "EFAULT")
    assert m.mmap(0x288000000, 4096).outcome.value == "EPERM"


# ----------------------------------------------------------------------------- save / open
def test_round_trip_through_json(one_gib: VirtioMem) -> None:
    vm = one_gib
    sysfs_offline(vm.machine, 44)
    vm.resize(1 * G + 96 * M)
    d = json.loads(json.dumps(codec.to_dict(vm)))
    back = codec.from_dict(vm.machine, d)
    assert codec.to_dict(back) == d
    assert (
        back.parent is vm.parent
        and back.mm == vm.mm
        and back.blockmode.states == vm.blockmode.states
    )
    back.check()


def test_round_trip_through_state_module() -> None:
    from devmem_tui.engine import session_json as state

    vm = ref("auto_online=online")
    vm.resize(1 * G)
    _pin_every_sub_block(vm, range(47, 48))
    vm.resize(1 * G - 128 * M)
    assert vm.timer_deadline is not None or vm.stop_rc == 0
    doc = state.to_dict(vm.machine)
    m2 = state.from_dict(json.loads(json.dumps(doc)))
    assert state.to_dict(m2) == doc
    vm2 = m2.vmem["vmem0"]
    vm2.check()
    r1 = vm.resize(512 * M)
    r2 = vm2.resize(512 * M)
    assert calls(r1) == calls(r2) and iomem(vm) == iomem(vm2)


def test_from_dict_rejects_missing_parent(one_gib: VirtioMem) -> None:
    d = codec.to_dict(one_gib)
    m = machine()
    with pytest.raises(DevmemError, match="virtio0 resource"):
        codec.from_dict(m, d)
    d2 = dict(d, states=[[9, 1]])
    with pytest.raises(DevmemError):
        codec.from_dict(one_gib.machine, d2)


# ----------------------------------------------------------------------------- complexity
def test_one_tib_device_plug_all_and_back_has_no_per_block_objects() -> None:
    m = machine()
    vm = vd.add_device(m, "big", 0x10000000000, 1 << 40)
    r = vm.resize(1 << 40)
    assert r.settled and len(r.requests) == 8192
    dev = vm.device
    assert dev.blocks.total() == 524288 and len(dev.blocks) == 1  # one run
    assert (
        len(vm.blockmode.states) == 8192
        and len(vm.blockmode.sb_masks) == 8192
        and len(vm.mm) == 8192
    )
    assert vm.parent is not None and len(vm.parent.children) == 1  # one merged resource
    assert len(r.trace) <= TRACE_LIMIT and r.trace_omitted > 0
    r = vm.resize(0)
    assert r.settled and dev.blocks.total() == 0 and len(dev.blocks) == 0
    assert len(vm.mm) == 0 and vm.parent.children == ()
    assert isinstance(vm.blockmode.states, bytearray) and len(vm.blockmode.states) == 8192
    vm.check()


def test_sbm_state_enum_values() -> None:
    assert [s.name for s in SbmState] == [
        "UNUSED",
        "PLUGGED",
        "OFFLINE",
        "OFFLINE_PARTIAL",
        "KERNEL",
        "KERNEL_PARTIAL",
        "MOVABLE",
        "MOVABLE_PARTIAL",
    ]
    assert [s.value for s in BbmState] == [0, 1, 2, 3]
