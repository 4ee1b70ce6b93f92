"""The access commands: read, write, mmap, touch, munmap, maps, kcore, claim, release, compare;
their input errors, the counterfactual proposals, PAT conflicts and corner cases."""

from __future__ import annotations

import pytest
from layouts import config, l1, l4

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.engine.config import ERAS
from devmem_tui.engine.devmem import mmap
from devmem_tui.engine.machine import Machine


def ok(s: Session, line: str, outcome: str, text: str = "") -> Result:
    r = s.execute(line)
    assert r is not None and r.ok, (line, r and r.message)
    assert r.outcome == outcome, (line, r.message, r.trace)
    assert text in r.message, (line, r.message)
    return r


def fails(s: Session, line: str, text: str = "") -> Result:
    r = s.execute(line)
    assert r is not None and not r.ok, (line, r and r.message)
    assert r.outcome is None
    assert r.message.startswith("error: ") and "\n" not in r.message, r.message
    assert text in r.message, r.message
    return r


def snapshot(m: Machine) -> tuple[object, ...]:
    return (
        [(r.start, r.end, r.name, int(r.flags)) for _, r in m.tree.walk()],
        {k: (v.start, v.length, v.private, v.sync, list(v.zapped)) for k, v in m.mappings.items()},
        m.next_mapping,
        m.config.to_dict(),
        len(m.events),
        m.high_memory,
    )


def s61(mode: str = "S", kernel: str = "6.1") -> Session:
    return Session(l1(config(kernel, mode)))


# ----------------------------------------------------------------------------- input errors
@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("read", "missing argument"),
        ("read zz", "bad address"),
        ("read 0x1000 4096 9", "unexpected argument"),
        ("read -1", "negative"),
        ("read 0x10000000000000000", "2^64"),
        ("read 0xffffffffffffff00 0x1000", "ends past 2^64 - 1"),
        ("write 0xfffffffffffff001 0x1000", "EOVERFLOW"),
        ("mmap 0x0", "missing argument"),
        ("mmap 0x0 4096 bogus", "unknown option 'bogus'"),
        ("mmap 0x0 4096 private private", "given twice"),
        ("mmap 0x0 0xfffffffffffff000", "ENOMEM"),
        ("touch", "missing argument"),
        ("touch m9", "no live mapping 'm9'"),
        ("munmap m7", "no live mapping 'm7' (live mappings: m1)"),
        ("kcore", "missing argument"),
        ("claim 0x1000 x", "bad range"),
        ("claim 0xfebd0000+4K a wrong", "unknown option 'wrong'"),
        ("claim 0xfebd0000+4K", "missing argument"),
        ("release nothing-here", "no resource named 'nothing-here'"),
        ("release 0000:00:02.0", "is not busy"),
        ("compare", "missing command"),
        ("compare config", "is not one of read, write, mmap, kcore"),
        ("compare read zz", "bad address"),
        ("maps now", "unexpected argument"),
    ],
)
def test_input_errors_leave_the_session_unchanged(line: str, text: str) -> None:
    s = s61()
    ok(s, "mmap 0xfebd0000 4096", "OK")
    before = snapshot(s.machine)
    fails(s, line, text)
    assert snapshot(s.machine) == before


def test_touch_beyond_the_mapping() -> None:
    s = s61()
    ok(s, "mmap 0xfebd0000 4096", "OK")
    fails(s, "touch m1 0x1000", "beyond mapping m1")
    ok(s, "touch m1 0xfff", "OK")


# ----------------------------------------------------------------------------- mappings
def test_mmap_names_maps_and_munmap() -> None:
    s = s61()
    ok(s, "maps", "DONE", "no live /dev/mem mappings")
    # the 32-bit PCI hole is uncached in the MTRRs, so PAT gives the WB request UC-
    ok(s, "mmap 0xfebd0000 4096", "OK", "mapped m1: 0xfebd0000-0xfebd0fff (shared, UC-)")
    ok(s, "mmap 0xfdfff000 4096 private", "OK", "mapped m2")
    r = ok(s, "maps", "DONE", "m1")
    assert "m2" in r.message and "private" in r.message
    assert [d["id"] for d in r.data["mappings"]] == ["m1", "m2"]
    ok(s, "munmap m1", "DONE", "unmapped m1")
    ok(s, "mmap 0xfebd0000 4096", "OK", "mapped m3")  # ids never restart within a machine
    kinds = [e.kind for e in s.machine.drain_events()]
    assert kinds.count("mapping-added") == 3 and kinds.count("mapping-removed") == 1


