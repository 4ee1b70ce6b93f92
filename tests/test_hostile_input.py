"""Input built to break the command layer: numbers longer than any 64-bit value, digits of
other scripts, options a command does not take, session files with values of the wrong JSON
type, maps nested deeper than any kernel nests them, scenario lines the player used to hide.

Each gives one short error line and changes nothing; none is an "internal error".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devmem_tui.commands.session import Session, all_specs, load_all
from devmem_tui.engine import session_json as state

LONG = "1" * 4301  # one digit past the 4300 that int() converts


def _default_for(word: str) -> str:
    """A valid-looking argument for a usage placeholder (or the literal itself)."""
    return {
        "ADDR": "0x1000",
        "LEN": "4096",
        "SIZE": "2M",
        "OFFSET": "0",
        "RANGE": "0x1000-0x1fff",
        "DEV": "vmem0",
        "MAP": "m1",
        "FILE": "x.json",
        "PRESET": "qemu-x86",
        "KEY": "phys_bits",
        "VALUE": "46",
        "memoryN": "memory40",
        "NAME": "x",
        "COMMAND": "read 0x1000",
        "DURATION": "5s",
        "TEXT": "hello",
        "OUTCOME": "OK",
    }.get(word, word)


def _long_lines() -> list[str]:
    """Every usage of every command with, in turn, each numeric slot holding 4301 digits."""
    load_all()
    lines: set[str] = set()
    for spec in all_specs():
        if spec.name in ("record", "save", "export", "open", "load"):
            continue  # file commands: their argument is a name, not a number
        for usage in spec.usages:
            words = [w.strip("[]").rstrip(".").split("|")[0] for w in usage.split()[1:]]
            words = [w for w in words if w]
            base = [_default_for(w) for w in words]
            for i, w in enumerate(words):
                long = {
                    "ADDR": LONG,
                    "LEN": LONG,
                    "SIZE": LONG,
                    "OFFSET": LONG,
                    "RANGE": f"{LONG}-{LONG}",
                    "memoryN": f"memory{LONG}",
                    "VALUE": LONG,
                    "DURATION": LONG,
                    "MAP": f"m{LONG}",
                }.get(w)
                if long is not None:
                    lines.add(" ".join([spec.name, *base[:i], long, *base[i + 1 :]]))
    lines.update(
        {
            f"set kernel {LONG}.1",
            f"set kernel 6.{LONG}",
            f"set phys_bits {LONG}",
            f"vmem add vmem1 {LONG} 1G",
            f"vmem resize vmem0 {LONG}",
            f"compare read {LONG}",
        }
    )
    return sorted(lines)


def test_numbers_longer_than_64_bits_are_one_short_error() -> None:
    lines = _long_lines()
    assert len(lines) >= 25, lines  # about every command that takes a number
    for line in lines:
        session = Session.new()
        before = state.to_dict(session.machine)
        r = session.execute(line)
        assert r is not None
        assert "internal error" not in r.message, (line[:60], r.message[:200])
        assert not r.ok or r.outcome is not None, line[:60]
        first = r.message.splitlines()[0]
        assert len(first) < 300, (line[:60], first[:300])
        assert state.to_dict(session.machine) == before, line[:60]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            f"read {LONG}",
            "error: bad address '1111111111111111111111111111111111111...' "
            "(4301 characters): past 2^64 - 1",
        ),
        ("read 0x" + "0" * 40 + "1", "read 0x1: "),  # leading zeros are not digits of value
        ("read 0x" + "f" * 17, "error: bad address '0xfffffffffffffffff': past 2^64 - 1"),
        ("set phys_bits ٤٦", "error: phys_bits '٤٦' must be a number from 36 to 52"),
        ("set phys_bits ²", "error: phys_bits '²' must be a number from 36 to 52"),
        ("read ٤٠٩٦", "error: bad address '٤٠٩٦': expected hex (0x1000), decimal (4096)"),
        ("online memory٤٠", "error: bad memory block 'memory٤٠': expected memoryN"),
        ("read 0x1000 --flags", "error: read: unknown option '--flags'; usage: read ADDR [LEN]"),
        ("read -1", "error: bad address '-1': negative values are not allowed"),
    ],
)
def test_number_errors(line: str, message: str) -> None:
    r = Session.new().execute(line)
    assert r is not None
    assert r.message.startswith(message), r.message


# ----------------------------------------------------------------------------- session values
def _session_doc() -> dict:
    s = Session.new()
    assert s.execute("vmem resize vmem0 1G") is not None
    assert s.execute("wait 100s") is not None
    return state.to_dict(s.machine)


def _device(doc: dict) -> dict:
    return doc["vmem"][0]["device"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: _device(d).__setitem__("region_size", 1e400), "region_size"),
        (lambda d: _device(d).__setitem__("region_size", float("inf")), "region_size"),
        (lambda d: _device(d).__setitem__("requested_size", 5368709120.5), "requested_size"),
        (lambda d: _device(d).__setitem__("node", True), "node"),
        (lambda d: _device(d).__setitem__("migration", 1), "migration"),
        (lambda d: _device(d).__setitem__("name", 7), "name"),
        (lambda d: _device(d).__setitem__("addr", "0x140000000"), "addr"),
        (lambda d: _device(d).__setitem__("blocks", [[0.5, 2]]), "blocks"),
        (lambda d: _device(d).__setitem__("config_notifications", None), "config_notifications"),
        (lambda d: d["vmem"][0].__setitem__("retry_timer_s", True), "retry_timer_s"),
        (lambda d: d["vmem"][0].__setitem__("retry_timer_s", "50"), "retry_timer_s"),
        (lambda d: d["vmem"][0].__setitem__("probe_error", 3), "probe_error"),
        (lambda d: d["vmem"][0].__setitem__("index", 0.0), "index"),
        (lambda d: d["config"].__setitem__("phys_bits", "46"), "phys_bits"),
        (lambda d: d["config"].__setitem__("phys_bits", 46.0), "phys_bits"),
        (lambda d: d["config"].__setitem__("pat", 1), "pat"),
        (lambda d: d["config"].__setitem__("pat", "on"), "pat"),
        (lambda d: d["config"].__setitem__("kernel", 6.1), "kernel"),
        (lambda d: d.__setitem__("clock", True), "clock"),
        (lambda d: d.__setitem__("next_mapping", 2.0), "next_mapping"),
        (lambda d: d["resources"][0].__setitem__("name", ["x"]), "name"),
    ],
)
def test_session_values_of_the_wrong_json_type_are_refused(edit: object, message: str) -> None:
    doc = _session_doc()
    edit(doc)  # type: ignore[operator]
    text = json.dumps(doc)  # Infinity is what json writes for inf and 1e400
    with pytest.raises(state.StateError) as e:
        state.loads(text)
    msg = str(e.value)
    assert "\n" not in msg and "internal error" not in msg
    assert message in msg, msg


def test_a_huge_integer_in_a_session_file_is_refused_in_one_line() -> None:
    doc = _session_doc()
    text = json.dumps(doc).replace('"clock": 100.0', '"clock": ' + LONG)
    assert LONG in text
    with pytest.raises(state.StateError) as e:
        state.loads(text)
    assert "clock" in str(e.value) or "number" in str(e.value)
    assert len(str(e.value)) < 300


def test_the_unedited_document_still_opens() -> None:
    doc = _session_doc()
    assert state.to_dict(state.loads(json.dumps(doc))) == doc


# ----------------------------------------------------------------------------- scenario lines
def test_pause_with_arguments_is_reported(tmp_path: Path) -> None:
    from devmem_tui.scenario import script

    path = tmp_path / "p.scenario"
    path.write_text("read 0x1000\nexpect ZEROS\npause extra\nsay done\n", encoding="utf-8")
    problems = script.check_files([str(path)])
    assert problems == [f"{path}:3: pause: unexpected argument 'extra'; usage: pause"], problems


def test_play_prints_every_error_it_counts(tmp_path: Path) -> None:
    """A step whose command fails when it runs is printed, whatever the command."""
    import io

    from devmem_tui.frontends.play import play_scenario
    from devmem_tui.scenario import script

    path = tmp_path / "p.scenario"
    path.write_text("read 12Q\nwait 5x\n", encoding="utf-8")
    out = io.StringIO()
    ran, failed, errors = play_scenario(script.load_scenario(str(path)), Session.new(), out)
    assert errors == 2
    assert len(re.findall(r"p\.scenario:\d: error: ", out.getvalue())) == 2, out.getvalue()


# ----------------------------------------------------------------------------- deep maps
def _deep_text(levels: int, name: str = "PCI Bus 0000:{i:02x}") -> str:
    """A map nested ``levels`` deep, each level inside the one before, indented as r_show
    prints it (capped at 5)."""
    lines = []
    for i in range(levels):
        indent = "  " * min(i, 5)
        lines.append(f"{indent}{i * 0x1000:016x}-{(1 << 40) - 1 - i:016x} : {name.format(i=i)}")
    return "\n".join(lines) + "\n"


def test_a_map_deeper_than_the_limit_is_refused_at_load(tmp_path: Path) -> None:
    from devmem_tui.engine.iomem.tree import MAX_DEPTH

    path = tmp_path / "deep.iomem"
    for levels in (MAX_DEPTH + 1, 2000):
        path.write_text(_deep_text(levels))
        s = Session.new()
        before = state.to_dict(s.machine)
        msg = s.execute(f"load iomem {path}").message  # type: ignore[union-attr]
        assert msg == (
            f"error: {path}:{MAX_DEPTH + 1}: {MAX_DEPTH * 0x1000:08x}-"
            f"{(1 << 40) - 1 - MAX_DEPTH:08x} (PCI Bus 0000:{MAX_DEPTH:02x}) would nest "
            f"{MAX_DEPTH + 1} levels deep; devmem-tui takes at most {MAX_DEPTH} "
            "(a real /proc/iomem nests fewer than 10)"
        ), msg
        assert state.to_dict(s.machine) == before


def test_a_session_deeper_than_the_limit_is_refused(tmp_path: Path) -> None:
    from devmem_tui.engine.iomem.tree import MAX_DEPTH

    doc = state.to_dict(Session.new().machine)
    node = {"start": "0x0", "end": "0xffffffffff", "name": "deep", "flags": ["mem"]}
    top = node
    for i in range(1, 300):  # far past the limit (json.dumps itself stops a few hundred on)
        child = {"start": hex(i), "end": hex((1 << 40) - 1 - i), "name": "d", "flags": ["mem"]}
        node["children"] = [child]
        node = child
    doc["resources"] = [top]
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(doc))
    msg = Session.new().execute(f"open {path}").message  # type: ignore[union-attr]
    assert msg.startswith(f"error: {path}: "), msg
    assert "internal error" not in msg and "\n" not in msg
    assert f"takes at most {MAX_DEPTH}" in msg or "nested too deeply" in msg, msg


def test_claims_cannot_nest_past_the_limit(tmp_path: Path) -> None:
    from devmem_tui.engine.iomem.tree import MAX_DEPTH

    path = tmp_path / "deep.iomem"
    path.write_text(_deep_text(MAX_DEPTH))
    s = Session.new()
    assert s.execute(f"load iomem {path}").ok  # type: ignore[union-attr]
    before = state.to_dict(s.machine)
    addr = (MAX_DEPTH - 1) * 0x1000
    msg = s.execute(f"claim {addr:#x}+4K deeper").message  # type: ignore[union-attr]
    assert msg.endswith(
        f"would nest {MAX_DEPTH + 1} levels deep; devmem-tui takes at most {MAX_DEPTH} "
        "(a real /proc/iomem nests fewer than 10)"
    ), msg
    assert state.to_dict(s.machine) == before


def test_every_command_works_on_a_map_at_the_limit(tmp_path: Path) -> None:
    from devmem_tui.engine.iomem.tree import MAX_DEPTH

    path = tmp_path / "deep.iomem"
    path.write_text(_deep_text(MAX_DEPTH))
    s = Session.new()
    assert s.execute(f"load iomem {path}").ok  # type: ignore[union-attr]
    addr = (MAX_DEPTH - 1) * 0x1000
    for line in (
        "iomem",
        "iomem --flags",
        f"whatis {addr:#x}",
        f"read {addr:#x}",
        f"mmap {addr:#x} 4K",
        f"kcore {addr:#x}",
        f"save {tmp_path}/s.json",
        f"export iomem {tmp_path}/e.iomem",
        f"open {tmp_path}/s.json",
        f"load iomem {tmp_path}/e.iomem",
    ):
        r = s.execute(line)
        assert r is not None and "internal error" not in r.message, (line, r.message[:300])
        assert r.ok, (line, r.message[:300])
    assert len(s.machine.tree) == MAX_DEPTH


async def test_the_tui_goes_to_the_deepest_resource(tmp_path: Path) -> None:
    """`g ADDR` on a map at the depth limit expands every level (it raised RecursionError
    inside the tree widget on a 990-deep map)."""
    from devmem_tui.engine.iomem.tree import MAX_DEPTH
    from devmem_tui.frontends.tui.app import DevmemApp

    path = tmp_path / "deep.iomem"
    path.write_text(_deep_text(MAX_DEPTH))
    s = Session.new()
    assert s.execute(f"load iomem {path}").ok  # type: ignore[union-attr]
    app = DevmemApp(s)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.reveal((MAX_DEPTH - 1) * 0x1000)
        await pilot.pause()
        assert (
            app.sel_entry is not None and app.sel_entry.name == f"PCI Bus 0000:{MAX_DEPTH - 1:02x}"
        )
        assert f"PCI Bus 0000:{MAX_DEPTH - 1:02x}" in app.details


def test_an_expect_quotes_a_command_with_a_line_break_on_one_line() -> None:
    """A line given to Session.execute with a line break in it (a front end splits lines
    before, the API does not): the failed expect naming it is still one line (found by the
    command fuzz)."""
    s = Session.new()
    s.execute("iomem 0\n0")
    r = s.execute("expect OK")
    assert r is not None and not r.ok
    assert r.message == "expected OK, got an error (iomem 0\\x0a0)"


@pytest.mark.parametrize("field", ["start", "flags", "desc"])
def test_a_huge_string_in_a_session_file_is_quoted_short(field: str) -> None:
    doc = _session_doc()
    doc["resources"][0][field] = "1" * 5000 if field != "flags" else ["x" * 5000]
    with pytest.raises(state.StateError) as e:
        state.loads(json.dumps(doc))
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 200, msg
    assert "5000 characters" in msg or "..." in msg


def test_a_line_break_in_a_saved_name_is_shown_once_escaped() -> None:
    doc = _session_doc()
    doc["resources"][0]["name"] = "trail\r00005000-x"
    with pytest.raises(state.StateError) as e:
        state.loads(json.dumps(doc))
    assert "name 'trail\\r00005000-x' holds a line break" in str(e.value), str(e.value)
