"""`sweep`, `sweep --vs`, `sweep --vs-saved`, `export policy-map` and the typed `data` rows of
every table command in `run --json`, through the command layer and the CLI."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from devmem_tui.commands.policy_svg import range_label, top_names
from devmem_tui.commands.session import Session
from devmem_tui.commands.sweeps import box_lines, parse_job
from devmem_tui.engine import session_json
from devmem_tui.engine.devmem.sweep import sweep
from devmem_tui.engine.units import fmt_size_approx
from devmem_tui.frontends import cli
from devmem_tui.frontends.complete import complete

ROW_KEYS = ["start", "end", "outcome", "check", "reason", "resource"]


def run_json(capsys: pytest.CaptureFixture[str], *commands: str) -> list[dict[str, Any]]:
    argv = ["run", "--json"]
    for c in commands:
        argv += ["-c", c]
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return [json.loads(line) for line in out.splitlines()]


# ----------------------------------------------------------------------------- sweep
def test_sweep_table_lists_every_range_with_its_deciding_check() -> None:
    s = Session.new()
    r = s.execute("sweep read")
    assert r is not None and r.ok and r.outcome == "DONE"
    lines = r.message.splitlines()
    assert lines[0] == (
        "sweep read 0x0-0x3fffffffffff under 6.16.0 x86_64 S iomem=default: 13 ranges"
    )
    assert lines[1].split() == ["RANGE", "SIZE", "OUTCOME", "DECIDED", "BY"]
    assert lines[3].split()[:3] == ["0x0000000000001000-0x000000000009efff", "632K", "ZEROS"]
    assert (
        "devmem_is_allowed: System RAM (region_intersects() INTERSECTS) below 1 MiB -> 2"
        in (lines[3])
    )
    assert lines[-1] == "total: ~63.99T EFAULT, ~3.99G EPERM, ~1.00G OK, 636K ZEROS"
    assert r.rows is not None and len(r.rows) == 13 == len(lines) - 3


def test_sweep_json_rows_tile_the_range(capsys: pytest.CaptureFixture[str]) -> None:
    [row] = run_json(capsys, "sweep mmap")
    data = row["data"]
    assert all(list(d) == ROW_KEYS for d in data)
    assert data[0]["start"] == 0 and data[-1]["end"] == (1 << 46) - 1
    for a, b in zip(data, data[1:], strict=False):
        assert a["end"] + 1 == b["start"]
    e1000e = next(d for d in data if d["resource"] and "e1000e" in d["resource"])
    assert e1000e == {
        "start": 0xFEB80000,
        "end": 0xFEB9FFFF,
        "outcome": "EPERM",
        "check": "devmem_is_allowed",
        "reason": "not RAM (region_intersects() DISJOINT), exclusive -> 0",
        "resource": "'e1000e' 0xfeb80000-0xfeb9ffff",
    }


def test_sweep_range_and_unaligned_ends() -> None:
    s = Session.new()
    r = s.execute("sweep kcore 0x100800+0x2000")
    assert r is not None and r.rows is not None
    assert [(d["start"], d["end"], d["outcome"]) for d in r.rows] == [(0x100800, 0x1027FF, "OK")]


def test_diff_lists_changes_with_both_checks_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    s = Session.new()
    r = s.execute("sweep mmap --vs io_strict_devmem=on")
    assert r is not None and r.ok
    lines = r.message.splitlines()
    assert lines[0].startswith("sweep mmap 0x0-0x3fffffffffff: this session (6.16.0 x86_64 S ")
    assert "-> io_strict_devmem=on (6.16.0 x86_64 SI iomem=default): 4 ranges change" in lines[0]
    ioapic = lines.index(next(ln for ln in lines if ln.startswith("0x00000000fec00000")))
    assert lines[ioapic].split()[-3:] == ["OK", "->", "EPERM"]
    assert lines[ioapic + 1].startswith("  before: devmem_is_allowed: not RAM")
    assert "'IOAPIC 0' 0xfec00000-0xfec003ff" in lines[ioapic + 2]
    assert lines[-1] == "changed: 28K OK -> EPERM"
    assert s.config.io_strict_devmem is False  # the session is as it was
    [row] = run_json(capsys, "sweep read --vs iomem=relaxed")
    assert {d["old"]["outcome"] for d in row["data"]} == {"EPERM"}
    assert list(row["data"][0]) == ["start", "end", "old", "new"]
    assert list(row["data"][0]["new"]) == ROW_KEYS[2:]


def test_diff_against_the_v1_2021_proposal() -> None:
    """`--vs proposal=v1-2021`: the 2021 series' v1/v2 patch ("[PATCH v1 1/3] /dev/mem:
    disallow access to explicitly excluded system RAM regions", never merged) turns
    devmem_is_allowed()'s 2 into 1 in page_is_allowed(), so low-MiB RAM reads real data; the
    old name rfc-2021 is the same proposal."""
    s = Session.new()
    r = s.execute("sweep read --vs proposal=v1-2021")
    assert r is not None and r.ok, r and r.message
    lines = r.message.splitlines()
    assert lines[0].endswith(
        "-> proposal=v1-2021 (6.16.0 x86_64 S iomem=default proposal=v1-2021): 2 ranges change"
    )
    low = lines.index(next(ln for ln in lines if ln.startswith("0x0000000000001000")))
    assert lines[low].split()[-3:] == ["ZEROS", "->", "OK"]
    assert lines[low + 2].startswith(
        "  after:  page_is_allowed: [v1-2021] devmem_is_allowed() != 0"
    )
    assert r.rows is not None
    alias = s.execute("sweep read --vs proposal=rfc-2021")
    assert alias is not None and alias.ok and alias.rows == r.rows
    assert s.machine.config.proposal == "none"  # the session itself is not changed
    bad = s.execute("sweep read --vs proposal=v2")
    assert bad is not None and not bad.ok
    assert "valid values: none, v1-2021, busy-is-exclusive" in bad.message
    assert "proposal=v1-2021" in [c.text for c in complete("sweep read --vs proposal=", s)]


def test_diff_with_nothing_changed() -> None:
    r = Session.new().execute("sweep kcore --vs strict_devmem=off")
    assert r is not None and r.message.endswith("no range changes its outcome")
    assert r.rows == []


def test_diff_against_a_saved_session(tmp_path: Path) -> None:
    s = Session.new()
    s.execute("set io_strict_devmem on")
    saved = tmp_path / "strict.json"
    assert s.execute(f"save {saved}").ok  # type: ignore[union-attr]
    s.execute("set io_strict_devmem off")
    s.execute("mmap 0xfe000000 4K")
    before = session_json.to_dict(s.machine)
    r = s.execute(f"sweep read --vs-saved {saved}")
    assert r is not None and r.ok, r and r.message
    assert f"-> {saved} (6.16.0 x86_64 SI iomem=default): 4 ranges change" in r.message
    assert session_json.to_dict(s.machine) == before


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("sweep", "sweep: missing OP: one of read, write, mmap, kcore"),
        ("sweep touch", "sweep: 'touch' is not read, write, mmap, kcore"),
        ("sweep read 0x5-0x1", "sweep: bad range '0x5-0x1': end 0x1 is below start 0x5"),
        ("sweep read --vs", "--vs: missing KEY=VALUE (e.g. --vs io_strict_devmem=on)"),
        ("sweep read --vs kernel", "--vs: 'kernel' is not KEY=VALUE (e.g. kernel=5.15)"),
        ("sweep read --vs iomem=loose", "--vs iomem=loose: iomem cannot be 'loose'"),
        ("sweep read --vs frob=1", "--vs frob=1: unknown config key 'frob'"),
        ("sweep read --vs a=b --vs c=d", "sweep: --vs is given twice"),
        ("sweep read --vs kernel=5.15 Kernel=6.1", "--vs: kernel is given twice"),
        ("sweep read --vs-saved", "sweep: --vs-saved takes one FILE"),
        ("sweep read --vs-saved /nonexistent/x.json", "cannot open /nonexistent/x.json"),
        ("sweep read --vs kernel=5.15 --vs-saved x", "sweep: use --vs or --vs-saved, not both"),
        ("sweep read --all", "sweep: unknown option '--all'"),
        ("sweep read 0x0-0xfff extra", "sweep: unexpected argument 'extra'"),
    ],
)
def test_errors_are_one_line(line: str, error: str) -> None:
    s = Session.new()
    r = s.execute(line)
    assert r is not None and not r.ok
    assert r.message.startswith(f"error: {error}"), r.message
    assert "\n" not in r.message


def test_sweep_costs_do_not_depend_on_the_range_size() -> None:
    """The same map swept over 4 GiB and over 64 TiB: the extra space is one more row."""
    s = Session.new()
    small, big = (
        parse_job(s.machine, ["read", "0x0-0xffffffff"], "t"),
        parse_job(s.machine, ["read"], "t"),
    )
    assert len(big.rows) <= len(small.rows) + 2


def test_fmt_size_approx() -> None:
    assert [fmt_size_approx(n) for n in (100, 4096, 632 << 10, 3 << 30, 0x3EBA0000)] == [
        "100",
        "4K",
        "632K",
        "3G",
        "1003.625M",
    ]
    assert fmt_size_approx((64 << 40) - (5 << 30)) == "~63.99T"


# ----------------------------------------------------------------------------- completion
def test_completion_offers_options_keys_and_values() -> None:
    s = Session.new()

    def texts(line: str) -> list[str]:
        return [c.text for c in complete(line, s)]

    assert texts("sweep ") == ["read", "write", "mmap", "kcore"]
    assert texts("sweep mmap ") == ["--vs", "--vs-saved"]
    assert "io_strict_devmem=" in texts("sweep mmap --vs ")
    assert texts("sweep mmap --vs iomem=") == ["iomem=default", "iomem=strict", "iomem=relaxed"]
    assert "kernel=5.15.0" in texts("sweep read --vs iomem=relaxed kernel=")
    assert "policy-map" in texts("export ")


# ----------------------------------------------------------------------------- export
def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()  # parses: a well-formed standalone SVG
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return [el.text or "" for el in root.iter() if el.tag.endswith(("text", "title"))]


def test_export_policy_map_has_every_range_label(tmp_path: Path) -> None:
    s = Session.new()
    path = tmp_path / "map.svg"
    r = s.execute(f"export policy-map {path} mmap")
    assert r is not None and r.ok, r and r.message
    assert r.message == f"exported the mmap policy map (14 ranges, 0x0-0x3fffffffffff) to {path}"
    texts = svg_texts(path)
    joined = "\n".join(texts)
    assert texts[0] == (
        "/dev/mem mmap policy map: qemu-x86-virtio-mem, 6.16.0 x86_64 S iomem=default"
    )
    for row in sweep(s.machine, "mmap", 0, (1 << 46) - 1):
        assert range_label(row.start, row.end) in joined
        assert row.outcome.value in texts  # in the box and in the legend
    assert "'e1000e' 0xfeb80000-0xfeb9ffff" in joined


def test_export_policy_map_diff_shows_both_sides(tmp_path: Path) -> None:
    s = Session.new()
    path = tmp_path / "diff.svg"
    r = s.execute(f"export policy-map {path} --vs io_strict_devmem=on")
    assert r is not None and r.ok and "(4 changed ranges" in r.message
    texts = svg_texts(path)
    assert texts[0].endswith("vs io_strict_devmem=on")
    job = parse_job(s.machine, ["read", "--vs", "io_strict_devmem=on"], "t")
    for d in job.diff:
        names = top_names(s.machine.tree, d.start, d.end)
        label = f"{range_label(d.start, d.end)}  {fmt_size_approx(d.size)}  {d.change}  [{names}]"
        assert label in texts
        assert f"before: {d.old.decided_by}" in texts and f"after:  {d.new.decided_by}" in texts
    assert "before" in texts and "after" in texts
    # every piece, changed or not, names what is there
    assert any(t.startswith("0x100000-0xbffdffff") and t.endswith("[System RAM]") for t in texts)


def test_every_range_in_the_picture_names_the_top_level_resources_there(
    tmp_path: Path,
) -> None:
    s = Session.new()
    path = tmp_path / "map.svg"
    assert s.execute(f"export policy-map {path} read").ok  # type: ignore[union-attr]
    labels = [t for t in svg_texts(path) if t.startswith("0x")]
    assert labels and all(re.search(r"  \[[^]]+\]", t) for t in labels), labels
    assert top_names(s.machine.tree, 0xC0000000, 0xFEE00FFF) == (
        "PCI Bus 0000:00, IOAPIC 0, HPET 0, +1 more"
    )
    assert top_names(s.machine.tree, 1 << 45, (1 << 46) - 1) == "no resource"


def test_export_escapes_names_from_the_map(tmp_path: Path) -> None:
    iomem = tmp_path / "odd.iomem"
    iomem.write_text(
        "00000000-00000fff : Reserved\n"
        "00001000-0009fbff : System RAM\n"
        'fe000000-fe003fff : a<b&c "d" [busy exclusive]\n'
    )
    s = Session.new()
    assert s.execute(f"load iomem {iomem}").ok  # type: ignore[union-attr]
    path = tmp_path / "odd.svg"
    assert s.execute(f"export policy-map {path} mmap").ok  # type: ignore[union-attr]
    assert any("a<b&c" in t for t in svg_texts(path))


def test_export_policy_map_errors(tmp_path: Path) -> None:
    s = Session.new()
    for line, error in (
        ("export policy-map", "export policy-map: missing FILE"),
        (f"export policy-map {tmp_path}", "is a directory"),
        (f"export policy-map {tmp_path}/x.svg frob", "'frob' is not read, write, mmap, kcore or"),
        ("export policy-map /dev/mem", "/dev/mem"),
    ):
        r = s.execute(line)
        assert r is not None and not r.ok and error in r.message, (line, r.message)
    assert not (tmp_path / "x.svg").exists()


def test_box_lines_scale_per_range_not_per_byte() -> None:
    assert [box_lines(n) for n in (4096, 1 << 20, 1 << 30, 1 << 40, 1 << 50, 1 << 60)] == [
        1,
        2,
        3,
        4,
        5,
        5,
    ]
    assert box_lines((1 << 20) - 1) == 1


# ----------------------------------------------------------------------------- json rows
def test_every_table_command_carries_typed_rows(capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_json(
        capsys,
        "vmem resize vmem0 1G",
        "mmap 0xfe000000 4K",
        "blocks",
        "maps",
        "vmem",
        "iomem 0xfe000000-0xfeffffff",
        "compare read 0x1000",
        "config",
        "read 0x1000",
    )
    by = {r["command"].split()[0]: r for r in rows}
    blocks = by["blocks"]["data"]
    assert blocks[0] == {
        "device": "vmem0",
        "start": 0x140000000,
        "end": 0x17FFFFFFF,
        "size": 1 << 30,
        "state": "online",
        "first_block": 40,
        "last_block": 47,
        "zones": "Movable",
        "driver_state": "MOVABLE",
        "plugged": "64/64",
        "plugged_bytes": 128 << 20,
    }
    assert blocks[1]["plugged"] == "-" and blocks[1]["plugged_bytes"] is None
    assert by["maps"]["data"] == [
        {
            "id": "m1",
            "start": 0xFE000000,
            "end": 0xFE000FFF,
            "length": 4096,
            "private": False,
            "sync": False,
            "memtype": "UC-",  # pat_x_mtrr_type(): WB asked, the MTRR says UC (PCI hole)
            "zapped": [],
        }
    ]
    vmem = by["vmem"]["data"][0]
    assert vmem["id"] == "vmem0" and vmem["memaddr"] == 0x140000000 and vmem["size"] == 1 << 30
    iomem = by["iomem"]["data"]
    assert iomem[0] == {
        "start": 0xC0000000,
        "end": 0xFEBFFFFF,
        "name": "PCI Bus 0000:00",
        "depth": 0,
        "flags": ["mem"],
        "desc": "none",
    }
    compare = by["compare"]["data"]
    assert [c["kernel"] for c in compare][:2] == ["4.10", "4.14"]
    assert isinstance(compare[0]["nbytes"], int) and compare[0]["outcome"] == "OK"
    config = {c["key"]: c for c in by["config"]["data"]}
    assert config["pat"]["value"] is True and config["phys_bits"]["value"] == 46
    assert config["iomem"]["choices"] == ["default", "strict", "relaxed"]
    assert config["high_memory"] == {
        "key": "high_memory",
        "value": 0x180000000,
        "choices": None,
        "help": "one past the top of directly mapped RAM",
        "kind": "derived",
    }
    assert config["trace"]["kind"] == "setting" and config["trace"]["value"] == "on"
    assert config["autoplay_delay"]["value"] == 1.5
    assert "data" not in by["read"]  # not a table


def test_blocks_rows_give_partly_plugged_blocks_in_bytes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SBM: 'n/m' sub-blocks plugged is n * (block size / m) bytes (2 MiB sub-blocks here)."""
    rows = run_json(capsys, "vmem resize vmem0 64M", "blocks")
    first = rows[1]["data"][0]
    assert first["plugged"] == "32/64" and first["plugged_bytes"] == 64 << 20
