"""Files are judged by what they are, never block, and are never overwritten by surprise.

* Every file the tool opens (keymap, history, scenario, session, iomem, run FILE, record,
  save) goes through files.py: character devices by their numbers (a node named anything
  that is /dev/mem's 1:1 is refused as /dev/mem), files of procfs/sysfs wherever mounted,
  FIFOs and sockets are refused before a byte is read or written.
* Nothing hangs: a FIFO given to `load iomem`, `open`, `run`, `play` or `--iomem` is an
  immediate error; `run < /dev/zero` is an error, not a MemoryError.
* `record FILE` does not truncate an existing FILE without `force`; `save` through a symlink
  writes its target; a temp file a killed save left behind is removed by the next save.
* Small things: names with trailing spaces and control characters survive `export iomem` ->
  `load iomem`; a scenario with a byte-order mark plays; 17-digit addresses are refused;
  `run FILE` errors name FILE:LINE.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devmem_tui import files
from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state
from devmem_tui.frontends import cli
from devmem_tui.frontends.tui.keymap import load_keymap

DEVMEM_TUI = Path(sys.executable).with_name("devmem-tui")


def run(session: Session, line: str) -> str:
    r = session.execute(line)
    assert r is not None
    return r.message


# ----------------------------------------------------------------------------- what a file is
def test_the_keymap_loader_goes_through_the_guard(tmp_path: Path) -> None:
    """DEVMEM_TUI_KEYMAP=/proc/kcore used to be opened (the loader skipped the guard): any
    procfs file is refused now, and so is a FIFO, which would hang the TUI's start."""
    keymap, problems = load_keymap(Path("/proc/self/status"), {"quit"})
    assert keymap == {}
    assert problems and "refusing to open /proc/self/status" in problems[0], problems
    assert "procfs" in problems[0]
    fifo = tmp_path / "keymap.toml"
    os.mkfifo(fifo)
    keymap, problems = load_keymap(fifo, {"quit"})
    assert keymap == {} and "FIFO" in problems[0], problems


def test_procfs_and_sysfs_files_are_refused_but_proc_iomem_loads() -> None:
    s = Session.new()
    for path, fs in (("/proc/self/status", "procfs"), ("/sys/kernel/uevent_seqnum", "sysfs")):
        if not os.path.exists(path):
            continue
        for line in (f"load iomem {path}", f"open {path}", f"record {path}"):
            msg = run(s, line)
            assert msg.startswith("error: refusing to "), (line, msg)
            assert fs in msg, (line, msg)
    if os.path.exists("/proc/iomem"):
        msg = run(s, "load iomem /proc/iomem")  # the one procfs file read on purpose
        assert "refusing" not in msg, msg


def test_proc_kmsg_is_refused_before_it_is_opened() -> None:
    """/proc/kmsg blocks and drains the kernel log when read."""
    if not os.path.exists("/proc/kmsg"):
        pytest.skip("no /proc/kmsg here")
    msg = run(Session.new(), "load iomem /proc/kmsg")
    assert msg.startswith("error: refusing to open /proc/kmsg: a file of the kernel's procfs")


def test_a_device_node_is_known_by_its_numbers_not_its_name(tmp_path: Path) -> None:
    """A node named `innocent.iomem` that is character device 1:1 is /dev/mem."""
    node = tmp_path / "innocent.iomem"
    try:
        os.mknod(node, 0o600 | 0o020000, os.makedev(1, 1))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make a device node here: {e}")
    s = Session.new()
    for line, verb in ((f"load iomem {node}", "open"), (f"save {node}", "write")):
        msg = run(s, line)
        assert msg == (
            f"error: refusing to {verb} {node} (the kernel's /dev/mem): devmem-tui simulates "
            "the kernel's memory interfaces and never touches the real ones"
        ), msg
    assert not node.is_file()  # still the node: nothing replaced it


