"""Unmovable and long-term pins, and kexec / kdump / vmcore / suspend, through the command
layer (Session.execute), with the kernel and driver functions named."""

from __future__ import annotations

from pathlib import Path

from cmdrun import run

from devmem_tui.commands.session import Session


def kernel_zone_session(kernel: str = "6.16") -> Session:
    s = Session.new()
    run(s, f"set kernel {kernel}")
    run(s, "set auto_online online_kernel")
    run(s, "vmem resize vmem0 256M")
    return s


# ----------------------------------------------------------------------------- pins
def test_unmovable_pin_fails_isolation_with_ebusy() -> None:
    """offline_pages() -> start_isolate_page_range(): has_unmovable_pages() finds the page."""
    s = kernel_zone_session()
    run(s, "pin 0x148000000", text="(unmovable)")
    r = run(s, "offline memory41", "EBUSY", "unmovable pages fail isolation")
    assert any("has_unmovable_pages()" in t for t in r.trace)


def test_longterm_pin_in_zone_normal_makes_offline_retry_until_a_signal() -> None:
    """A FOLL_LONGTERM page is movable, so isolation succeeds, but do_migrate_range() fails
    every time and offline_pages() retries until signal_pending() (72b39cfc4d75): EINTR,
    and the real write hangs until interrupted. Nothing changes."""
    s = kernel_zone_session()
    run(s, "pin 0x148000000 4K longterm", text="(long-term pin)")
    r = run(s, "offline memory41", "EINTR", "would hang until interrupted")
    assert any("signal_pending() -> -EINTR" in t for t in r.trace)
    assert s.machine.vmem["vmem0"].mm[41] == "Normal"
    run(s, "unpin 0x148000000", text="unpinned 4K")
    run(s, "offline memory41", text="memory41 offline")


def test_unmovable_beats_longterm_in_one_block() -> None:
    """Isolation runs over the whole block before any migration: EBUSY wins."""
    s = kernel_zone_session()
    run(s, "pin 0x148000000 4K longterm")
    run(s, "pin 0x14c000000 4K unmovable")
    run(s, "offline memory41", "EBUSY")


def test_longterm_pin_never_sits_in_zone_movable_from_5_13() -> None:
    """d1e153fea2a8 "mm/gup: migrate pinned pages out of movable zone" (5.13):
    check_and_migrate_movable_pages() moves the page out of ZONE_MOVABLE before pinning it,
    so the block stays offlinable; before 5.13 the pin stays in ZONE_MOVABLE."""
    s = Session.new()
    run(s, "vmem resize vmem0 256M")  # online_movable: ZONE_MOVABLE
    r = run(s, "pin 0x148000000 4K longterm", text="FOLL_LONGTERM migrated those pages")
    assert any("check_and_migrate_movable_pages()" in t for t in r.trace)
    assert s.machine.pinned_longterm == []
    run(s, "offline memory41", text="memory41 offline")
    s = Session.new()
    run(s, "set kernel 5.12")
    run(s, "vmem resize vmem0 256M")
    run(s, "pin 0x148000000 4K longterm", text="pinned 0x148000000-0x148000fff")
    run(s, "offline memory41", "EINTR")


def test_pins_of_both_kinds_survive_save_and_open(tmp_path: Path) -> None:
    s = kernel_zone_session()
    run(s, "pin 0x148000000 8K longterm")
    run(s, "pin 0x14c000000")
    run(s, f"save {tmp_path / 's.json'}")
    t = Session.new()
    run(t, f"open {tmp_path / 's.json'}")
    assert t.machine.pinned_longterm == [(0x148000000, 0x148001FFF)]
    assert t.machine.pinned == [(0x14C000000, 0x14C000FFF)]
    run(t, "offline memory41", "EBUSY")


def test_virtio_mem_cannot_unplug_long_term_pinned_memory() -> None:
    """virtio_mem_fake_offline() -> alloc_contig_range() fails on any pinned page: the
    driver arms its retry timer, whatever the pin's kind."""
    s = kernel_zone_session()
    run(s, "pin 0x148000000 4K longterm")
    run(s, "vmem resize vmem0 0", text="next attempt at t=50s")


# ----------------------------------------------------------------------------- kexec
def test_kexec_unplugs_all_then_plugs_again_and_forgets_the_old_kernel() -> None:
    """A kexec'd kernel's virtio_mem_probe() finds plugged_size != 0 (QEMU keeps the blocks:
    no system reset) and sends UNPLUG_ALL (unplug_all_required) before plugging up to the
    requested size again; driver-managed memory (add_memory_driver_managed, 7b7b27214bba) is
    not in the firmware memory map, so the new kernel boots with the boot RAM only."""
    s = Session.new()
    run(s, "vmem resize vmem0 1G")
    run(s, "mmap 0xfebd0000 4096", "OK")
    run(s, "pin 0x140000000 4K")
    r = run(s, "kexec", text="kexec into kernel 6.16.0")
    assert "1 mapping(s), 1 pinned page(s)" in r.message
    assert "UNPLUG_ALL -> ACK" in r.message
    assert r.trace[0].startswith("kernel_kexec() -> machine_kexec()")
    vm = s.machine.vmem["vmem0"]
    assert [q.kind for q in vm.last_probe.requests][:2] == ["UNPLUG_ALL", "PLUG"]
    assert s.machine.mappings == {} and s.machine.pinned == []
    assert vm.device.plugged_size == 1 << 30
    run(s, "read 0x140000000", "EPERM")


