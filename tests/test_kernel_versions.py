"""Kernel versions with stable sub-levels, and every version boundary the sub-level moves,
through the command layer (Session.execute). Each test names the kernel function and the
commit; the first sub-levels per stable line are in engine/config.py and
docs/kernel-rules.md with how they were established."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cmdrun import run

from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state
from devmem_tui.engine.config import (
    REGION_INTERSECTS_DESCENDS,
    REVOKE_DEVMEM,
    WALK_MEM_RES_DESCENDS,
    KernelConfig,
)


def cxl(kernel: str) -> Session:
    s = Session.new("server-cxl")
    run(s, f"set kernel {kernel}")
    return s


# ----------------------------------------------------------------------------- parsing
def test_uname_r_string_sets_the_full_version() -> None:
    s = Session.new()
    run(s, "set kernel 6.12.118+deb13-amd64", text="kernel = 6.12.118")
    run(s, "config", text="kernel            6.12.118 ")
    assert s.config.short().startswith("6.12.118 x86_64")


def test_bare_line_is_its_first_release() -> None:
    s = Session.new()
    run(s, "set kernel 6.1", text="kernel = 6.1.0")
    assert s.config.version == (6, 1, 0)


@pytest.mark.parametrize(
    ("release", "version"),
    [
        ("6.1.0-56-amd64", "6.1.0"),  # Debian 12 ABI name
        ("5.15.0-105-generic", "5.15.0"),  # Ubuntu
        ("4.18.0-553.el8_10.x86_64", "4.18.0"),  # RHEL
    ],
)
def test_distribution_abi_names_warn_where_the_sub_level_is(release: str, version: str) -> None:
    s = Session.new()
    r = run(s, f"set kernel {release}", text=f"kernel = {version}")
    warning = [line for line in r.message.splitlines() if line.startswith("warning: ")][0]
    assert "distribution ABI name, not a sub-level" in warning and "/proc/version" in warning


def test_proc_version_line_gives_the_debian_sub_level() -> None:
    line = (
        "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
        "12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP "
        "PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-08-21)"
    )
    s = Session.new()
    r = run(s, f'set kernel "{line}"', text="kernel = 6.1.192")
    assert "Debian 6.1.192-2" in r.message and "warning" not in r.message
    # unquoted, '#1 SMP ...' is a comment: the line is cut before the Debian version
    r = run(s, f"set kernel {line}", text="kernel = 6.1.0")
    assert 'put the whole /proc/version line in "double quotes"' in r.message


def test_old_session_files_with_x_y_versions_still_open(tmp_path: Path) -> None:
    s = Session.new()
    doc = state.to_dict(s.machine)
    doc["config"]["kernel"] = "6.1"
    for key in ("mtrr", "dump", "pinned_longterm"):
        del doc[key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    run(s, f"open {path}", text="kernel 6.1.0 x86_64")
    assert s.config.kernel == "6.1.0"
    # the preset's firmware MTRRs come back from its name
    assert s.machine.mtrr.type_of(0xC0000000, 0xC0000FFF) == "UC"
    run(s, f"save {tmp_path / 'new.json'}")
    assert json.loads((tmp_path / "new.json").read_text())["config"]["kernel"] == "6.1.0"


# ----------------------------------------------------------------------------- b4afe4183ec7
@pytest.mark.parametrize(
    ("before", "first"),
    [(f"{a}.{b}.{s - 1}", f"{a}.{b}.{s}") for (a, b), s in REGION_INTERSECTS_DESCENDS.stable],
)
def test_region_intersects_descendants_reach_each_stable_line(before: str, first: str) -> None:
    """region_intersects() (kernel/resource.c) looks into descendants from b4afe4183ec7
    (CVE-2024-49878): before the backport devmem_is_allowed() lets a write of server-cxl's
    nested kmem RAM through (ioremap then refuses it, EFAULT, where 3c9c79753436 is in: 5.10.38
    on; 5.4.y has no established backport of that, so the write reaches live RAM there), and
    from the first sub-level that has it the write is EPERM."""
    s = cxl(before)
    r = run(s, "write 0x490000000 1024", "OK" if before.startswith("5.4.") else "EFAULT")
    assert any("[top level]" in t for t in r.trace)
    run(s, f"set kernel {first}")
    r = run(s, "write 0x490000000 1024", "EPERM")
    assert any("[incl. descendants]" in t for t in r.trace)


def test_region_intersects_6_1_100_vs_6_1_150_and_a_line_without_the_backport() -> None:
    """The issue's example: 6.1.100 and 6.1.150 differ on server-cxl (b4afe4183ec7 reached
    6.1.y in 6.1.113); 6.2.y and 5.19.y ended before the fix and never got it; 6.12.0 has it
    from mainline."""
    run(cxl("6.1.100"), "mmap 0x490000000 4096", "OK")
    run(cxl("6.1.150"), "mmap 0x490000000 4096", "EPERM")
    run(cxl("6.2.16"), "mmap 0x490000000 4096", "OK")
    run(cxl("5.19.17"), "mmap 0x490000000 4096", "OK")
    run(cxl("6.12.0"), "mmap 0x490000000 4096", "EPERM")


# ----------------------------------------------------------------------------- 3c9c79753436
@pytest.mark.parametrize(
    ("before", "first"),
    [(f"{a}.{b}.{s - 1}", f"{a}.{b}.{s}") for (a, b), s in WALK_MEM_RES_DESCENDS.stable],
)
def test_ioremap_refuses_nested_ram_from_each_stable_backport(before: str, first: str) -> None:
    """x86 __ioremap_check_mem() -> walk_mem_res() finds busy System RAM at any depth from
    3c9c79753436 (mainline 5.13): before it, a read of nested kmem RAM is mapped through
    ioremap_cache() and returns live RAM (5.1-5.12), after it ioremap refuses -> EFAULT."""
    s = cxl(before)
    run(s, "read 0x490000000", "OK", "live System RAM (kmem) contents")
    run(s, f"set kernel {first}")
    r = run(s, "read 0x490000000", "EFAULT")
    assert any("[walk_mem_res, any depth]" in t and "ioremap on RAM" in t for t in r.trace)


def test_ioremap_walk_is_walk_system_ram_range_before_4_15() -> None:
    """0e4c12b45aa8 (4.15) switched __ioremap_caller() from walk_system_ram_range() to
    walk_mem_res(); both top level only until 3c9c79753436."""
    r = run(cxl("4.14"), "read 0x490000000", "OK", "live System RAM (kmem) contents")
    assert any(
        t.startswith("ioremap_cache(0x490000000) [walk_system_ram_range, top level]")
        for t in r.trace
    )
    r = run(cxl("4.15"), "read 0x490000000", "OK")
    assert any("[walk_mem_res, top level]: busy 'System RAM (kmem)'" in t for t in r.trace)


# ----------------------------------------------------------------------------- a9b17a5ef499
def test_page_is_ram_sees_nested_ram_from_5_1() -> None:
    """page_is_ram() = walk_system_ram_range(): top-level resources only until a9b17a5ef499
    "mm/resource: Let walk_system_ram_range() search child resources" (5.1). So x86 4.11-4.17
    devmem_is_allowed() did not see server-cxl's nested kmem RAM: mmap OK, not EPERM; and
    /proc/kcore's RAM list (the same walk) had no entry for it before 5.1."""
    r = run(cxl("4.14"), "mmap 0x490000000 4096", "OK")
    assert any("[< 5.1: walk_system_ram_range() sees the top level only]" in t for t in r.trace)
    run(cxl("5.0"), "kcore 0x490000000", "ZEROS")
    run(cxl("5.1"), "kcore 0x490000000", "OK", "System RAM contents")