def test_mmap_dry_run_changes_nothing() -> None:
    m = l1(config("6.1", "S"))
    before = snapshot(m)
    v = mmap.mmap_mem(m, 0xFEBD0000, 4096, dry_run=True)
    assert v.outcome == "OK" and v.mapping is None and "would map" in v.message
    assert snapshot(m) == before


def test_mmap_length_rules() -> None:
    s = s61()
    ok(s, "mmap 0xfebd0000 0", "EINVAL", "zero-length")
    ok(s, "mmap 0xfebd0800 4096", "EINVAL", "page aligned")
    r = ok(s, "mmap 0xfebd0000 100", "OK", "rounded up to whole pages: 0x1000")
    assert r.data["nbytes"] == 4096
    ok(s, "mmap 0xfffffffffffff000 0x2000", "EINVAL", "wraps")
    assert s.machine.mappings["m1"].length == 4096


def test_touch_describes_the_page() -> None:
    s = s61()
    ok(s, "mmap 0x0 0x100000", "OK")
    ok(s, "touch m1 0x1000", "OK", "real low-MiB RAM, although read() of it returns zeros")
    ok(s, "touch m1 0xfe000", "OK", "firmware memory ('System ROM')")
    ok(s, "mmap 0xfe000000 4096 private", "OK")
    ok(s, "touch m2", "OK", "private copy-on-write copy")


# ----------------------------------------------------------------------------- PAT
def test_pat_memtype_conflict_is_eagain() -> None:
    """reserve_pfn_range(): where the MTRRs say write-back (above 4 GiB by default), a WB
    mapping keeps WB and a later O_SYNC (UC-) mapping over it is refused by
    is_new_memtype_allowed() -> remap_pfn_range() fails -> EAGAIN."""
    s = s61()
    ok(s, "mmap 0x500000000 4096", "OK", "(shared, WB)")
    r = ok(s, "mmap 0x500000000 4096 sync", "EAGAIN", "memtype conflict")
    assert any("is_new_memtype_allowed(UC-, WB) false" in t for t in r.trace)


def test_a_mapping_records_the_memtype_it_was_granted() -> None:
    """memtype_check_conflict() hands a new request the type of the live entry it overlaps,
    and reserve_pfn_range() maps with that type when is_new_memtype_allowed() agrees (a WB
    request answered with UC-): the new entry holds UC-, not the WB asked for
    (arch/x86/mm/pat/memtype.c). So a third WB mapping over both sees one type, UC-, and
    is OK, not EAGAIN (two differing live types would be -EBUSY)."""
    s = s61()  # above 4 GiB the MTRRs say WB: only the live entries decide the type
    ok(s, "mmap 0x500000000 4096 sync", "OK", "(shared, UC-)")
    r = ok(s, "mmap 0x500000000 4096", "OK", "(shared, UC-)")
    assert any("is_new_memtype_allowed(WB, UC-) -> maps UC-" in t for t in r.trace), r.trace
    r = ok(s, "mmap 0x500000000 0x2000", "OK", "(shared, UC-)")
    assert any("overlaps m1's entry: UC-" in t for t in r.trace), r.trace
    assert s.machine.mappings["m2"].memtype == "UC-"
    r = ok(s, "maps", "DONE")
    assert [d["memtype"] for d in r.data["mappings"]] == ["UC-", "UC-", "UC-"]
    # a sync request over them agrees too; differing live types are what conflicts
    ok(s, "mmap 0x500001000 4096", "OK", "(shared, UC-)")
    ok(s, "mmap 0x500100000 4096", "OK", "(shared, WB)")
    r = ok(s, "mmap 0x500000000 0x101000", "EAGAIN", "memtype conflict")
    assert any("differing types" in t and "-EBUSY" in t for t in r.trace), r.trace


