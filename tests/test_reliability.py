"""No input can crash devmem-tui, and every front end shows a problem as one line.

* Bad commands through every way in (``Session.execute``, the REPL's eval step, ``devmem-tui
  run`` with and without ``--json``, ``devmem-tui play``, the TUI command bar): one error
  line, no traceback, no "internal error".
* Files: scenarios with syntax errors (file:line, before anything runs), session files that
  are corrupt, truncated, newer, not JSON or another tool's JSON (one line, session
  untouched), and ``save`` is atomic (a failing rename or a full disk keeps the old file).
* Inputs that used to crash or hang: an infinite or astronomically long ``wait``, session
  files whose clock or retry timer would never advance, NUL bytes in file names, undecodable
  bytes in a line, a listener (``record``) that fails.
"""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bigmap
import pytest

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import REGISTRY, Session
from devmem_tui.engine import session_json as state
from devmem_tui.engine.interfaces import MAX_CLOCK
from devmem_tui.frontends import cli, repl
from devmem_tui.scenario import script

TESTS = Path(__file__).resolve().parent
CORPUS_DIR = TESTS / "corpus"
DEVMEM_TUI = Path(sys.executable).with_name("devmem-tui")

# One of each kind of bad command, with the error line it must give (copied from real runs;
# docs/errors.md quotes them).
BAD: list[tuple[str, str]] = [
    ("reed 0x1000", "error: unknown command 'reed'; did you mean 'read'?"),
    ("frobnicate", "error: unknown command 'frobnicate'; type 'help' for the list"),
    ("read", "error: read: missing argument; usage: read ADDR [LEN]"),
    ("read 0x1000 1 2", "error: read: unexpected argument '2'; usage: read ADDR [LEN]"),
    (
        "read 12Q",
        "error: bad address '12Q': expected hex (0x1000), decimal (4096) or a size like 128M",
    ),
    ("read -1", "error: bad address '-1': negative values are not allowed"),
    (
        "read 0x",
        "error: bad address '0x': expected hex (0x1000), decimal (4096) or a size like 128M",
    ),
    ("read 0x10000000000000000", "error: bad address '0x10000000000000000': past 2^64 - 1"),
    ("read 18446744073709551616", "error: bad address '18446744073709551616': past 2^64 - 1"),
    (
        "read 0xffffffffffffffff 0x1000",
        "error: read 0xffffffffffffffff: the range ends past "
        "2^64 - 1 (rw_verify_area() refuses it with EOVERFLOW)",
    ),
    ("plug vmem9 0x140000000 2M", "error: unknown virtio-mem device 'vmem9' (devices: vmem0)"),
    ("touch m9", "error: no live mapping 'm9' (live mappings: none)"),
    ("online memoryX", "error: bad memory block 'memoryX': expected memoryN, e.g. memory40"),
    ("release nosuch", "error: no resource named 'nosuch'"),
    (
        "set nosuch on",
        "error: unknown config key 'nosuch'; valid keys: kernel, arch, pat, "
        "devmem, strict_devmem, io_strict_devmem, iomem, auto_online, proposal, lockdown, "
        "migration, phys_bits; front-end settings: trace, pager, autoplay_delay",
    ),
    (
        "set iomem sideways",
        "error: iomem cannot be 'sideways'; valid values: default, strict, relaxed",
    ),
    ("set kernel 9.9", "error: kernel version '9.9' is outside 3.0 .. 7.x"),
    (
        "machine nosuch",
        "error: unknown machine preset 'nosuch'; presets: qemu-x86-virtio-mem, "
        "arm64-virt, qemu-x86, server-cxl",
    ),
    (
        "vmem add vmem1 0x100000000 1G",
        "error: vmem1: region 0x100000000-0x13fffffff overlaps "
        "100000000-13fffffff : System RAM: device memory needs a free part of the physical "
        "address space; the nearest free 128M-aligned address for it is 0x5c0000000",
    ),
    (
        "claim 0xfeb80000+4K mydrv",
        "error: request feb80000-feb80fff : mydrv conflicts with "
        "busy feb80000-feb9ffff : e1000e -> -EBUSY",
    ),
    ("wait 5x", "error: bad duration '5x': expected e.g. 50s, 5m, 1h"),
]


