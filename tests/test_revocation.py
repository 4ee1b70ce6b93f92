"""Revocation of live /dev/mem mappings by revoke_iomem(): the cases R1-R9, numbered here.

R6/R7 need a virtio-mem probe. They run twice: simulated on layout L1 as the driver does it
(the parent ``virtioN`` is requested with ``__request_region(..., IORESOURCE_SYSTEM_RAM)``, busy
at that moment, ``revoke_iomem()`` runs, then BUSY is cleared), and through the real driver
model with ``vmem add`` on the ``qemu-x86`` preset.
"""

from __future__ import annotations

import pytest
from layouts import FakeVmem, config, l1

from devmem_tui.commands.session import Session
from devmem_tui.engine.devmem import mappings, mmap
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F, Resource
from devmem_tui.engine.machine import Machine


def run(s: Session, line: str, outcome: str, text: str = "") -> None:
    r = s.execute(line)
    assert r is not None and r.ok, (line, r and r.message)
    assert r.outcome == outcome, (line, r.message, r.trace)
    assert text in r.message, (line, r.message)


def session(kernel: str, mode: str, **kw: bool) -> Session:
    return Session(l1(config(kernel, mode), **kw))


@pytest.mark.parametrize(
    ("kernel", "mode", "touch", "read_after", "mmap_after"),
    [
        ("6.1", "SI", "SIGBUS", "EPERM", "EPERM"),  # R1
        ("6.1", "S", "OK", "OK", "OK"),  # R2: revoke_iomem is an empty stub without IO_STRICT
        ("6.1", "SIR", "OK", "OK", "OK"),  # R3: both end pages still allowed (strict checks off)
        ("5.7", "SI", "OK", "EPERM", "EPERM"),  # R4: no revocation before 5.8
        ("5.8", "SI", "SIGBUS", "EPERM", "EPERM"),  # 3234ac664a87
    ],
    ids=["R1", "R2", "R3", "R4", "R1-5.8"],
)
def test_claim_of_a_mapped_bar(
    kernel: str, mode: str, touch: str, read_after: str, mmap_after: str
) -> None:
    s = session(kernel, mode)
    run(s, "mmap 0xfebd0000 4096", "OK", "m1")
    run(s, "touch m1", "OK", "device/bus data")
    run(s, "claim 0xfebd0000+4K newdrv", "DONE")
    run(s, "touch m1", touch)
    run(s, "read 0xfebd0000", read_after)
    run(s, "mmap 0xfebd0000 4096", mmap_after)


def test_r1_trace_and_event() -> None:
    m = l1(config("6.1", "SI"))
    mmap.mmap_mem(m, 0xFEBD0000, 4096)
    m.drain_events()
    _, trace = mappings.claim(m, 0xFEBD0000, 0xFEBD0FFF, "newdrv")
    assert any(
        "unmap_mapping_range(iomem, 0xfebd0000, 0x1000, 1): zapped m1" in t for t in trace
    ), trace
    assert m.mappings["m1"].zapped == [(0xFEBD0000, 0xFEBD0FFF)]
    assert [e.kind for e in m.drain_events()].count("mapping-revoked") == 1


def test_r2_stub_trace() -> None:
    m = l1(config("6.1", "S"))
    mmap.mmap_mem(m, 0xFEBD0000, 4096)
    _, trace = mappings.claim(m, 0xFEBD0000, 0xFEBD0FFF, "newdrv")
    assert "empty stub without CONFIG_IO_STRICT_DEVMEM" in trace[-1]
    assert m.mappings["m1"].zapped == []


def test_r5_first_mib_claim_is_not_revoked() -> None:
    s = session("6.1", "SI")
    run(s, "mmap 0xa0000 0x20000", "OK")
    r = s.execute("claim 0xa0000-0xbffff vgadrv")
    assert r is not None and r.ok
    assert any("both end pages != 0 -> nothing unmapped" in t for t in r.trace), r.trace
    run(s, "touch m1", "OK")
    run(s, "touch m1 0x1f000", "OK")