def test_pat_x_mtrr_type_makes_a_bar_uc_minus() -> None:
    """memtype_reserve() -> pat_x_mtrr_type() (arch/x86/mm/pat/memtype.c): a WB request on
    MMIO the firmware's MTRRs mark uncached (the 32-bit PCI hole) becomes UC-, so a later
    mmap ... sync (UC-) over it agrees with the entry and is OK, not EAGAIN."""
    s = s61()
    r = ok(s, "mmap 0xfebd0000 4096", "OK", "(shared, UC-)")
    assert any("pat_x_mtrr_type(0xfebd0000-0xfebd0fff, WB): MTRRs say UC" in t for t in r.trace)
    ok(s, "mmap 0xfebd0000 4096 sync", "OK", "(shared, UC-)")
    r = ok(s, "maps", "DONE", "shared UC-")
    assert [d["memtype"] for d in r.data["mappings"]] == ["UC-", "UC-"]
    ok(s, "set pat off", "DONE")  # no PAT: no memtype tracking, the request stays
    ok(s, "mmap 0xfebd1000 4096", "OK", "(shared, WB)")


def test_isa_range_is_untracked_and_ram_keeps_wb() -> None:
    """memtype_reserve(): the legacy ISA range is untracked (WB in the page tables, whatever
    O_SYNC asked); reserve_pfn_range(): RAM keeps lookup_memtype()'s WB."""
    s = s61("N")
    r = ok(s, "mmap 0xa0000 4096 sync", "OK", "(shared, WB)")
    assert any("legacy ISA range is untracked" in t for t in r.trace)
    ok(s, "set kernel 6.16", "DONE")  # 6.16: the PAT hook no longer re-checks RAM
    r = ok(s, "mmap 0x100000 4096 sync", "OK", "(shared, WB)")
    assert any("lookup_memtype() WB" in t for t in r.trace)
    ok(s, "munmap m1", "DONE")
    ok(s, "mmap 0xfebd0000 4096 sync", "OK", "UC-")
    # a WB request over a live UC- mapping is answered with UC- (allowed)
    ok(s, "mmap 0xfebd0000 4096", "OK", "(shared, UC-)")


def test_pat_no_conflict_for_isa_ram_or_without_pat() -> None:
    s = Session(l1(config("6.16", "N")))
    ok(s, "mmap 0xa0000 4096", "OK")
    ok(s, "mmap 0xa0000 4096 sync", "OK")  # legacy ISA range: untracked
    ok(s, "mmap 0x100000 4096", "OK")
    ok(s, "mmap 0x100000 4096 sync", "OK")  # System RAM keeps its own memtype
    s = Session(l1(config("6.1", "S", pat="off")))
    ok(s, "mmap 0xfebd0000 4096", "OK")
    ok(s, "mmap 0xfebd0000 4096 sync", "OK")
    s = Session(l4(config("6.1", "S", arch="arm64")))
    ok(s, "mmap 0x09000000 4096", "OK")
    ok(s, "mmap 0x09000000 4096 sync", "OK")


# ----------------------------------------------------------------------------- corner cases
def test_count_zero() -> None:
    s = s61()
    ok(s, "read 0x0 0", "EFAULT", "")  # addr + count - 1 wraps at offset 0
    r = ok(s, "read 0x1000 0", "OK", "returns 0")
    assert r.data["nbytes"] == 0
    ok(s, "write 0x1000 0", "OK", "returns 0")
    ok(s, "read 0x300000000 0", "EFAULT")  # past high_memory even with nothing to read
    s = Session(l4(config("6.1", "S", arch="arm64")))
    ok(s, "read 0x40000000 0", "OK", "returns 0")


def test_max_rw_count_cap() -> None:
    s = Session(l1(config("5.15", "N")))
    r = ok(s, "read 0x100000000 0x80000000", "OK", "MAX_RW_COUNT")
    assert r.data["nbytes"] == 0x7FFFF000


def test_huge_read_is_decided_in_runs() -> None:
    """2 GiB of RAM in a handful of decisions: the trace stays short."""
    s = Session(l1(config("5.15", "N")))
    r = ok(s, "read 0x100000000 0x7ffff000", "OK", "System RAM contents")
    assert len(r.trace) < 20


def test_read_at_the_last_byte_of_the_address_space() -> None:
    s = s61()
    ok(s, "read 0xfffffffffffff000 0x1000", "EFAULT")


def test_devmem_off_is_enxio_for_every_call() -> None:
    s = s61()
    ok(s, "mmap 0xfebd0000 4096", "OK")
    ok(s, "set devmem off", "DONE")
    for line in ("read 0x0", "write 0x0", "mmap 0x0 4096", "read 0x0 0"):
        ok(s, line, "ENXIO", "CONFIG_DEVMEM=n")
    ok(s, "kcore 0x1000", "OK")  # /proc/kcore does not care
    ok(s, "touch m1", "OK")  # an existing mapping keeps working