def test_the_descriptor_is_checked_again_after_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file swapped between the check and the open is refused on what was opened."""
    good = tmp_path / "good.iomem"
    good.write_text("00000000-00000fff : Reserved\n")
    other = tmp_path / "other.iomem"
    other.write_text("00000000-00000fff : Reserved\n")
    real_open = os.open

    def swapping_open(path: object, *args: object, **kw: object) -> int:
        if os.fsdecode(path) == str(good):  # type: ignore[arg-type]
            return real_open(other, *args, **kw)  # type: ignore[arg-type]
        return real_open(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", swapping_open)
    with pytest.raises(files.FileError, match="changed while it was opened"):
        files.read_bytes(str(good), 1 << 20)


# ----------------------------------------------------------------------------- no hangs
def _cli(args: list[str], cwd: Path, stdin: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DEVMEM_TUI), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=20,  # a hang fails the test instead of blocking forever
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        env={**os.environ, "DEVMEM_TUI_STATE_DIR": str(cwd / "state")},
    )


@pytest.mark.parametrize(
    "args",
    [
        ["run", "-c", "load iomem FIFO"],
        ["run", "-c", "open FIFO"],
        ["run", "FIFO"],
        ["play", "FIFO"],
        ["--iomem", "FIFO", "run", "-c", "iomem"],
    ],
)
def test_a_fifo_is_refused_at_once(tmp_path: Path, args: list[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = _cli([a.replace("FIFO", str(fifo)) for a in args], tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "a FIFO (named pipe), not a file; it would block" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_run_from_dev_zero_is_an_error_not_memory_exhaustion(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        r = _cli(["run"], tmp_path, stdin=zero.fileno())
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        "devmem-tui: error: <stdin>:1: line longer than 64 KiB "
        "(not a command file? every command is one short line)"
    ), r.stderr


def test_stdin_lines_are_bounded() -> None:
    lines = list(files.stdin_lines(io.BytesIO(b"read 0x1000\r\nhelp\n\xe9\n")))
    assert lines == ["read 0x1000", "help", "\ufffd"]
    with pytest.raises(files.FileError, match="<stdin>:2: line longer than 1 KiB"):
        list(files.stdin_lines(io.BytesIO(b"ok\n" + b"x" * 5000), max_line=1024))


# ----------------------------------------------------------------------------- overwrites
def test_record_does_not_truncate_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "lesson.scenario"
    target.write_text("say precious\n")
    s = Session.new()
    r = s.execute(f"record {target}")
    assert r is not None and not r.ok and r.outcome is None
    assert r.message == (f"error: record: {target} exists; 'record {target} force' replaces it"), (
        r.message
    )
    assert r.data["confirm"] == f"record {target} force"
    assert target.read_text() == "say precious\n" and s.recorder is None
    r = s.execute(f"record {target} force")
    assert r is not None and r.ok, r.message
    s.execute("read 0x1000")
    s.execute("record stop")
    assert "read 0x1000" in target.read_text() and "precious" not in target.read_text()


def test_a_scenario_recording_to_its_own_name_does_not_overwrite_itself(tmp_path: Path) -> None:
    scenario = tmp_path / "self.scenario"
    text = "record self.scenario\nread 0x1000\nexpect ZEROS\n"
    scenario.write_text(text)
    r = _cli(["play", str(scenario)], tmp_path)
    assert r.returncode == 2
    assert f"{scenario}:1: error: record: " in r.stdout, r.stdout
    assert scenario.read_text() == text


def test_the_repl_asks_before_record_replaces_a_file(tmp_path: Path) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from devmem_tui.frontends.repl import Repl

    target = tmp_path / "r.scenario"
    target.write_text("say old\n")
    out = io.StringIO()
    with create_pipe_input() as inp:
        inp.send_text(f"record {target}\ny\nread 0x1000\nrecord stop\n")
        inp.close()
        Repl(Session.new(), input=inp, output=DummyOutput(), out=out).run()
    assert "exists" in out.getvalue()
    assert "recording to" in out.getvalue(), out.getvalue()
    assert "read 0x1000" in target.read_text()


def test_save_through_a_symlink_writes_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    s = Session.new()
    assert run(s, f"save {link}").startswith("saved ")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert state.loads(target.read_text()).name == s.machine.name


def test_a_temp_file_left_by_a_killed_save_is_removed_by_the_next(tmp_path: Path) -> None:
    dead = tmp_path / f"{files.TEMP_PREFIX}999999999-x1y2{files.TEMP_SUFFIX}"
    dead.write_text("half a session")
    mine = tmp_path / f"{files.TEMP_PREFIX}{os.getpid()}-busy{files.TEMP_SUFFIX}"
    mine.write_text("a save in progress")
    code = (
        "import os, signal\n"
        "from devmem_tui.commands.session import Session\n"
        "os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"Session.new().execute('save {tmp_path}/s.json')\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=60)
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(files.TEMP_SUFFIX)]
    # the killed save removed the older dead one, and left its own behind
    assert dead.name not in left and mine.name in left and len(left) == 2, left
    assert run(Session.new(), f"save {tmp_path}/s.json").startswith("saved ")
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(files.TEMP_SUFFIX))
    assert left == [mine.name]  # a live process's temp file stays


# ----------------------------------------------------------------------------- small things
def test_names_survive_export_and_load_exactly(tmp_path: Path) -> None:
    s = Session.new()
    names = ["trailing  ", "  leading", "tab\tinside", "esc\x1b[31m", "back\\slash", "a\u2028b"]
    for i, name in enumerate(names):
        r = s.execute(f'claim {0x200000000 + i * 0x1000:#x}+4K "{name}"')
        assert r is not None and r.ok, r.message
    before = state.to_dict(s.machine)["resources"]
    assert run(s, f"export iomem {tmp_path}/x.iomem").startswith("exported")
    assert run(s, f"load iomem {tmp_path}/x.iomem").startswith("loaded")
    assert state.to_dict(s.machine)["resources"] == before


def test_a_byte_order_mark_does_not_stop_a_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bom.scenario"
    scenario.write_bytes(b"\xef\xbb\xbfread 0x1000\nexpect ZEROS\n")
    r = _cli(["play", str(scenario)], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_addresses_of_more_than_16_digits_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.iomem"
    path.write_text("00000000000000000-00000fff : Reserved\n")
    msg = run(Session.new(), f"load iomem {path}")
    assert msg == (
        f"error: {path}:1: start address 00000000000000000 has 17 digits "
        "(expected 1 to 16 hex digits)"
    ), msg


def test_run_file_errors_name_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    script = tmp_path / "cmds.txt"
    script.write_text("read 0x1000\n\nread 12Q\n")
    assert cli.main(["run", str(script)]) == 2
    out = capsys.readouterr().out
    assert f"{script}:3: error: bad address '12Q'" in out, out