def probe_virtio_mem(m: Machine) -> Resource:
    """What virtio_mem_create_resource() does: request the device region busy with
    IORESOURCE_SYSTEM_RAM (revoke_iomem runs while it is busy), then clear BUSY."""
    res = m.tree.request_region(
        0x280000000, 0x200000000, "virtio0", SYSTEM_RAM, exclusive=m.config.exclusive_system_ram
    )
    mappings.revoke_iomem(m, res.start, res.end)
    res.flags &= ~F.BUSY
    m.vmem["vmem0"] = FakeVmem("vmem0", 0x280000000, 0x200000000)  # type: ignore[assignment]
    return res


@pytest.mark.parametrize(
    ("mode", "touch", "text"),
    [
        ("SI", "SIGBUS", ""),  # R6
        ("S", "OK", "unplugged virtio-mem memory"),  # R7: the caveat of the invariant
    ],
    ids=["R6", "R7"],
)
def test_virtio_mem_probe_after_mapping(mode: str, touch: str, text: str) -> None:
    m = l1(config("6.1", mode), with_virtio=False)  # before the driver probes: a hole
    s = Session(m)
    run(s, "mmap 0x288000000 4096", "OK", "m1")
    probe_virtio_mem(m)
    run(s, "touch m1", touch, text)
    run(s, "mmap 0x288000000 4096", "EPERM")  # new accesses: the SYSTEM_RAM-typed parent


def test_r6_zaps_the_whole_device_region() -> None:
    m = l1(config("6.1", "SI"), with_virtio=False)
    assert mmap.mmap_mem(m, 0x280000000, 0x2000).mapping == "m1"
    assert mmap.mmap_mem(m, 0x47FFFF000, 0x1000).mapping == "m2"
    assert mmap.mmap_mem(m, 0x480000000, 0x1000).mapping == "m3"  # above the region
    probe_virtio_mem(m)
    assert m.mappings["m1"].zapped == [(0x280000000, 0x280001FFF)]
    assert m.mappings["m2"].zapped == [(0x47FFFF000, 0x47FFFFFFF)]
    assert m.mappings["m3"].zapped == []
    assert mappings.touch(m, "m3", 0).outcome == "OK"
    assert mappings.touch(m, "m1", 0x1000).outcome == "SIGBUS"


def test_r8_request_resource_does_not_revoke() -> None:
    m = l1(config("6.1", "SI"))
    s = Session(m)
    run(s, "mmap 0xfebd0000 4096", "OK")
    bar = next(r for r in m.tree.find("0000:00:02.0"))
    parent = bar.parent
    assert parent is not None
    m.tree.release(bar)  # the PCI core re-assigns the BAR: release + insert_resource
    m.tree.insert_resource(Resource(0xFEBD0000, 0xFEBD0FFF, "0000:00:02.0", F.MEM), parent)
    run(s, "touch m1", "OK")


def test_r9_only_the_claimed_page_is_zapped() -> None:
    s = session("6.1", "SI")
    run(s, "mmap 0xfebd0000 8192", "OK")
    run(s, "claim 0xfebd0000+4K newdrv", "DONE")
    run(s, "touch m1", "SIGBUS")
    run(s, "touch m1 0x1000", "OK")
    run(s, "maps", "DONE", "0xfebd0000-0xfebd0fff")


def test_private_mappings_are_zapped_too() -> None:
    s = session("6.1", "SI")
    run(s, "mmap 0xfebd0000 4096 private", "OK")
    run(s, "claim 0xfebd0000+4K newdrv", "DONE")
    run(s, "touch m1", "SIGBUS")


