"""machine, load iomem, iomem, whatis through Session.execute, as every front end runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import REGISTRY, Session, load_all
from devmem_tui.engine import presets
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.machine import Machine

REAL_Q35 = Path(__file__).parent / "fixtures" / "q35-guest-iomem.txt"


def run(session: Session, line: str) -> Result:
    result = session.execute(line)
    assert result is not None
    return result


def ok(session: Session, line: str) -> Result:
    result = run(session, line)
    assert result.ok and result.outcome == "DONE", result.message
    return result


def fails(session: Session, line: str, text: str) -> Result:
    result = run(session, line)
    assert not result.ok and result.outcome is None, result.message
    assert text in result.message and "\n" not in result.message, result.message
    return result


@pytest.fixture
def session() -> Session:
    return Session(Machine.from_preset("qemu-x86"))


# ----------------------------------------------------------------------------- registry


def test_commands_are_registered_with_usage_and_help() -> None:
    load_all()
    for name, mutates in (("machine", True), ("load", True), ("iomem", False), ("whatis", False)):
        spec = REGISTRY[name]
        assert spec.group == "map" and spec.mutates is mutates
        assert spec.summary and spec.help
    assert REGISTRY["machine"].usages == ["machine", "machine PRESET"]
    assert REGISTRY["load"].usages == ["load iomem|snapshot FILE"]
    assert REGISTRY["iomem"].usages == ["iomem [RANGE] [--flags]"]
    assert REGISTRY["whatis"].usages == ["whatis ADDR"]


# ----------------------------------------------------------------------------- machine


def test_machine_lists_presets_and_marks_the_current_one(session: Session) -> None:
    r = ok(session, "machine")
    lines = r.message.splitlines()
    for name, desc in presets.PRESETS.items():
        assert any(name in line and desc in line for line in lines)
    assert any(line.startswith("* qemu-x86 ") for line in lines)
    assert r.data["current"] == "qemu-x86" and r.data["presets"] == presets.PRESETS


def test_machine_preset_is_fresh_but_keeps_the_config(session: Session) -> None:
    ok(session, "set kernel 5.15")
    ok(session, "set io_strict_devmem on")
    assert run(session, "mmap 0xfebd0000 4096").outcome == "OK"
    ok(session, "wait 5s")
    old = session.machine
    r = ok(session, "machine arm64-virt")
    m = session.machine
    assert m is not old and m.name == "arm64-virt"
    assert m.mappings == {} and m.clock == 0.0
    assert (m.config.kernel, m.config.io_strict_devmem, m.config.arch) == ("5.15.0", True, "arm64")
    assert "arm64-virt" in r.message and r.data["arch"] == "arm64"
    assert r.data["devices"] == ["vmem0"]
    ok(session, "machine qemu-x86")
    assert session.config.arch == "x86_64"
    mapped = run(session, "mmap 0xfebd0000 4096")
    assert mapped.outcome == "OK" and "m1" in mapped.message  # ids restart at m1


def test_machine_unknown_preset_changes_nothing(session: Session) -> None:
    old = session.machine
    r = fails(session, "machine qemu-ppc", "unknown machine preset 'qemu-ppc'")
    assert all(n in r.message for n in presets.PRESETS)
    assert session.machine is old
    fails(session, "machine a b", "unexpected argument 'b'")


# ----------------------------------------------------------------------------- load iomem


def test_load_iomem_replaces_the_map(session: Session, tmp_path: Path) -> None:
    ok(session, "set kernel 6.1")
    ok(session, "set arch arm64")
    path = tmp_path / "guest.txt"
    path.write_text(REAL_Q35.read_text())
    r = ok(session, f"load iomem {path}")
    assert "39 resources" in r.message and "arch set to x86_64" in r.message
    assert session.machine.name == "guest.txt" and session.machine.vmem == {}
    assert session.config.kernel == "6.1.0" and session.config.arch == "x86_64"
    assert ok(session, "iomem").message + "\n" == REAL_Q35.read_text()


def test_load_iomem_relative_to_the_scenario_file(session: Session, tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "tiny.iomem").write_text("00001000-0009fbff : System RAM\n")
    session.source = str(tmp_path / "lesson.scn")
    r = ok(session, "load iomem maps/tiny.iomem")
    assert "1 resources" in r.message and "arch x86_64 kept" in r.message


def test_iomem_flags_output_loads_back_identically(tmp_path: Path) -> None:
    session = Session(Machine.from_preset("qemu-x86-virtio-mem"))
    ok(session, "claim 0xfebd0000+4K mydrv exclusive")
    annotated = ok(session, "iomem --flags").message
    path = tmp_path / "annotated.txt"
    path.write_text(annotated + "\n")
    ok(session, f"load iomem {path}")
    assert ok(session, "iomem --flags").message == annotated
    assert (
        session.machine.tree.find("virtio0")[0].flags
        == iomem_text.parse(annotated).find("virtio0")[0].flags
    )


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("load iomem", "missing argument"),
        ("load ioports /proc/ioports", "cannot load 'ioports'"),
        ("load iomem /nonexistent/iomem.txt", "/nonexistent/iomem.txt: cannot read"),
    ],
)
def test_load_usage_errors(session: Session, line: str, text: str) -> None:
    old = session.machine
    fails(session, line, text)
    assert session.machine is old


def test_load_of_a_non_root_copy_says_why(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "iomem-as-user.txt"
    path.write_text("".join(f"{'  ' * (i % 2)}00000000-00000000 : r{i}\n" for i in range(6)))
    old = session.machine
    r = fails(session, f"load iomem {path}", "read without root")
    assert "CAP_SYS_ADMIN" in r.message and f"{path}:1:" in r.message
    assert session.machine is old


# ----------------------------------------------------------------------------- iomem


def test_iomem_prints_the_tree(session: Session) -> None:
    r = ok(session, "iomem")
    assert r.message == iomem_text.render(session.machine.tree).rstrip("\n")
    assert r.message.startswith("00000000-00000fff : Reserved\n00001000-0009fbff : System RAM")
    assert len(r.data["resources"]) == len(session.machine.tree)


def test_iomem_range_and_flags(session: Session) -> None:
    r = ok(session, "iomem 0xfe000000+16K --flags")
    assert r.message == (
        "c0000000-febfffff : PCI Bus 0000:00 [mem]\n"
        "  fe000000-fe003fff : 0000:00:04.0 [mem]\n"
        "    fe000000-fe003fff : virtio-pci-modern [busy]"
    )
    assert r.data["range"] == [0xFE000000, 0xFE003FFF] and r.data["flags"] is True
    assert [(d["name"], d["depth"], d["flags"]) for d in r.data["resources"]] == [
        ("PCI Bus 0000:00", 0, ["mem"]),
        ("0000:00:04.0", 1, ["mem"]),
        ("virtio-pci-modern", 2, ["mem", "busy"]),
    ]
    assert (
        ok(session, "iomem --flags 0xfec00000-0xfec00fff").message
        == "fec00000-fec003ff : IOAPIC 0 [busy]"
    )


def test_iomem_hole_and_errors(session: Session) -> None:
    r = ok(session, "iomem 0x200000000+1M")
    assert "no resource overlaps 0x200000000-0x2000fffff" in r.message
    assert r.data["resources"] == []
    fails(session, "iomem --color", "unknown option '--color'")
    fails(session, "iomem 0x1000 0x2000", "unexpected argument")
    fails(session, "iomem 0x2000-0x1000", "end 0x1000 is below start")


# ----------------------------------------------------------------------------- whatis


def test_whatis_shows_the_chain_and_three_verdicts(session: Session) -> None:
    ok(session, "set kernel 6.1")
    r = ok(session, "whatis 0xfe000123")
    lines = r.message.splitlines()
    assert lines[:4] == [
        "0xfe000123:",
        "  c0000000-febfffff : PCI Bus 0000:00 [mem]",
        "    fe000000-fe003fff : 0000:00:04.0 [mem]",
        "      fe000000-fe003fff : virtio-pci-modern [busy]",
    ]
    assert lines[4].startswith("page 0xfe000000-0xfe000fff under 6.1.0 x86_64")
    assert r.data["page"] == 0xFE000000 and r.data["addr"] == 0xFE000123
    assert [c["name"] for c in r.data["chain"]] == [
        "PCI Bus 0000:00",
        "0000:00:04.0",
        "virtio-pci-modern",
    ]
    # test_policy_vectors #13/#34, test_kcore K3: busy claim, IO_STRICT off -> read/mmap OK;
    # kcore zeros
    assert (r.data["read"], r.data["mmap"], r.data["kcore"]) == ("OK", "OK", "ZEROS")
    assert any(t.startswith("read: ") for t in r.trace)
    assert any(t.startswith("mmap: ") for t in r.trace)
    assert any(t.startswith("kcore: ") for t in r.trace)
    ok(session, "set io_strict_devmem on")
    r = ok(session, "whatis 0xfe000000")  # test_policy_vectors #14/#35: busy + IO_STRICT -> EPERM
    assert (r.data["read"], r.data["mmap"]) == ("EPERM", "EPERM")


def test_whatis_low_ram_and_hole(session: Session) -> None:
    ok(session, "set kernel 6.1")
    r = ok(session, "whatis 0x1000")
    # test_policy_vectors #3 and #32: read zero-fills low-MiB RAM, mmap maps it for real; kcore K1
    assert (r.data["read"], r.data["mmap"], r.data["kcore"]) == ("ZEROS", "OK", "OK")
    assert "System RAM [busy sysram]" in r.message
    hole = ok(session, "whatis 0x200000000")
    assert "in no resource (a hole in /proc/iomem)" in hole.message
    assert hole.data["chain"] == []


def test_whatis_creates_no_mapping_and_changes_nothing(session: Session) -> None:
    m = session.machine
    before = (
        iomem_text.render(m.tree, flags=True),
        dict(m.mappings),
        m.next_mapping,
        m.clock,
        m.tree.generation,
    )
    for addr in ("0xfebd0000", "0x1000", "0x100000", "0xfec00000"):
        ok(session, f"whatis {addr}")
    after = (
        iomem_text.render(m.tree, flags=True),
        dict(m.mappings),
        m.next_mapping,
        m.clock,
        m.tree.generation,
    )
    assert after == before
    assert "m1" in run(session, "mmap 0xfebd0000 4096").message


def test_whatis_errors(session: Session) -> None:
    fails(session, "whatis", "missing argument")
    fails(session, "whatis zzz", "bad address 'zzz'")
    fails(session, "whatis 0x10000000000000000", "past 2^64 - 1")


def test_whatis_notes_the_virtio_parent_flags_this_kernel_sets() -> None:
    # virtio-mem's parent is SYSTEM_RAM|EXCLUSIVE from 5.16 (2128f4e21aa2), plain SYSTEM_RAM
    # before; the stored flags come from when the driver probed.
    from devmem_tui.commands.session import Session

    s = Session.new()
    r = s.execute("whatis 0x150000000")
    assert r is not None and "virtio0 [exclusive sysram]\n" in r.message + "\n"
    assert "as this kernel sets it" not in r.message
    s.execute("set kernel 5.15")
    r = s.execute("whatis 0x150000000")
    assert r is not None and "(as this kernel sets it: -exclusive)" in r.message
