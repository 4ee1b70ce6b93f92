"""The scenario player: check whole files first, transcript, file:line failures, exit codes;
and `record` writing scenarios that play back green."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devmem_tui import files
from devmem_tui.commands.registry import Result, UsageError
from devmem_tui.commands.session import REGISTRY, Session, command, load_all
from devmem_tui.engine import session_json as state
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree
from devmem_tui.engine.machine import Machine
from devmem_tui.frontends.play import play_files
from devmem_tui.scenario import script


def small_session() -> Session:
    tree = ResourceTree()
    tree.add_child(tree.root, Resource(0x1000, 0x9FFFF, "System RAM", F.MEM | F.SYSRAM | F.BUSY))
    return Session(Machine(tree, name="tiny"))


def _out(session: Session, args: list[str]) -> Result:
    """zz-out WORD: a stand-in access command answering WORD (bad word -> usage error)."""
    if len(args) != 1 or not args[0].isupper():
        raise UsageError("zz-out: need one OUTCOME word")
    session.machine.clock += 1  # a visible state change, so record/play can be compared
    return Result(
        True,
        args[0],
        f"zz: {args[0]} (clock {session.machine.clock:g})",
        trace=[f"zz_check({args[0]}) -> 0"],
    )


@pytest.fixture(autouse=True)
def zz_out() -> Iterator[None]:
    load_all()
    assert "zz-out" not in REGISTRY
    command("zz-out", "zz-out OUTCOME", summary="test-only", mutates=True)(_out)
    yield
    REGISTRY.pop("zz-out", None)


def play(
    tmp_path: Path,
    *texts: str,
    trace: bool = False,
    as_json: bool = False,
    names: list[str] | None = None,
) -> tuple[int, str, list[Path]]:
    paths = []
    for i, text in enumerate(texts):
        p = tmp_path / (names[i] if names else f"s{i}.scenario")
        p.write_text(text)
        paths.append(p)
    out = io.StringIO()
    code = play_files([str(p) for p in paths], small_session, out, trace=trace, as_json=as_json)
    return code, out.getvalue(), paths


GREEN = """\
# a tiny lesson
say Reads below 1 MiB are zero-filled
zz-out ZEROS
expect ZEROS
expect output zz: ZEROS
say this says nothing about the expect below   # a trailing comment
expect ZEROS
pause
set iomem relaxed
expect DONE
expect output relaxed
"""


def test_green_scenario_exits_0_with_a_transcript(tmp_path: Path) -> None:
    code, out, [p] = play(tmp_path, GREEN)
    assert code == 0, out
    assert "Reads below 1 MiB are zero-filled" in out
    assert "> zz-out ZEROS" in out
    assert "  zz: ZEROS (clock 1)" in out
    assert "expect ZEROS: ok" in out
    assert "zz_check" not in out  # traces only with --trace
    assert f"== {p}: 10 steps, ok" in out


def test_trace_option_shows_traces(tmp_path: Path) -> None:
    code, out, _ = play(tmp_path, GREEN, trace=True)
    assert code == 0
    assert "zz_check(ZEROS) -> 0" in out


def test_failed_expect_names_file_line_expected_and_got(tmp_path: Path) -> None:
    code, out, [p] = play(tmp_path, "zz-out OK\nexpect EPERM\nzz-out EPERM\nexpect EPERM\n")
    assert code == 1
    assert f"{p}:2: expected EPERM, got OK (zz-out OK)" in out
    assert "expect EPERM: ok" in out  # it went on after the failure
    assert "1 expect(s) failed" in out


def test_failed_output_expect(tmp_path: Path) -> None:
    code, out, [p] = play(tmp_path, "zz-out OK\nexpect output ZEROS\n")
    assert code == 1
    assert f"{p}:2: expected output containing 'ZEROS'" in out


def test_problems_are_reported_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran.json"
    text = f"save {marker}\nzz-out OK\nfrobnicate 1\nexpect eperm\nexpect\nexpect BOGUS\n"
    code, out, [p] = play(tmp_path, text)
    err = capsys.readouterr().err
    assert code == 2
    assert not marker.exists()  # nothing ran
    assert out == ""
    assert f"{p}:3: unknown command 'frobnicate'" in err
    assert f"{p}:4: expect: unknown outcome 'eperm'; did you mean EPERM?" in err
    assert f"{p}:5: expect: missing outcome" in err
    assert f"{p}:6: expect: unknown outcome 'BOGUS'" in err


def test_a_bad_second_file_stops_the_first_from_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran.json"
    code, out, [_, p2] = play(tmp_path, f"save {marker}\n", "say hi\nexpect OK\n")
    assert code == 2
    assert not marker.exists()
    assert f"{p2}:2: expect before any command" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    code = play_files([str(tmp_path / "nope.scenario")], small_session, out)
    assert code == 2
    assert "nope.scenario: no such file" in capsys.readouterr().err


def test_runtime_usage_error_exits_2(tmp_path: Path) -> None:
    code, out, [p] = play(tmp_path, "zz-out lower\nzz-out OK\nexpect OK\n")
    assert code == 2
    assert f"{p}:1: error: zz-out: need one OUTCOME word" in out
    assert "expect OK: ok" in out


def test_each_file_starts_fresh(tmp_path: Path) -> None:
    a = "zz-out OK\nexpect output clock 1\nset iomem relaxed\n"
    b = "zz-out OK\nexpect output clock 1\nconfig\nexpect output default\n"
    code, out, _ = play(tmp_path, a, b)
    assert code == 0, out


def test_json_lines(tmp_path: Path) -> None:
    code, out, [p] = play(tmp_path, "say hi\nzz-out EPERM\nexpect OK\n", as_json=True)
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert rows[1] == {
        "file": str(p),
        "line": 2,
        "command": "zz-out EPERM",
        "ok": True,
        "outcome": "EPERM",
        "message": "zz: EPERM (clock 1)",
        "trace": ["zz_check(EPERM) -> 0"],
    }
    assert rows[2]["ok"] is False and rows[2]["message"].startswith("expected OK, got EPERM")


def test_relative_paths_are_read_from_the_scenario_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lesson_dir = tmp_path / "lessons"
    lesson_dir.mkdir()
    snap = small_session()
    snap.machine.clock = 42
    files.save_session(snap.machine, str(lesson_dir / "start.json"))
    (lesson_dir / "l.scenario").write_text(
        "open start.json\nexpect DONE\nzz-out OK\nexpect output clock 43\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = io.StringIO()
    code = play_files([str(lesson_dir / "l.scenario")], small_session, out)
    assert code == 0, out.getvalue()
    assert "> open start.json" in out.getvalue()  # shown as written


def test_parse_scenario_steps_and_aliases() -> None:
    sc = script.parse_scenario("# c\n\n? set\nzz-out OK\n  expect OK  # fine\nquit\n", "x")
    assert [(s.line, s.name) for s in sc.steps] == [
        (3, "help"),
        (4, "zz-out"),
        (5, "expect"),
        (6, "exit"),
    ]
    assert sc.steps[2].text == "expect OK  # fine"


def test_exit_stops_the_file(tmp_path: Path) -> None:
    code, out, _ = play(tmp_path, "zz-out OK\nexit\nzz-out EPERM\nexpect EPERM\n")
    assert code == 0
    assert "zz-out EPERM" not in out


# ----------------------------------------------------------------------------- record
def test_record_then_play_back_green(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    session = small_session()
    session.execute("zz-out OK")  # not fresh when recording starts: a snapshot is written
    scen = tmp_path / "rec" / "r.scenario"
    scen.parent.mkdir()
    lines = [
        f"record {scen}",
        "say recorded lesson",
        "zz-out EPERM",
        "zz-out nope",
        "set iomem strict",
        "expect DONE",
        "expect EPERM",
        "save snap.json",
        "record stop",
        "zz-out OK",
    ]
    results = [session.execute(line) for line in lines]
    assert all(r is not None for r in results)
    assert results[-2] is not None and "recording stopped" in results[-2].message
    text = scen.read_text()
    assert "say recorded lesson\n" in text
    assert "zz-out EPERM\nexpect EPERM\n" in text
    assert "# zz-out nope\n#   -> error: zz-out: need one OUTCOME word\n" in text
    assert "# expect EPERM\n#   (failed: expected EPERM, got DONE (set iomem strict))" in text
    assert "save ../snap.json\nexpect DONE\n" in text  # paths relative to the scenario
    assert not [ln for ln in text.splitlines() if ln.startswith("record")]
    assert "open r.start.json" in text
    assert (scen.parent / "r.start.json").exists()
    final = state.to_dict(session.machine)
    final["clock"] -= 1  # the last zz-out ran after `record stop`

    played: list[Session] = []

    def factory() -> Session:
        played.append(small_session())
        return played[-1]

    out = io.StringIO()
    code = play_files([str(scen)], factory, out)
    assert code == 0, out.getvalue()
    assert state.to_dict(played[0].machine) == final


def test_record_errors(tmp_path: Path) -> None:
    session = small_session()
    r = session.execute("record stop")
    assert r is not None and not r.ok and "not recording" in r.message
    r = session.execute(f"record {tmp_path}")
    assert r is not None and not r.ok and "directory" in r.message
    r = session.execute(f"record {tmp_path / 'a.scenario'}")
    assert r is not None and r.ok
    r = session.execute(f"record {tmp_path / 'b.scenario'}")
    assert r is not None and not r.ok and "already recording" in r.message
    assert session.recorder is not None
    r = session.execute("record stop")
    assert r is not None and r.ok and session.recorder is None and session.listeners == []


def test_record_write_failure_stops_recording(tmp_path: Path) -> None:
    session = small_session()
    path = tmp_path / "r.scenario"
    session.execute(f"record {path}")
    path.unlink()
    path.mkdir()  # appending now fails, even as root
    r = session.execute("zz-out OK")
    assert r is not None and r.ok and r.outcome == "OK"
    assert "warning: recording to" in r.message and "stopped" in r.message
    assert session.recorder is None and session.listeners == []


def _record(session: Session, scen: Path, *lines: str) -> str:
    for line in (f"record {scen}", *lines, "record stop"):
        r = session.execute(line)
        assert r is not None and (r.ok or line.startswith("frob")), (line, r and r.message)
    return scen.read_text()


def test_record_on_a_fresh_default_session_needs_no_preamble(tmp_path: Path) -> None:
    session = Session.new()
    scen = tmp_path / "fresh.scenario"
    text = _record(
        session,
        scen,
        "read 0x100000",
        "vmem resize vmem0 1G",
        "frob",
        "mmap 0xfebd0000 4096",
        "touch m1",
    )
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert body[:4] == ["read 0x100000", "expect EPERM", "vmem resize vmem0 1G", "expect DONE"]
    assert not (tmp_path / "fresh.start.json").exists()
    out = io.StringIO()
    code = play_files([str(scen)], Session.new, out)
    assert code == 0, out.getvalue()


def test_record_preamble_replays_config_built_into_the_machine(tmp_path: Path) -> None:
    from devmem_tui.engine.config import KernelConfig

    cfg = KernelConfig()
    cfg.set("kernel", "5.15")
    cfg.set("auto_online", "offline")
    session = Session.new(config=cfg)
    scen = tmp_path / "cfg.scenario"
    text = _record(session, scen, "vmem resize vmem0 512M", "read 0x140000000")
    assert "set kernel 5.15.0\nset auto_online offline\nmachine qemu-x86-virtio-mem\n" in text
    played: list[Session] = []

    def factory() -> Session:
        played.append(Session.new())
        return played[-1]

    out = io.StringIO()
    assert play_files([str(scen)], factory, out) == 0, out.getvalue()
    replayed, recorded = state.to_dict(played[0].machine), state.to_dict(session.machine)
    # the replay sets the values with `set`, so `config` says they came from the set command
    assert replayed["config"].pop("sources") == {
        "kernel": "set command",
        "auto_online": "set command",
        "arch": "preset qemu-x86-virtio-mem",
    }
    assert recorded["config"].pop("sources") == {"arch": "preset qemu-x86-virtio-mem"}
    assert replayed == recorded


def test_record_snapshot_when_the_machine_changed(tmp_path: Path) -> None:
    session = Session.new()
    session.execute("vmem resize vmem0 1G")
    session.execute("mmap 0xfebd0000 4096")
    scen = tmp_path / "snap.scenario"
    text = _record(session, scen, "touch m1", "mmap 0xfebd1000 4096")
    assert "open snap.start.json\nexpect DONE\n" in text
    played: list[Session] = []

    def factory() -> Session:
        played.append(Session.new())
        return played[-1]

    out = io.StringIO()
    assert play_files([str(scen)], factory, out) == 0, out.getvalue()
    assert state.to_dict(played[0].machine) == state.to_dict(session.machine)


def test_say_repeats_separator_characters_escaped_not_as_spaces(tmp_path: Path) -> None:
    """Words part at spaces and tabs only: a VT or U+2028 in a say line is shown as itself,
    escaped, never as a line break or a space."""
    code, out, _ = play(tmp_path, "say a\x0bb\u2028c\n")
    assert code == 0 and "a\\x0bb\\u2028c" in out, out