def test_release_does_not_restore_ptes() -> None:
    s = session("6.1", "SI")
    run(s, "mmap 0xfebd0000 4096", "OK")
    run(s, "claim 0xfebd0000+4K newdrv", "DONE")
    run(s, "release newdrv", "DONE")
    run(s, "touch m1", "SIGBUS")
    run(s, "read 0xfebd0000", "OK")
    run(s, "mmap 0xfebd0000 4096", "OK", "m2")


def test_unaligned_claim_rounds_like_unmap_mapping_range() -> None:
    """hba = floor(start / 4K), hlen = ceil(size / 4K): a 4 KiB claim at 0x...800 zaps one
    page only, although it touches two."""
    m = l1(config("6.1", "SI"))
    mmap.mmap_mem(m, 0xFEBD0000, 4096)
    mmap.mmap_mem(m, 0xFDFFE000, 0x2000)  # window gap below the virtio-pci BAR
    mappings.claim(m, 0xFDFFE800, 0xFDFFF7FF, "odd")
    assert m.mappings["m2"].zapped == [(0xFDFFE000, 0xFDFFEFFF)]
    assert mappings.touch(m, "m2", 0x1000).outcome == "OK"


def test_first_page_denied_short_circuits_the_last() -> None:
    m = l1(config("6.1", "SI"))
    mmap.mmap_mem(m, 0xFEBD0000, 4096)
    _, trace = mappings.claim(m, 0xFEBD0000, 0xFEBD0FFF, "newdrv")
    assert sum("devmem_is_allowed(0xfebd0)" in t for t in trace) == 1


def test_mapping_elsewhere_untouched() -> None:
    m = l1(config("6.1", "SI"))
    mmap.mmap_mem(m, 0xFEBD0000, 4096)
    mmap.mmap_mem(m, 0xFDFFF000, 4096)
    mappings.claim(m, 0xFEBD0000, 0xFEBD0FFF, "newdrv")
    assert m.mappings["m2"].zapped == []


def test_busy_is_exclusive_revokes_without_io_strict() -> None:
    """Counterfactual: a mandatory busy exclusion must also revoke live mappings."""
    s = session("6.1", "S")
    run(s, "set proposal busy-is-exclusive", "DONE")
    run(s, "mmap 0xfebd0000 4096", "OK", "counterfactual")
    run(s, "claim 0xfebd0000+4K newdrv", "DONE")
    run(s, "touch m1", "SIGBUS")


def test_failed_claim_changes_nothing() -> None:
    m = l1(config("6.1", "SI"))
    s = Session(m)
    run(s, "mmap 0xfe000000 4096", "EPERM")
    run(s, "mmap 0xfebd0000 4096", "OK")
    before = [(r.start, r.end, r.name) for _, r in m.tree.walk()]
    r = s.execute("claim 0xfe000000+4K other")  # conflicts with busy virtio-pci-modern
    assert r is not None and not r.ok and "EBUSY" in r.message
    r = s.execute("claim 0xfebcf000-0xfebd0fff straddle")  # partial overlap of the BAR
    assert r is not None and not r.ok
    assert [(r.start, r.end, r.name) for _, r in m.tree.walk()] == before
    assert m.mappings["m1"].zapped == []


@pytest.mark.parametrize(
    ("io_strict", "touch", "text"),
    [
        ("on", "SIGBUS", "revoked"),  # R6
        ("off", "OK", "unplugged virtio-mem memory"),  # R7
    ],
    ids=["R6-driver", "R7-driver"],
)
def test_virtio_mem_probe_through_the_driver(io_strict: str, touch: str, text: str) -> None:
    """R6/R7 with the real virtio-mem driver model: ``vmem add`` probes, requests the device
    region and calls revoke_iomem()."""
    s = Session.new("qemu-x86")
    run(s, f"set io_strict_devmem {io_strict}", "DONE")
    run(s, "mmap 0x180000000 4096", "OK", "m1")
    run(s, "vmem add vmem0 0x180000000 4G", "DONE")
    run(s, "touch m1", touch, text)
    run(s, "mmap 0x180000000 4096", "EPERM")
