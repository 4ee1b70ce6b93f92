"""Kernel lockdown, what the data of an allowed access is said to be, arm64's memblock
"reserved" lines and its memory types - all through the command layer."""

from __future__ import annotations

from cmdrun import run

from devmem_tui.commands.session import Session


# ----------------------------------------------------------------------------- lockdown
def test_lockdown_integrity_refuses_dev_mem_but_not_kcore() -> None:
    """open_port() (drivers/char/mem.c) asks security_locked_down(LOCKDOWN_DEV_MEM)
    (9b9d8dda1ed7, 5.4): refused under integrity and confidentiality, before any /dev/mem rule;
    open_kcore() asks LOCKDOWN_KCORE, a confidentiality-only reason."""
    s = Session.new()
    run(s, "set lockdown integrity", text="lockdown = integrity")
    for line in ("read 0x1000", "write 0xfebd0000", "mmap 0xfebd0000 4096"):
        r = run(s, line, "EPERM", "locked down (integrity; Secure Boot")
        assert r.data["decider"].startswith("open_port(): security_locked_down(LOCKDOWN_DEV_MEM)")
        assert len(r.trace) == 3  # capable, the lockdown hook, its dmesg line: no policy ran
    run(s, "kcore 0x100000", "OK")
    run(s, "set lockdown confidentiality")
    r = run(s, "kcore 0x100000", "EPERM", "lockdown=confidentiality")
    assert r.data["decider"].startswith("open_kcore(): security_locked_down(LOCKDOWN_KCORE)")
    run(s, "config", text="lockdown effective        confidentiality")
    assert "lockdown=confidentiality" in s.config.short()


def test_lockdown_needs_5_4_and_devmem_comes_first() -> None:
    s = Session.new()
    run(s, "set lockdown integrity")
    run(s, "set kernel 5.3", text="no lockdown LSM before 5.4")
    run(s, "read 0xfebd0000", "OK")  # mainline 5.3 has no lockdown
    run(s, "set kernel 5.4")
    run(s, "read 0xfebd0000", "EPERM")
    run(s, "set devmem off")  # memory_open() finds no minor 1 before open_port() runs
    run(s, "read 0xfebd0000", "ENXIO")


def test_lockdown_refuses_hibernation_and_notes_kexec_file_load() -> None:
    s = Session.new()
    run(s, "set lockdown integrity")
    run(s, "suspend disk", "EPERM", "locked down")
    r = run(s, "kexec")
    assert any("kexec_load() is refused (LOCKDOWN_KEXEC)" in t for t in r.trace)


# ----------------------------------------------------------------------------- data labels
def test_firmware_memory_is_not_device_data() -> None:
    """What an ioremap_cache() read returns is named for what is there: page 0 and the
    0xf0000 ROM are firmware memory (e820 Reserved, System ROM), so is firmware-reserved RAM;
    only MMIO is device/bus data."""
    s = Session.new()
    run(s, "read 0x0", "OK", "firmware memory ('Reserved')")
    run(s, "read 0xf0000", "OK", "firmware memory ('System ROM')")
    run(s, "read 0xbffe0000", "OK", "firmware memory ('Reserved')")
    run(s, "read 0xfec00000", "OK", "device/bus data (not modelled)")
    run(s, "mmap 0x0 0x100000", "OK")
    run(s, "touch m1 0xf0000", "OK", "firmware memory ('System ROM')")


def test_soft_reserved_is_unused_ram_not_firmware_data() -> None:
    """e820 'Soft Reserved' (EFI_MEMORY_SP) is RAM set aside for device-dax/hmem: a read
    through ioremap_cache() returns RAM contents the kernel does not use, not firmware data."""
    s = Session.new("server-cxl")
    r = run(s, "read 0x480000000", "OK", "specific-purpose RAM the kernel leaves unused")
    assert "firmware memory" not in r.message


def test_nested_kmem_ram_read_through_ioremap_is_live_ram() -> None:
    """5.1-5.12 (dax kmem, before 3c9c79753436): ioremap_cache() does not see System RAM
    nested under the CXL window, so a read returns live kmem RAM, not device data."""
    s = Session.new("server-cxl")
    run(s, "set kernel 5.10")
    r = run(s, "read 0x490000000", "OK", "live System RAM (kmem) contents")
    assert "device/bus data" not in r.message
    run(s, "mmap 0x510000000 4096", "OK")  # above high_memory: read() would be EFAULT
    run(s, "touch m1", "OK", "persistent memory contents")


# ----------------------------------------------------------------------------- arm64
def test_arm64_reserved_lines_are_mem_busy() -> None:
    """reserve_memblock_reserved_regions() -> reserve_region_with_split(): the 'reserved'
    children of System RAM are MEM|BUSY (the parent's type plus BUSY), not System RAM."""
    s = Session.new("arm64-virt")
    r = run(s, "iomem 0x40000000-0x13fffffff --flags")
    assert "41d70000-4270ffff : reserved [busy]" in r.message
    assert "40210000-41d6ffff : Kernel code [busy sysram]" in r.message


def test_arm64_maps_non_memory_as_device_never_wb() -> None:
    """arm64 phys_mem_access_prot() (arch/arm64/mm/mmu.c): not memory -> pgprot_noncached,
    Device-nGnRnE; memory with O_SYNC -> Normal-NC; memory otherwise keeps Normal WB."""
    s = Session.new("arm64-virt")
    run(s, "mmap 0x09000000 4096", "OK", "(shared, Device-nGnRnE)")
    run(s, "set strict_devmem off")
    run(s, "mmap 0x40000000 4096 sync", "OK", "(shared, Normal-NC)")
    run(s, "mmap 0x40001000 4096", "OK", "(shared, WB)")
    r = run(s, "maps")
    assert "shared Device-nGnRnE" in r.message


def test_server_cxl_firmware_mtrrs_make_its_bars_uc_minus() -> None:
    """server-cxl carries an OVMF-style MTRR layout: 0x80000000-4 GiB uncached, so a WB mmap
    of the igb BAR's hole neighbour becomes UC- (pat_x_mtrr_type), while the 64-bit window
    stays WB."""
    s = Session.new("server-cxl")
    run(s, "mmap 0x92200000 4096", "OK", "(shared, UC-)")
    run(s, "mmap 0x38002000000 4096", "OK", "(shared, WB)")
    run(s, "config", text="MTRRs (firmware)          default WB; 0xa0000-0xfffff UC")