def test_compare_mmap_of_nested_kmem_ram_across_eras() -> None:
    r = run(cxl("6.16"), "compare mmap 0x490000000 4096")
    got = {row["label"]: row["outcome"] for row in r.data["rows"]}
    assert [got[e] for e in ("4.10", "4.14", "5.7", "5.15", "6.1", "6.11", "6.16")] == [
        "OK",
        "OK",
        "OK",
        "OK",
        "OK",
        "OK",
        "EPERM",
    ]


# ----------------------------------------------------------------------------- 3234ac664a87
def test_revocation_reached_5_7_at_5_7_6() -> None:
    """__request_region() -> revoke_devmem() (3234ac664a87, mainline 5.8) reached 5.7.y in
    5.7.6: a claim zaps a live mapping with IO_STRICT_DEVMEM there, not on 5.7.5."""
    for kernel, touch in (("5.7.5", "OK"), ("5.7.6", "SIGBUS")):
        s = Session.new("qemu-x86")
        run(s, f"set kernel {kernel}")
        run(s, "set io_strict_devmem on")
        run(s, "mmap 0xfebd0000 4096", "OK")
        run(s, "claim 0xfebd0000+4K newdrv")
        run(s, "touch m1", touch)
    assert KernelConfig().has(REVOKE_DEVMEM)


# ----------------------------------------------------------------------------- 61082ad6a6e1
def test_unplugged_inaccessible_is_mainline_5_16_only() -> None:
    """virtio_mem_features[] got VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE in 61082ad6a6e1 (5.16);
    the 5.15.y and 5.10.y AUTOSEL picks were NACKed and dropped, so even 5.15.190's driver
    cannot bind to a device that requires it (QEMU fails feature negotiation)."""
    s = Session.new("qemu-x86")
    run(s, "set kernel 5.15.190")
    run(s, "vmem add vmem0 0x140000000 1G unplugged-inaccessible=on", text="no driver")
    run(s, "vmem add vmem1 0x180000000 1G", text="driver probed")  # picks off on x86
    s = Session.new("qemu-x86")
    run(s, "set kernel 5.16")
    run(s, "vmem add vmem0 0x140000000 1G unplugged-inaccessible=on", text="driver probed")