def run(session: Session, line: str) -> Result:
    r = session.execute(line)
    assert r is not None
    return r


# ----------------------------------------------------------------------------- commands
@pytest.mark.parametrize(("line", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_command_is_one_exact_line_in_execute_and_the_repl(line: str, message: str) -> None:
    s = Session.new()
    before = state.to_dict(s.machine)
    r = run(s, line)
    assert (r.ok, r.outcome, r.message) == (False, None, message)
    out = io.StringIO()
    assert repl.handle_line(s, line, out) is True  # the REPL goes on
    assert out.getvalue() == message + "\n"
    assert state.to_dict(s.machine) == before


def test_bad_commands_are_one_line_and_change_nothing_on_the_100k_map(
    big: tuple[Session, bigmap.StateWatch],
) -> None:
    """The same bad lines on the 100,000-resource map (their messages name what that map
    holds): one line each, and the full saved state unchanged (``StateWatch``)."""
    s, watch = big
    for line, _message in BAD:
        if line.startswith(("claim 0xfeb80000", "vmem add")):
            continue  # those addresses are busy or RAM only in the default map
        r = run(s, line)
        assert not r.ok and r.outcome is None, (line, r.message)
        assert r.message.startswith("error: ") and "\n" not in r.message, (line, r.message)
        watch.check(s.machine, line)


def test_bad_commands_through_run_and_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    lines = [b[0] for b in BAD]
    code = cli.main(["run", "-c", "; ".join(lines)])
    out, err = capsys.readouterr()
    assert code == 2 and err == ""
    expected = "".join(f"> {line}\n{msg}\n" for line, msg in BAD)
    assert out == expected
    code = cli.main(["run", "--json", "-c", "; ".join(lines)])
    out, err = capsys.readouterr()
    assert code == 2 and err == ""
    rows = [json.loads(x) for x in out.splitlines()]
    assert [(r["command"], r["ok"], r["outcome"], r["message"]) for r in rows] == [
        (line, False, None, msg) for line, msg in BAD
    ]


def test_bad_commands_in_a_scenario_are_file_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Known command words with bad arguments pass the up-front check and fail when they
    run: file:line and the one error line, exit 2."""
    path = tmp_path / "bad-args.scenario"
    runnable = [(line, msg) for line, msg in BAD if not msg.startswith("error: unknown command")]
    path.write_text("".join(f"{line}\n" for line, _ in runnable))
    code = cli.main(["play", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and err == ""
    for no, (line, msg) in enumerate(runnable, 1):
        assert f"> {line}\n{path}:{no}: {msg}\n" in out
    assert "Traceback" not in out and "internal error" not in out


def test_unaligned_device_request_is_the_devices_error_not_a_usage_error() -> None:
    s = Session.new()
    r = run(s, "plug vmem0 0x140000000 3M")
    assert (r.ok, r.outcome) == (True, "ERROR")
    assert r.message.startswith(
        "PLUG(0x140000000, 3M) -> ERROR (size 0x300000 is not a "
        "multiple of the device block size 0x200000"
    )


def test_set_lists_valid_keys_and_values_for_every_key() -> None:
    from devmem_tui.engine.config import KEYS

    s = Session.new()
    for key, (allowed, _) in KEYS.items():
        r = run(s, f"set {key} nonsense-value")
        assert not r.ok and "\n" not in r.message
        if allowed:
            assert r.message.endswith(f"valid values: {', '.join(allowed)}"), r.message


# ----------------------------------------------------------------------------- hangs, crashes
def test_huge_waits_are_refused_before_the_clock_moves() -> None:
    """`wait` of 400 nines (inf as a float) used to raise OverflowError after firing timers;
    1e20 s looped forever (the float clock could not step a 300 s timer)."""
    s = Session.new()
    for line in ("vmem resize vmem0 1G", "pin 0x140000000", "vmem resize vmem0 0"):
        assert run(s, line).ok
    before = state.to_dict(s.machine)
    r = run(s, "wait " + "9" * 400 + "s")
    assert r.message == (
        "error: bad duration '9999999999999999999999999999999999999...' (401 characters): too large"
    )
    r = run(s, "wait 100000000000000000000s")
    assert r.message == (
        "error: cannot wait 1e+20s: the simulated clock would pass 1e+12s (about 31,700 years)"
    )
    assert state.to_dict(s.machine) == before
    r = run(s, "wait 300s")  # the timer still runs normally
    assert r.ok and "retry timer fired" in r.message


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("clock", float("nan"), "clock must be a number of seconds from 0 to 1e+12"),
        ("clock", float("inf"), "clock must be a number of seconds from 0 to 1e+12"),
        ("clock", MAX_CLOCK * 2, "clock must be a number of seconds from 0 to 1e+12"),
        ("retry_timer_s", 0, "retry_timer_s 0 is outside 50..300"),
        ("retry_timer_s", float("nan"), "retry_timer_s nan is outside 50..300"),
        ("timer_deadline", -1e300, "timer_deadline -1e+300 is outside the clock's range"),
        ("timer_deadline", 1e20, "timer_deadline 1e+20 is outside the clock's range"),
    ],
)
def test_session_files_that_would_hang_wait_are_refused(
    field: str, value: float, problem: str
) -> None:
    s = Session.new()
    for line in ("vmem resize vmem0 1G", "pin 0x140000000", "vmem resize vmem0 0"):
        assert run(s, line).ok
    doc = state.to_dict(s.machine)
    assert doc["vmem"][0]["timer_deadline"] is not None  # a retry timer is armed
    if field == "clock":
        doc["clock"] = value
    else:
        doc["vmem"][0][field] = value
    with pytest.raises(state.StateError) as e:
        state.loads(json.dumps(doc))
    assert str(e.value) == f"corrupt session file: {problem}"


def test_nul_bytes_in_file_names_are_one_line_errors(tmp_path: Path) -> None:
    s = Session.new()
    for line in (
        "open a\x00b",
        f"save {tmp_path}/a\x00b",
        "load iomem a\x00b",
        f"record {tmp_path}/x\x00y",
        f"export iomem {tmp_path}/\x00",
    ):
        r = run(s, line)
        assert not r.ok and "contains a NUL byte" in r.message and "\n" not in r.message
    assert list(tmp_path.iterdir()) == []


def test_undecodable_bytes_in_a_line_become_replacement_characters(tmp_path: Path) -> None:
    """A front end that reads argv or stdin with surrogateescape hands us lone surrogates;
    export and record used to fail to encode them (record's listener crashed the REPL)."""
    s = Session.new()
    assert run(s, f"record {tmp_path}/rec.scenario").ok
    r = run(s, "claim 0xfebd0000+4K dr\udcffv")
    assert r.ok and "dr\ufffd" in r.message
    assert run(s, "say caf\udce9").ok
    assert run(s, f"export iomem {tmp_path}/map.iomem").ok
    assert run(s, "record stop").ok
    text = (tmp_path / "rec.scenario").read_text(encoding="utf-8")
    assert "claim 0xfebd0000+4K dr\ufffd" in text
    assert "dr\ufffd" in (tmp_path / "map.iomem").read_text(encoding="utf-8")


def test_a_failing_listener_is_dropped_not_fatal() -> None:
    s = Session.new()
    calls: list[str] = []

    def broken(text: str, result: Result) -> None:
        calls.append(text)
        raise RuntimeError("listener bug")

    s.listeners.append(broken)
    r = run(s, "read 0x1000")
    assert r.ok and r.outcome == "ZEROS"
    assert r.message.splitlines()[-1] == "warning: broken stopped: RuntimeError: listener bug"
    assert s.listeners == []
    assert run(s, "read 0x1000").ok and calls == ["read 0x1000"]


def test_internal_errors_are_one_line_and_undo_their_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Session.new()
    before = state.to_dict(s.machine)
    spec = REGISTRY["vmem"]
    original = spec.handler

    def buggy(session: Session, args: list[str]) -> Result:
        original(session, args)
        raise RuntimeError("a\nmulti-line\nproblem")

    monkeypatch.setattr(spec, "handler", buggy)
    r = run(s, "vmem resize vmem0 1G")
    assert (
        r.message == "internal error: RuntimeError: a multi-line problem; its changes were undone"
    )
    assert state.to_dict(s.machine) == before


def test_internal_errors_undo_their_changes_on_the_100k_map(
    big: tuple[Session, bigmap.StateWatch], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler that raises after changing the 100,000-resource map: one line, and the full
    saved state is back (the undo costs what the command changed, not a snapshot)."""
    s, watch = big
    for name, line in (
        ("vmem", "vmem resize vmem0 2G"),
        ("claim", f"claim {bigmap.big_map().bars[3]:#x}+4K tmpdrv"),
        ("munmap", "munmap m1"),
    ):
        spec = REGISTRY[name]
        original = spec.handler

        def buggy(session: Session, args: list[str], original: Any = original) -> Result:
            original(session, args)
            raise RuntimeError("a\nmulti-line\nproblem")

        monkeypatch.setattr(spec, "handler", buggy)
        r = run(s, line)
        monkeypatch.setattr(spec, "handler", original)
        assert r.message == (
            "internal error: RuntimeError: a multi-line problem; its changes were undone"
        ), line
        assert [e.kind for e in s.machine.drain_events()] == ["machine"]
        watch.check(s.machine, line)


# ----------------------------------------------------------------------------- scenario files
def test_scenario_syntax_errors_are_file_line_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran.json"
    first = tmp_path / "good.scenario"
    first.write_text(f"save {marker}\nexpect DONE\n")
    path = tmp_path / "broken.scenario"
    path.write_text(
        "\n".join(
            [
                "expect OK",  # 1: before any command
                f"save {marker}",  # 2: would run first if anything ran
                "frobnicate 0x1000",  # 3: unknown command
                "expect ok",  # 4: unknown outcome (with a hint)
                "expect EPERM extra",  # 5: extra word
                "read 0x1000   # fine",  # 6
                "expect output",  # 7: missing TEXT
                "reed 0x1000",  # 8: suggestion
            ]
        )
        + "\n"
    )
    code = cli.main(["play", str(first), str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines == [
        f"{path}:1: expect before any command",
        f"{path}:3: unknown command 'frobnicate'; type 'help' for the list",
        f"{path}:4: expect: unknown outcome 'ok'; did you mean OK? (outcomes: OK, ZEROS, "
        "DROPPED, SHORT, EPERM, EFAULT, EINVAL, ENOSYS, EAGAIN, ENXIO, EBUSY, EINTR, SIGBUS, ACK, "
        "NACK, BUSY, ERROR, PLUGGED, UNPLUGGED, MIXED, DONE)",
        f"{path}:5: expect: unexpected argument 'extra'",
        f"{path}:7: expect output: missing TEXT",
        f"{path}:8: unknown command 'reed'; did you mean 'read'?",
    ]
    assert not marker.exists()  # nothing ran, not even the good first file


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"say ok\nsay caf\xe9\n", ":2: not a text scenario (byte 0xe9 is not UTF-8)"),
        (None, "is a directory"),
    ],
)
def test_unreadable_scenarios_are_one_line(
    tmp_path: Path, content: bytes | None, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.scenario"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert cli.main(["play", str(path)]) == 2
    out, err = capsys.readouterr()
    sep = "" if problem.startswith(":") else ": "  # a line number where there is one
    assert out == "" and err == f"{path}{sep}{problem}\n"
    assert cli.main(["play", str(tmp_path / "missing.scenario")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'missing.scenario'}: no such file\n"


# ----------------------------------------------------------------------------- session files
OPEN_ERRORS = [
    (
        "not-json.txt",
        "not a devmem-tui session file (bad JSON at line 1 column 1: Expecting value; truncated?)",
    ),
    ("empty.json", "session file is empty"),
    (
        "truncated.json",
        "not a devmem-tui session file (bad JSON at line 169 column 15: "
        "Unterminated string starting at; truncated?)",
    ),
    (
        "newer-version.json",
        "session file format version 99 is newer than this devmem-tui "
        "reads (1); upgrade devmem-tui",
    ),
    ("version-zero.json", "session file format version 0 is not supported"),
    ("no-version.json", "session file has no format version"),
    ("other-tool.json", 'not a devmem-tui session file (no "format": "devmem-tui-session")'),
    ("array.json", 'not a devmem-tui session file (no "format": "devmem-tui-session")'),
    ("nested-deep.json", "not a devmem-tui session file (JSON nested too deeply)"),
    (
        "overlapping-resources.json",
        "resource tree is inconsistent: 00000800-00001fff : "
        "overlap overlaps its sibling 00000000-00000fff : Reserved",
    ),
    ("bad-flag.json", "resources/0: unknown flag 'sparkly'"),
    ("bad-config.json", "corrupt session file: kernel version '9.9' is outside 3.0 .. 7.x"),
    (
        "bad-vmem.json",
        "corrupt session file: virtio-mem device: plugged_size 0x12345000 does "
        "not match the plugged blocks (0x10000000)",
    ),
    ("duplicate-mapping.json", "corrupt session file: mappings/1 is empty or a duplicate"),
    ("nan-clock.json", "corrupt session file: clock must be a number of seconds from 0 to 1e+12"),
    ("huge-clock.json", "corrupt session file: clock must be a number of seconds from 0 to 1e+12"),
]


@pytest.mark.parametrize(("name", "problem"), OPEN_ERRORS, ids=[o[0] for o in OPEN_ERRORS])
def test_bad_session_files_are_refused_in_one_line(name: str, problem: str) -> None:
    s = Session.new()
    assert run(s, "vmem resize vmem0 512M").ok
    m = s.machine
    before = state.to_dict(m)
    path = CORPUS_DIR / name
    r = run(s, f"open {path}")
    assert (r.ok, r.message) == (False, f"error: {path}: {problem}")
    assert s.machine is m and state.to_dict(m) == before


def test_not_utf8_and_missing_session_files(tmp_path: Path) -> None:
    s = Session.new()
    assert (
        run(s, f"open {CORPUS_DIR / 'latin1.json'}").message
        == f"error: {CORPUS_DIR / 'latin1.json'}:4: not a text session file "
        "(byte 0xe9 is not UTF-8)"
    )
    assert (
        run(s, f"open {tmp_path / 'nope.json'}").message
        == f"error: cannot open {tmp_path / 'nope.json'}: no such file"
    )
    assert run(s, f"open {tmp_path}").message == f"error: cannot open {tmp_path}: is a directory"


def _contains(new: object, old: object, where: str = "") -> None:
    """Everything an older session file says is still said (new keys may be added)."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for k, v in old.items():
            assert k in new, f"{where}/{k} lost"
            _contains(new[k], v, f"{where}/{k}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            _contains(a, b, f"{where}/{i}")
    else:
        assert new == old, (where, new, old)


def test_the_valid_corpus_file_opens_and_round_trips() -> None:
    """valid.json was written before kernel versions had sub-levels ("6.16") and before the
    MTRR, dump and long-term pin keys: it still opens, keeps everything it says (the kernel as
    6.16.0), and what it saves now round-trips exactly."""
    s = Session.new()
    r = run(s, f"open {CORPUS_DIR / 'valid.json'}")
    assert r.ok, r.message
    doc = json.loads((CORPUS_DIR / "valid.json").read_text())
    new = state.to_dict(s.machine)
    assert doc["config"]["kernel"] == "6.16" and new["config"]["kernel"] == "6.16.0"
    doc["config"]["kernel"] = "6.16.0"
    _contains(new, doc)
    assert state.to_dict(state.from_dict(new)) == new


# ----------------------------------------------------------------------------- atomic save
def _old_file(tmp_path: Path) -> tuple[Path, bytes]:
    target = tmp_path / "session.json"
    s = Session.new()
    assert run(s, f"save {target}").ok
    return target, target.read_bytes()


@pytest.mark.parametrize("fail", ["replace", "fsync", "write", "chmod"])
def test_save_is_atomic_when_the_last_steps_fail(
    tmp_path: Path, fail: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, old = _old_file(tmp_path)
    s = Session.new()
    assert run(s, "vmem resize vmem0 1G").ok  # a different state to save

    def boom(*args: object, **kw: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail == "write":
        real_fdopen = os.fdopen

        def fdopen(fd: int, *args: Any, **kw: Any) -> Any:
            f = real_fdopen(fd, *args, **kw)

            def write(text: str) -> int:
                f.buffer.write(text[: len(text) // 2].encode())  # half, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")

            f.write = write
            return f

        monkeypatch.setattr(os, "fdopen", fdopen)
    else:
        monkeypatch.setattr(os, fail, boom)
    for line in (f"save {target}", f"export json {target}", f"export iomem {target}"):
        r = run(s, line)
        assert (r.ok, r.message) == (
            False,
            f"error: cannot write {target}: No space left on device",
        ), line
        assert target.read_bytes() == old  # the old file is intact
        assert sorted(p.name for p in tmp_path.iterdir()) == ["session.json"]  # no temp file


def test_save_into_a_read_only_directory(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories (covered by the rename test)")
    target, old = _old_file(tmp_path)
    tmp_path.chmod(0o555)
    try:
        r = run(Session.new(), f"save {target}")
        assert r.message == f"error: cannot write {target}: Permission denied"
        assert target.read_bytes() == old
    finally:
        tmp_path.chmod(0o755)


def test_save_over_a_fifo_or_device_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = run(Session.new(), f"save {fifo}")
    assert r.message == f"error: cannot write {fifo}: not a regular file"
    assert fifo.is_fifo()


# ----------------------------------------------------------------------------- front ends
def _cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NO_COLOR": "1", "DEVMEM_TUI_NO_PAGER": "1"}
    env.pop("DEVMEM_TUI_DEBUG", None)
    return subprocess.run(
        [str(DEVMEM_TUI), *args], input=stdin, capture_output=True, timeout=60, env=env, check=False
    )


def test_devmem_tui_run_bad_number_subprocess() -> None:
    p = _cli("run", "-c", "read 12Q")
    assert p.returncode == 2
    assert p.stdout.decode() == (
        "> read 12Q\nerror: bad address '12Q': expected hex (0x1000), "
        "decimal (4096) or a size like 128M\n"
    )
    assert p.stderr == b""


def test_devmem_tui_play_broken_file_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "broken.scenario"
    path.write_text("read 0x1000\nexpect ZEROS\nfrob 1\nexpect ok\n")
    p = _cli("play", str(path))
    assert p.returncode == 2 and p.stdout == b""
    assert p.stderr.decode().splitlines() == [
        f"{path}:3: unknown command 'frob'; type 'help' for the list",
        f"{path}:4: expect: unknown outcome 'ok'; did you mean OK? (outcomes: OK, ZEROS, "
        "DROPPED, SHORT, EPERM, EFAULT, EINVAL, ENOSYS, EAGAIN, ENXIO, EBUSY, EINTR, SIGBUS, ACK, "
        "NACK, BUSY, ERROR, PLUGGED, UNPLUGGED, MIXED, DONE)",
    ]


def test_repl_with_piped_stdin_subprocess() -> None:
    stdin = "".join(f"{line}\n" for line, _ in BAD).encode() + b"say caf\xe9\nread 0x1000\n"
    p = _cli("repl", stdin=stdin)
    assert p.returncode == 0 and p.stderr == b""
    out = p.stdout.decode("utf-8", "replace")
    assert "Traceback" not in out and "internal error" not in out
    for line, msg in BAD:
        assert f"devmem> {line}\n{msg}\ndevmem> " in out
    assert "read 0x1000: ZEROS" in out  # still running after all of it


def test_run_with_undecodable_bytes_subprocess() -> None:
    p = _cli("run", "-", stdin=b"say caf\xe9\nread 12Q\n")
    assert p.returncode == 2 and p.stderr == b""
    assert b"Traceback" not in p.stdout
    assert p.stdout.decode().splitlines()[-1].startswith("error: bad address '12Q'")


def test_play_and_run_of_a_kernel_interface_subprocess() -> None:
    p = _cli("run", "/proc/kcore")
    assert p.returncode == 2 and p.stdout == b""
    assert p.stderr.decode() == (
        "devmem-tui: error: refusing to open /proc/kcore: devmem-tui "
        "simulates the kernel's memory interfaces and never touches "
        "the real ones\n"
    )


async def test_tui_command_bar_shows_one_error_line_per_bad_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from devmem_tui.frontends.tui.app import DevmemApp
    from devmem_tui.frontends.tui.widgets.command_bar import CommandBar

    app = DevmemApp(Session.new(), keymap={})
    typed = [
        "read 12Q",
        "frobnicate",
        "set iomem sideways",
        "plug vmem9 0x140000000 2M",
        "wait 1e400",
        "vmem resize vmem0 3M",
    ]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        before = state.to_dict(app.session.machine)
        for i, text in enumerate(typed):
            await pilot.press("colon")
            bar = app.focused
            assert isinstance(bar, CommandBar)
            if i == 0:
                await pilot.press(*text)  # typed key by key once; then filled in (faster)
            else:
                bar.value = text
            await pilot.press("enter")
            await pilot.pause()
            t = app.transcript
            start = len(t) - 1 - t[::-1].index(f"> {text}")
            shown = t[start:]
            assert len(shown) == 2, shown
            assert shown[1].startswith("✗ error: "), shown
        # a handler bug: still one line, the app keeps running
        spec = REGISTRY["claim"]
        original = spec.handler

        def buggy(session: Session, args: list[str]) -> Result:
            original(session, args)
            raise ZeroDivisionError("oops")

        monkeypatch.setattr(spec, "handler", buggy)
        await pilot.press("colon")
        app.query_one(CommandBar).value = "claim 0xfebd0000+4K x"
        await pilot.press("enter")
        await pilot.pause()
        t = app.transcript
        start = len(t) - 1 - t[::-1].index("> claim 0xfebd0000+4K x")
        assert t[start + 1] == "✗ internal error: ZeroDivisionError: oops; its changes were undone"
        assert all(line.startswith("  ⇒ ") for line in t[start + 2 :])  # views redraw
        assert all("Traceback" not in line for line in app.transcript)
        assert state.to_dict(app.session.machine) == before
        assert app.is_running


def test_player_check_runs_nothing_for_a_directory_of_scenarios(tmp_path: Path) -> None:
    """check_files never executes: a scenario whose every line is valid still runs nothing."""
    marker = tmp_path / "m.json"
    path = tmp_path / "ok.scenario"
    path.write_text(f"save {marker}\n")
    assert script.check_files([str(path)]) == []
    assert not marker.exists()
