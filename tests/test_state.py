"""save/open: the session as versioned JSON, exact round trips, and refusing bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devmem_tui import files
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree
from devmem_tui.engine.machine import Machine


def run(session: Session, line: str) -> Result:
    result = session.execute(line)
    assert result is not None
    return result


def small_machine() -> Machine:
    tree = ResourceTree()
    tree.add_child(tree.root, Resource(0x0, 0xFFF, "Reserved", F.MEM | F.BUSY, "reserved"))
    ram = tree.add_child(
        tree.root, Resource(0x1000, 0x9FFFF, "System RAM", F.MEM | F.SYSRAM | F.BUSY)
    )
    tree.add_child(ram, Resource(0x2000, 0x2FFF, "Kernel code", F.MEM | F.BUSY))
    pci = tree.add_child(tree.root, Resource(0xC0000000, 0xFEBFFFFF, "PCI Bus 0000:00", F.MEM))
    tree.add_child(
        pci, Resource(0xFE000000, 0xFE003FFF, "0000:00:02.0", F.MEM | F.BUSY | F.EXCLUSIVE)
    )
    tree.add_child(
        tree.root,
        Resource(
            0x100000000, 0x17FFFFFFF, "System RAM", F.MEM | F.SYSRAM | F.BUSY | F.SYSRAM_MERGEABLE
        ),
    )
    cfg = KernelConfig()
    cfg.set("kernel", "5.15")
    cfg.set("iomem", "relaxed")
    m = Machine(tree, cfg, "tiny")
    m.mappings["m1"] = Mapping("m1", 0x1000, 0x2000)
    m.mappings["m3"] = Mapping(
        "m3", 0xFE000000, 0x4000, private=True, zapped=[(0xFE001000, 0xFE001FFF)]
    )
    m.next_mapping = 4
    m.clock = 125.5
    m.pinned = [(0x100000000, 0x1001FFFFF)]
    m.hwpoison = {0x100005, 0x100001}
    m.raise_high_memory(0x200000000)
    return m


def test_round_trip_is_exact() -> None:
    m = small_machine()
    d = state.to_dict(m)
    again = state.to_dict(state.from_dict(d))
    assert again == d
    # and through text, as save/open do it
    assert state.to_dict(state.loads(state.dumps(m))) == d


def test_document_shape() -> None:
    d = state.to_dict(small_machine())
    assert d["format"] == "devmem-tui-session"
    assert d["version"] == 1
    assert d["high_memory"] == "0x200000000"
    assert d["next_mapping"] == 4
    assert d["mappings"][1]["zapped"] == [["0xfe001000", "0xfe001fff"]]
    assert d["hwpoison"] == ["0x100001", "0x100005"]
    assert d["resources"][0]["desc"] == "reserved"
    assert d["resources"][2]["children"][0]["flags"] == ["mem", "busy", "exclusive"]


def test_restored_machine_is_equivalent() -> None:
    m = state.from_dict(state.to_dict(small_machine()))
    m.tree.check()
    assert m.name == "tiny"
    assert m.config.kernel == "5.15.0" and m.config.iomem == "relaxed"
    assert [r.name for r in m.tree.chain_at(0x2000)] == ["System RAM", "Kernel code"]
    assert m.tree.chain_at(0xFE000000)[-1].flags & F.EXCLUSIVE
    assert m.mappings["m3"].private and m.mappings["m3"].zapped == [(0xFE001000, 0xFE001FFF)]
    assert m.next_mapping == 4 and m.clock == 125.5
    assert m.high_memory == 0x200000000  # not re-derived from the map: it never falls
    assert m.hwpoison == {0x100001, 0x100005}
    assert m.events == []
    # the restored tree notifies its machine like a fresh one
    m.tree.request_region(0xC0001000, 0x1000, "claim", F.MEM)
    assert [e.kind for e in m.drain_events()] == ["resource-added"]


def test_unknown_flag_bits_survive() -> None:
    tree = ResourceTree()
    tree.add_child(tree.root, Resource(0x1000, 0x1FFF, "odd", F.MEM | F(0x1)))
    m = Machine(tree)
    d = state.to_dict(m)
    assert d["resources"][0]["flags"] == ["mem", "0x1"]
    assert state.to_dict(state.from_dict(d)) == d


def test_save_is_atomic_and_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("old")
    os.chmod(path, 0o640)
    files.save_session(small_machine(), str(path))
    assert json.loads(path.read_text())["name"] == "tiny"
    assert (path.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]  # no temp file left


def test_save_into_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(DevmemError, match="cannot write"):
        files.save_session(small_machine(), str(tmp_path / "no" / "s.json"))


def good_text() -> str:
    return state.dumps(small_machine())


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty"),
        ("hello", "not a devmem-tui session file"),
        (good_text()[: len(good_text()) // 2], "truncated"),
        ('{"some": "other json"}', "not a devmem-tui session file"),
        ("[1, 2]", "not a devmem-tui session file"),
        (good_text().replace('"version": 1', '"version": 7'), "newer"),
        (good_text().replace('"version": 1', '"version": "1"'), "no format version"),
        (good_text().replace('"0x9ffff"', '"0x100000000"', 1), "inconsistent"),
        (good_text().replace('"kernel": "5.15.0"', '"kernel": "banana"'), "corrupt"),
        (good_text().replace('"busy", "sysram"', '"busy", "sparkly"', 1), "unknown flag"),
        (good_text().replace('"next_mapping": 4', '"next_mapping": -1'), "next_mapping"),
        (good_text().replace('"start": "0x1000"', '"start": "zz"', 1), "not a number"),
        (good_text().replace('"config": {', '"config": {"colour": 1, ', 1), "colour"),
        (good_text().replace('"id": "m3"', '"id": "m1"'), "duplicate"),
        (good_text().replace('"resources": [', '"resources": 5, "x": [', 1), "resources"),
        ("[" * 100000 + "]" * 100000, "not a devmem-tui session file"),
    ],
    ids=lambda v: v if len(v) < 20 else None,
)
def test_bad_files_are_refused_in_one_line(text: str, problem: str) -> None:
    with pytest.raises(DevmemError) as info:
        state.loads(text)
    msg = str(info.value)
    assert problem in msg
    assert "\n" not in msg


def test_load_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DevmemError, match="no such file"):
        files.load_session(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DevmemError, match="not UTF-8"):
        files.load_session(str(bad))
    with pytest.raises(DevmemError, match="is a directory"):
        files.load_session(str(tmp_path))


def test_open_command_refuses_and_leaves_session_untouched(tmp_path: Path) -> None:
    session = Session(small_machine())
    before = state.to_dict(session.machine)
    machine_before = session.machine
    bad = tmp_path / "bad.json"
    bad.write_text(good_text()[:200])
    result = run(session, f"open {bad}")
    assert not result.ok
    assert result.message.startswith("error: ") and "\n" not in result.message
    assert session.machine is machine_before
    assert state.to_dict(session.machine) == before


def test_save_then_open_through_commands(tmp_path: Path) -> None:
    session = Session(small_machine())
    path = tmp_path / "snap.json"
    r = run(session, f"save {path}")
    assert r.ok and r.outcome == "DONE"
    saved = state.to_dict(session.machine)
    other = Session(Machine(ResourceTree()))
    r2 = run(other, f"open {path}")
    assert r2.ok, r2.message
    assert state.to_dict(other.machine) == saved
    assert [e.kind for e in other.machine.drain_events()] == ["machine"]


def test_export_json_and_iomem(tmp_path: Path) -> None:
    from devmem_tui.engine.iomem import text as iomem_text

    session = Session(small_machine())
    r = run(session, f"export json {tmp_path / 'e.json'}")
    assert r.ok
    assert json.loads((tmp_path / "e.json").read_text()) == state.to_dict(session.machine)
    r = run(session, f"export iomem {tmp_path / 'e.iomem'}")
    assert r.ok, r.message
    text = (tmp_path / "e.iomem").read_text()
    assert "00001000-0009ffff : System RAM [busy sysram]" in text
    # the annotated map loads back to the same tree
    back = iomem_text.parse(text)
    assert [(r.start, r.end, r.name, r.flags, r.desc) for r in back.resources()] == [
        (r.start, r.end, r.name, r.flags, r.desc) for r in session.machine.tree.resources()
    ]


def test_export_svg_needs_the_tui(tmp_path: Path) -> None:
    session = Session(small_machine())
    r = run(session, f"export svg {tmp_path / 'x.svg'}")
    assert not r.ok
    assert "export svg needs the TUI" in r.message
    assert not (tmp_path / "x.svg").exists()
    r = run(session, f"export png {tmp_path / 'x.png'}")
    assert not r.ok and "unknown format" in r.message


def test_round_trip_of_the_default_preset_after_activity() -> None:
    session = Session.new()
    for line in (
        "vmem resize vmem0 1G",
        "mmap 0xfebd0000 4096",
        "set io_strict_devmem on",
        "claim 0xfebd0000+4K newdrv",
        "pin 0x140000000 2M",
        "wait 50s",
    ):
        assert run(session, line).ok, line
    d = state.to_dict(session.machine)
    assert d["vmem"] and d["vmem"][0]["name"] == "vmem0"
    assert d["mappings"][0]["zapped"]  # the claim revoked m1
    restored = state.from_dict(json.loads(state.dumps(session.machine)))
    assert state.to_dict(restored) == d
    # the restored machine answers like the original
    for line in ("read 0x140000000", "touch m1", "state vmem0 0x140000000 1G", "blocks"):
        a, b = run(session, line), run(Session(restored), line)
        assert (a.outcome, a.message) == (b.outcome, b.message), line


def test_mapping_fields_are_saved_generically() -> None:
    m = small_machine()
    m.mappings["m1"].sync = True
    d = state.to_dict(m)
    assert d["mappings"][0]["sync"] is True
    assert state.from_dict(d).mappings["m1"].sync is True
    d["mappings"][0]["sync"] = "yes"
    with pytest.raises(DevmemError, match="wrong type"):
        state.from_dict(d)
    d["mappings"][0]["sync"] = True
    d["mappings"][0]["memtype"] = "UC-"  # the granted type is kept (memtype_reserve)
    assert state.from_dict(d).mappings["m1"].cache_type == "UC-"
    d["mappings"][0]["memtype"] = "WC"
    with pytest.raises(DevmemError, match="memtype 'WC' is not one of WB, UC-"):
        state.from_dict(d)
    d["mappings"][0].pop("memtype")
    d["mappings"][0]["colour"] = 1
    with pytest.raises(DevmemError, match="unknown field 'colour'"):
        state.from_dict(d)


COMMANDS = st.sampled_from(
    [
        "vmem resize vmem0 {size}",
        "mmap {addr} 4096",
        "mmap {addr} 8192 private",
        "claim {addr}+4K drv{n}",
        "release drv{n}",
        "set io_strict_devmem {onoff}",
        "pin 0x{pin:x} 2M",
        "wait {n}s",
        "offline memory{mb}",
        "online memory{mb} kernel",
        "munmap m{n}",
    ]
)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(COMMANDS, st.integers(0, 7)), max_size=8))
def test_round_trip_after_random_commands(steps: list[tuple[str, int]]) -> None:
    session = Session.new()
    for template, n in steps:
        line = template.format(
            size=f"{n * 128}M",
            addr=f"0x{0xFEBD0000 + n * 0x1000:x}",
            n=n,
            onoff="on" if n % 2 else "off",
            pin=0x140000000 + n * 0x200000,
            mb=40 + n,
        )
        session.execute(line)  # failures are fine: the state must round-trip either way
    d = state.to_dict(session.machine)
    assert state.to_dict(state.from_dict(json.loads(state.dumps(session.machine)))) == d