def test_old_read_fails_before_copying() -> None:
    """Up to 4.10 range_is_allowed() covered the remaining count: nothing was copied."""
    s = s61(kernel="4.10")
    ok(s, "read 0xff000 8192", "EPERM", "nothing was read")
    # the first call covers ceil(count / 4K) pages: an unaligned tail page is caught one
    # chunk later, after the first page was copied
    r = ok(s, "read 0xff800 0x1000", "EPERM", "0xff000-0xfffff was already copied")
    # the second chunk asks range_is_allowed(p >> PAGE_SHIFT, count - 0x800), after the copy
    texts = list(r.trace)
    assert r.data["decider"] == "range_is_allowed(0x100, 0x800): pfn 0x100 -> 0"
    assert texts.index(r.data["decider"]) > next(
        i for i, t in enumerate(texts) if t.startswith("read_mem: pfn 0xff copied")
    )
    ok(s, "write 0xff000 8192", "EPERM", "nothing was written")


def test_old_read_is_decided_by_range_is_allowed() -> None:
    """Up to 4.10 (a4866aa81251 "mm: Tighten x86 /dev/mem with zeroing reads" added
    page_is_allowed() in 4.11) read_mem()/write_mem() asked range_is_allowed() only: it decides
    an allowed access too, and no page_is_allowed() runs, with or without STRICT_DEVMEM."""
    s = s61(kernel="4.10")
    for line in ("read 0x1000 8", "write 0xfe000 4", "read 0xfe800 0x1000"):
        r = ok(s, line, "OK")
        assert r.data["decider"].startswith("range_is_allowed("), (line, r.data["decider"])
        assert not any("page_is_allowed" in t for t in r.trace), r.trace
    r = ok(s, "sweep read 0x0-0xfffff", "DONE")
    assert "range_is_allowed: every page != 0 -> 1" in r.message
    ok(s, "set strict_devmem off", "DONE")
    r = ok(s, "read 0x100000 16", "OK", "System RAM contents")
    assert r.data["decider"] == "range_is_allowed(0x100, 0x10): CONFIG_STRICT_DEVMEM=n -> 1"
    assert not any("page_is_allowed" in t for t in r.trace), r.trace
    ok(s, "set kernel 4.11", "DONE")
    r = ok(s, "read 0x100000 16", "OK")
    assert r.data["decider"].startswith("page_is_allowed(0x100)")


def test_messages_say_what_happened_before_an_error() -> None:
    s = s61()
    ok(s, "read 0xfe000 0x3000", "EPERM", "0xfe000-0xfffff was already copied")
    s = s61("SI")
    r = ok(s, "write 0xfdffe000 0x3000", "EPERM", "0xfdffe000-0xfdffffff was already written")
    assert r.data["decider"].startswith("devmem_is_allowed(0xfe000)")


def test_write_mixing_dropped_and_written_pages() -> None:
    s = s61()
    r = ok(s, "write 0x0 0x2000", "OK", "dropped: 0x1000-0x1fff")
    assert r.data["nbytes"] == 0x2000
    assert r.data["data_pages"] == [[0x0, 0xFFF]]


def test_short_write_counts_dropped_bytes() -> None:
    """write_mem() counts skipped (value 2) bytes, so a later mapping failure is SHORT."""
    s = Session(l1(config("4.14", "S")))
    r = ok(s, "write 0x9e000 0x2000", "SHORT", "returns 4096 of 8192 bytes")
    assert r.data["zero_pages"] == [[0x9E000, 0x9EFFF]]


# ----------------------------------------------------------------------------- proposals
def test_v1_2021() -> None:
    s = Session(l1(config("5.15", "N")))
    ok(s, "read 0x290000000", "OK", "System RAM contents")
    ok(s, "set proposal rfc-2021", "DONE", "proposal = v1-2021")  # the old name is an alias
    r = ok(s, "read 0x290000000", "EPERM", "[counterfactual: v1-2021")
    assert any("iomem_range_contains_excluded_devmem" in t for t in r.trace)
    ok(s, "read 0x288000000", "EPERM", "counterfactual")  # the whole device region
    ok(s, "read 0x100000", "OK")  # boot RAM and busy MMIO stay open with STRICT_DEVMEM=n
    ok(s, "read 0xfe000000", "OK")
    ok(s, "set strict_devmem on", "DONE")
    ok(s, "set iomem relaxed", "DONE")
    ok(s, "read 0x290000000", "EPERM")
    ok(s, "set iomem default", "DONE")
    r = ok(s, "read 0x1000", "OK", "System RAM contents")  # value 2 is lost
    assert any("value 2 is lost" in t for t in r.trace)
    ok(s, "mmap 0x288000000 4096", "EPERM")