def test_kexec_into_another_version() -> None:
    s = Session.new()
    run(s, "vmem resize vmem0 512M")
    run(s, "kexec 5.15.100", text="(was 6.16.0)")
    assert s.config.kernel == "5.15.100"
    run(s, "kexec banana", None)  # a bad version changes nothing
    assert s.config.kernel == "5.15.100"


# ----------------------------------------------------------------------------- kdump, vmcore
def test_kdump_vmcore_zero_fills_unplugged_memory_through_state_requests() -> None:
    """kdump kernel (5.16+, ce2814622e84): virtio_mem_init_kdump() adds no memory and
    registers vmcore_cb->pfn_is_ram = virtio_mem_vmcore_pfn_is_ram(), which asks the device
    with STATE requests; read_from_oldmem() zero-fills what it says is not RAM. makedumpfile
    excludes the crashed kernel's PG_offline pages."""
    s = Session.new()
    run(s, "vmem resize vmem0 1088M")  # memory48: first half plugged, the rest PG_offline
    run(s, "vmcore 0x140000000", None)  # not a kdump kernel yet
    r = run(s, "kdump", text="panic: kdump boots the crash kernel 6.16.0")
    assert "driver in kdump mode" in r.message
    r = run(s, "vmcore 0x140000000", "OK", "the crashed kernel's RAM (6.16.0)")
    assert any("STATE(0x140000000, 1) -> ACK PLUGGED -> true" in t for t in r.trace)
    r = run(s, "vmcore 0x184000000", "ZEROS")
    assert any("read_from_oldmem() zero-fills" in t for t in r.trace)
    assert "makedumpfile excludes the PG_offline pages 0x184000000-0x184000fff" in r.message
    run(s, "vmcore 0x188000000", "ZEROS")  # never added: no PT_LOAD
    r = run(s, "vmcore 0x180000000 0x8000000", "OK", "zero-filled: 0x184000000-0x187ffffff")
    run(s, "vmcore 0x1000", "OK")  # boot RAM of the crashed kernel


def test_kdump_before_5_16_reads_unplugged_memory_raw() -> None:
    """Before ce2814622e84 (5.16) virtio_mem_probe() refuses a kdump kernel (-EBUSY): no
    pfn_is_ram callback, so /proc/vmcore reads the crashed kernel's unplugged memory raw."""
    s = Session.new("qemu-x86")
    run(s, "set kernel 5.15")
    run(s, "vmem add vmem0 0x140000000 16G", text="driver probed")
    run(s, "vmem resize vmem0 1088M")
    r = run(s, "kdump", text="no driver (disabled in kdump kernel (before 5.16) -> -EBUSY)")
    r = run(s, "vmcore 0x184000000", "OK", "raw unplugged virtio-mem memory")
    assert "makedumpfile excludes" in r.message
    run(s, "kexec", text="kexec into kernel 5.15.0")
    run(s, "vmcore 0x184000000", None)  # the dump is gone with the kdump kernel


# ----------------------------------------------------------------------------- suspend
def test_suspend_needs_persistent_suspend_with_memory_plugged() -> None:
    """virtio_mem_freeze() (6.10+): suspend-to-RAM with memory plugged and
    VIRTIO_MEM_F_PERSISTENT_SUSPEND not negotiated -> -EPERM; suspend-to-idle is fine;
    hibernation is always vetoed by the driver's PM notifier."""
    s = Session.new()
    run(s, "suspend", text="suspend-to-RAM and resume")  # nothing plugged: allowed
    run(s, "vmem resize vmem0 256M")
    run(s, "suspend", "EPERM", "suspending with plugged memory is not supported")
    run(s, "suspend freeze", text="suspend-to-idle and resume")
    run(s, "suspend disk", "EPERM", "hibernation refused")
    t = Session.new("qemu-x86")
    run(t, "vmem add vmem0 0x140000000 16G persistent-suspend=on")
    run(t, "vmem resize vmem0 256M")
    run(t, "suspend", text="vmem0 reset and re-read its config")
    assert t.machine.vmem["vmem0"].device.plugged_size == 256 << 20
    run(t, "set kernel 6.9")
    run(t, "suspend", "EPERM", "no suspend support before 6.10")