def test_busy_is_exclusive() -> None:
    s = Session(l1(config("6.1", "N")))
    ok(s, "set proposal busy-is-exclusive", "DONE")
    r = ok(s, "read 0x290000000", "EPERM", "counterfactual: busy-is-exclusive")
    assert any("[busy-is-exclusive]: busy 'System RAM (virtio_mem)'" in t for t in r.trace)
    ok(s, "read 0x100000", "EPERM")
    ok(s, "read 0xfe000000", "EPERM")
    ok(s, "read 0x288000000", "OK", "unplugged virtio-mem memory")  # only added blocks fenced
    ok(s, "read 0x1000", "OK", "System RAM contents")  # low MiB bypass, STRICT_DEVMEM=n
    ok(s, "read 0xfebd0000", "OK")
    ok(s, "claim 0xfebd0000+4K newdrv", "DONE")
    ok(s, "read 0xfebd0000", "EPERM")
    ok(s, "release newdrv", "DONE")
    ok(s, "read 0xfebd0000", "OK")


def test_busy_is_exclusive_arm64_leaves_the_parent_open() -> None:
    """The counter-proposal replaces the EXCLUSIVE parent: with iomem=relaxed, the part of
    the virtio-mem region that was never added is mappable again (the hole 5.16 closed)."""
    s = Session(l4(config("6.1", "SR", arch="arm64")))
    ok(s, "mmap 0x8008000000 4096", "EPERM")
    ok(s, "set proposal busy-is-exclusive", "DONE")
    ok(s, "mmap 0x8008000000 4096", "OK", "counterfactual")
    ok(s, "mmap 0x8000000000 4096", "EPERM")  # the added, busy block


def test_virtio_parent_exclusive_follows_set_kernel() -> None:
    """virtioN's EXCLUSIVE bit is decided by the configured kernel, not the stored flags."""
    s = Session(l4(config("6.1", "SR", arch="arm64"), virtio_exclusive=False))
    ok(s, "mmap 0x8008000000 4096", "EPERM", "")  # 6.1: EXCLUSIVE although not stored
    ok(s, "set kernel 5.15", "DONE")
    ok(s, "mmap 0x8008000000 4096", "OK")  # the hole 5.16 closed (test_policy_vectors #52)
    s = Session(l4(config("5.15", "SR", arch="arm64"), virtio_exclusive=True))
    ok(s, "mmap 0x8008000000 4096", "OK")  # stale EXCLUSIVE from a 6.x driver is ignored


# ----------------------------------------------------------------------------- compare
def test_compare_table_and_session_untouched() -> None:
    s = s61()
    ok(s, "mmap 0xfebd0000 4096", "OK")
    s.machine.drain_events()
    before = snapshot(s.machine)
    r = ok(s, "compare read 0x1000", "DONE", "4.10")
    rows = {row["label"]: row for row in r.data["rows"]}
    assert [row["kernel"] for row in r.data["rows"][: len(ERAS)]] == list(ERAS)
    assert [row["version"] for row in r.data["rows"][: len(ERAS)]] == [f"{e}.0" for e in ERAS]
    assert rows["4.10"]["outcome"] == "OK"
    assert rows["4.14"]["outcome"] == "ZEROS" and rows["6.16"]["outcome"] == "ZEROS"
    assert rows["6.1.0 v1-2021 (counterfactual)"]["outcome"] == "OK"
    assert rows["6.1.0 busy-is-exclusive (counterfactual)"]["outcome"] == "ZEROS"
    assert "devmem_is_allowed(0x1)" in str(rows["6.1"]["decider"])
    assert rows["6.1"]["nbytes"] == 4096
    assert snapshot(s.machine) == before
    ok(s, "compare mmap 0xfdfff000 4096", "DONE")
    assert snapshot(s.machine) == before  # no mapping appeared


def test_compare_eras() -> None:
    s = s61()
    r = ok(s, "compare read 0x9f000", "DONE")
    got = {row["label"]: row["outcome"] for row in r.data["rows"]}
    # Before 4.14 xlate_dev_mem_ptr() used ioremap_cache() for a partly-RAM page (no memremap
    # "mixed range" refusal), so 4.10 reads it; see tests/test_xlate_pre_4_14.py.
    assert (got["4.10"], got["4.14"], got["5.7"], got["6.16"]) == ("OK", "EFAULT", "ZEROS", "ZEROS")
    ok(s, "set strict_devmem off", "DONE")
    r = ok(s, "compare mmap 0x100000 4096", "DONE")
    got = {row["label"]: row["outcome"] for row in r.data["rows"]}
    assert got["6.11"] == "EINVAL" and got["6.16"] == "OK"


def test_compare_notes_kernels_without_virtio_mem() -> None:
    """Before 5.1 (a9b17a5ef499) page_is_ram() saw top-level resources only, so the
    System RAM (virtio_mem) nested in virtio0 is not RAM to 4.10 and 4.14 (a map no such
    kernel could have: the note says so); from 4.18 region_intersects() sees virtio0's
    SYSTEM_RAM type at the top level."""
    m = l1(config("6.1", "S"))
    r = ok(Session(m), "compare read 0x290000000", "DONE", "no 4.10, 4.14, 5.7 kernel could")
    got = {row["label"]: row["outcome"] for row in r.data["rows"]}
    assert got["4.10"] == got["4.14"] == "OK"
    assert {o for k, o in got.items() if k not in ("4.10", "4.14")} == {"EPERM"}


def test_compare_explicit_versions_stable_backport() -> None:
    """compare ... kernel=V1,V2: b4afe4183ec7 (descendant-aware region_intersects()) reached
    6.1.y at 6.1.113, so 6.1.100 still writes through to ioremap (EFAULT) and 6.1.150 is
    refused by devmem_is_allowed() (EPERM), on server-cxl's nested kmem RAM."""
    s = Session(Machine.from_preset("server-cxl"))
    r = ok(s, "compare write 0x490000000 kernel=6.1.100,6.1.112,6.1.113,6.1.150", "DONE")
    got = {row["label"]: row["outcome"] for row in r.data["rows"]}
    assert got == {"6.1.100": "EFAULT", "6.1.112": "EFAULT", "6.1.113": "EPERM", "6.1.150": "EPERM"}
    assert "kernel varied" in r.message
    fails(s, "compare write 0x490000000 kernel=", "kernel= needs versions")
    fails(s, "compare write 0x490000000 kernel=6.1.x", "kernel version")


def test_compare_write_and_kcore() -> None:
    s = s61()
    r = ok(s, "compare write 0x1000", "DONE", "DROPPED")
    assert {row["outcome"] for row in r.data["rows"]} == {"OK", "DROPPED"}
    r = ok(s, "compare kcore 0x294000000", "DONE")
    got = {row["label"]: row["outcome"] for row in r.data["rows"]}
    assert got["5.7"] == "OK" and got["6.1"] == "ZEROS"


# ----------------------------------------------------------------------------- claims
def test_claim_and_release() -> None:
    s = s61()
    r = ok(s, "claim 0xfebd0000+4K mydrv exclusive", "DONE", "busy, exclusive")
    assert any("IORESOURCE_MEM|BUSY|EXCLUSIVE under '0000:00:02.0'" in t for t in r.trace)
    ok(s, "read 0xfebd0000", "EPERM")  # exclusive + strict checks (STRICT_DEVMEM default)
    ok(s, "release mydrv", "DONE", "released febd0000-febd0fff : mydrv")
    ok(s, "read 0xfebd0000", "OK")


def test_release_ambiguous_and_virtio_owned() -> None:
    s = s61()
    ok(s, "claim 0xfebd0000+2K twin", "DONE")
    ok(s, "claim 0xfdfff000+2K twin", "DONE")
    fails(s, "release twin", "2 busy resources are named 'twin'")
    fails(s, '"release" "System RAM (virtio_mem)"', "ambiguous")
    m = l4(config("6.1", "S", arch="arm64"))
    fails(Session(m), 'release "System RAM (virtio_mem)"', "belongs to virtio-mem device vmem0")
