"""devmem-tui in a real terminal: the TUI, the REPL, `run` and `play` on a pseudo-terminal
(tests/pty_terminal.py), with raw bytes written to it and every byte it writes back checked.

* Keys and pastes that are not UTF-8 (one 0xe9 byte, 20 KB of binary) do not end the TUI.
* Resource names, claim names, `say` lines and file names full of escape sequences and line
  separators never reach the terminal raw, through any front end: the screen shows them
  escaped (``\\x1b``), and no name fakes a line of its own.
* A TUI that is killed leaves its session in the autosave journal; the next start offers to
  restore it, and restoring gives back the very same machine.
* A random key and paste fuzz at tiny and huge window sizes finds no crash.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from pty_terminal import DEVMEM_TUI, Terminal

from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pty tests need Linux")

# Hostile names: an OSC that retitles the window, colour and cursor codes, C1 CSI, and the
# characters str.splitlines() splits at (VT, FF, NEL, U+2028) followed by a fake map line.
OSC_TITLE = "\x1b]0;pwned\x07"
HOSTILE = [
    f"osc{OSC_TITLE}name",
    "red\x1b[31mRED\x1b[0m",
    "csi\x9b2Jclear",
    "vt\x0b00000000-ffffffff : System RAM",
    "ff\x0c00000000-ffffffff : System RAM",
    "nel\x8500000000-ffffffff : System RAM",
    "ls\u202800000000-ffffffff : System RAM",
    "bidi\u202eevil",
    "bell\x07name\x1b[2J",
]
# Raw byte sequences from the names above that must never be written to the terminal.
RAW = [
    OSC_TITLE.encode(),
    b"\x1b[31mRED",
    "\x9b".encode(),
    b"\x0b00000000",
    b"\x0c00000000",
    "\x85".encode(),
    "\u2028".encode(),
    "\u202e".encode(),
    b"bell\x07",
    b"name\x1b[2J",
]


def hostile_iomem(tmp: Path) -> Path:
    """A /proc/iomem text whose top-level names are the hostile ones."""
    lines = []
    for i, name in enumerate(HOSTILE):
        start = 0x100000000 + i * 0x100000
        lines.append(f"{start:08x}-{start + 0xFFFFF:08x} : {name}")
    path = tmp / "hostile.iomem"
    path.write_bytes(("\n".join(["00000000-00000fff : Reserved", *lines]) + "\n").encode())
    return path


def _env(tmp: Path) -> dict[str, str]:
    return {"DEVMEM_TUI_STATE_DIR": str(tmp / "state"), "HOME": str(tmp), "NO_COLOR": ""}


def command(t: Terminal, line: str) -> None:
    """Type a command in the TUI as a user does: Esc (back to the tree), ':' (the bar takes
    focus: keys typed before it has it would go to the tree), the line, Enter."""
    t.write(b"\x1b")
    t.settle()
    t.write(b":")
    t.settle()
    t.write(line.encode() + b"\r")
    t.settle()


def responds(t: Terminal, marker: str, tries: int = 3) -> bool:
    """The app answers a command: `say MARKER` shows in the log (``✓ MARKER``, under the
    ``> say MARKER`` echo). Retried: after thousands of queued keys the first Esc or ':' may
    still be eaten by a prompt those keys opened."""
    for _ in range(tries):
        t.settle(quiet=0.8)
        command(t, f"say {marker}")
        if t.wait_screen(f"✓ {marker}", 10):
            return True
    return False


def _no_raw(data: bytes) -> list[bytes]:
    return [r for r in RAW if r in data]


# ----------------------------------------------------------------------------- item 1
def test_tui_survives_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    t = Terminal([], _env(tmp_path), cwd=str(tmp_path))
    try:
        assert t.wait_screen("devmem-tui", 30), t.screen_text()
        t.settle()
        t.write(b"\xe9A")  # tmux send-keys -H e9 41
        t.settle()
        rng = random.Random(18)
        blob = bytes(rng.randrange(256) for _ in range(20_000))
        t.write(b"\x1b[200~" + blob + b"\x1b[201~")  # a bracketed paste of binary
        t.settle()
        # and bytes typed, not pasted: the ones that are not ASCII (ASCII keys can quit, and
        # are the fuzz test's business below)
        t.write(bytes(b for b in blob[:4000] if b >= 0x80))
        t.settle()
        assert responds(t, "still-alive-after-binary"), t.screen_text()
        assert t.alive
    finally:
        code = t.close()
    assert code == 0
    assert b"Traceback" not in t.output and b"UnicodeDecodeError" not in t.output


# ----------------------------------------------------------------------------- item 2
def test_hostile_names_in_the_tui_reach_the_terminal_escaped(tmp_path: Path) -> None:
    path = hostile_iomem(tmp_path)
    t = Terminal(["--iomem", str(path)], _env(tmp_path), cwd=str(tmp_path))
    try:
        assert t.wait_screen("devmem-tui", 30), t.screen_text()
        t.settle()
        for line in (
            "iomem",
            "iomem --flags",
            "whatis 0x100000000",
            f'claim 0x200000000+4K "claimed{OSC_TITLE}x"',
            f'say "said{OSC_TITLE}x\x1b[31mRED"',
        ):
            command(t, line)
        t.write(b"\x1b")
        t.settle()
        t.write(b"g")
        t.settle()
        t.write(b"0x100300000\r")  # go to the VT name: the tree label and details show it
        t.settle()
        screen = t.screen_text()
        # the tree's labels (cut by the pane) and the details pane of the VT name
        assert "osc\\x1b]0;pwn" in screen and "vt\\x0b00000000" in screen, screen
        # the policy map: its rows' deciding checks and the trace under the cursor quote names
        command(t, "set io_strict_devmem on")
        t.write(b"\x1b")
        t.settle()
        t.write(b"M")
        assert t.wait_screen("policy map", 20), t.screen_text()
        t.write(b"m")
        t.settle()
        t.write(b"\r")
        t.settle()
        assert not _no_raw(bytes(t.output)), _no_raw(bytes(t.output))
        assert not any(line.lstrip("│ ").startswith("00000000-ffffffff") for line in t.lines())
        assert t.alive
    finally:
        t.close()


def _run(args: list[str], cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(DEVMEM_TUI), *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", "DEVMEM_TUI_STATE_DIR": str(cwd / "state")},
    )


def test_hostile_names_through_run_play_and_the_repl_are_escaped(tmp_path: Path) -> None:
    path = hostile_iomem(tmp_path)
    commands = [
        "iomem",
        "iomem --flags",
        "whatis 0x100000000",
        "whatis 0x100300000",
        f'claim 0x200000000+4K "claimed{OSC_TITLE}x"',
        f'say "said{OSC_TITLE}x"',
        f'release "nosuch{OSC_TITLE}"',
        "read 0x100000000",
        # the sweep's deciding checks and the policy map quote the names too
        "set io_strict_devmem on",
        "sweep mmap 0x100000000-0x1009fffff",
        "sweep mmap 0x100000000-0x1009fffff --vs io_strict_devmem=off",
        "export policy-map map.svg mmap 0x100000000-0x1009fffff",
        "mmap 0x100000000 4096",
    ]
    session = tmp_path / "hostile.json"
    # a session file whose names (map, machine) are hostile too
    s = Session.new()
    assert s.execute(f"load iomem {path}") is not None
    doc = state.to_dict(s.machine)
    doc["name"] = f"machine{OSC_TITLE}"
    session.write_text(json.dumps(doc), encoding="utf-8")
    scenario = tmp_path / f"lesson{OSC_TITLE}.scenario"
    scenario.write_text(
        "\n".join([f"open {session.name}", *commands, "expect DONE", f"read 12Q{OSC_TITLE}"])
        + "\n",
        encoding="utf-8",
    )
    runs = {
        "run -c": _run(["--iomem", str(path), "run", "-c", "; ".join(commands)], tmp_path),
        "run FILE": _run(["run", str(scenario)], tmp_path),
        "run stdin": _run(["--iomem", str(path), "run"], tmp_path, "\n".join(commands).encode()),
        "play": _run(["play", str(scenario)], tmp_path),
        "repl": _run(["--iomem", str(path), "repl"], tmp_path, "\n".join(commands).encode()),
        "open": _run(["run", "-c", f"open {session}; machine; iomem"], tmp_path),
    }
    for how, r in runs.items():
        out = r.stdout + r.stderr
        assert not _no_raw(out), (how, _no_raw(out), out[-2000:])
        assert b"Traceback" not in out, (how, out[-2000:])
        text = out.decode("utf-8", "replace")
        assert "\\x1b]0;pwned\\x07" in text, (how, text[-2000:])
        for line in text.splitlines():  # no hostile name starts a line of its own
            assert not line.strip().startswith("00000000-ffffffff : System RAM"), (how, line)
    # the picture of the session whose machine name (in the title) is hostile: valid XML
    # (raw controls are not even allowed in XML 1.0 text), the name escaped
    r = _run(["run", "-c", f"open {session}; export policy-map map.svg mmap"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    svg = (tmp_path / "map.svg").read_text(encoding="utf-8")
    ElementTree.fromstring(svg)
    assert "machine\\x1b]0;pwned\\x07" in svg and not _no_raw(svg.encode())


def test_the_repl_in_a_terminal_escapes_names(tmp_path: Path) -> None:
    path = hostile_iomem(tmp_path)
    t = Terminal(["--iomem", str(path), "repl"], _env(tmp_path), cwd=str(tmp_path))
    try:
        assert t.wait_screen("devmem>", 30), t.screen_text()
        t.write(b"iomem\r")
        assert t.wait_screen("\\x1b]0;pwned\\x07", 20), t.screen_text()
        assert not _no_raw(bytes(t.output)), _no_raw(bytes(t.output))
    finally:
        t.write(b"\x04")
        t.close()


# ----------------------------------------------------------------------------- autosave
def test_a_killed_tui_is_restored_on_the_next_start(tmp_path: Path) -> None:
    env = _env(tmp_path)
    lines = ["vmem resize vmem0 1G", "claim 0xfebd0000+4K mydrv", "set kernel 5.15", "wait 100s"]
    t = Terminal([], env, cwd=str(tmp_path))
    try:
        assert t.wait_screen("devmem-tui", 30)
        t.settle()
        for line in lines:
            command(t, line)
    finally:
        t.proc.kill()  # no clean exit: as a crash or a closed terminal would end it
        t.close()
    journals = list((tmp_path / "state").glob("autosave-*.jsonl"))
    assert len(journals) == 1, journals

    t = Terminal([], env, cwd=str(tmp_path))
    try:
        assert t.wait_screen("did not exit cleanly", 30), t.screen_text()
        t.write(b"r")
        assert t.wait_screen("restored the session", 20), t.screen_text()
        command(t, "save restored.json")
        assert (tmp_path / "restored.json").exists(), t.screen_text()
    finally:
        code = t.close()
    assert code == 0
    expected = Session.new()
    for line in lines:
        r = expected.execute(line)
        assert r is not None and r.ok, r
    restored = json.loads((tmp_path / "restored.json").read_text(encoding="utf-8"))
    assert restored == state.to_dict(expected.machine)
    # the old journal is gone, and the clean exit removed the new one
    assert list((tmp_path / "state").glob("autosave-*.jsonl")) == []


def test_declining_keeps_the_journal_and_a_clean_exit_leaves_none(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    journal = state_dir / "autosave-999999999.jsonl"  # no such process
    header = {"format": "devmem-tui-autosave", "version": 1, "pid": 999999999, "started": "x"}
    base = state.to_dict(Session.new().machine)
    journal.write_text(json.dumps(header) + "\n" + json.dumps({"base": base}) + "\n")
    t = Terminal([], _env(tmp_path), cwd=str(tmp_path))
    try:
        assert t.wait_screen("did not exit cleanly", 30), t.screen_text()
        t.write(b"l")  # later
        t.settle()
    finally:
        assert t.close() == 0
    assert journal.exists()
    assert [p.name for p in state_dir.glob("autosave-*.jsonl")] == [journal.name]


# ----------------------------------------------------------------------------- fuzz
KEYS: list[bytes] = [
    *(bytes([c]) for c in b"abcdefghijklmnoprstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
    *(bytes([c]) for c in b" :/?+-_.,;#\"'[]{}()<>=!@$%^&*|\\~`"),
    b"\r",
    b"\t",
    b"\x7f",
    b"\x08",
    b"\x1b",
    b"\x1b\x1b",
    b"\x01",
    b"\x02",
    b"\x05",
    b"\x06",
    b"\x0b",
    b"\x0e",
    b"\x10",
    b"\x12",
    b"\x15",
    b"\x17",
    b"\x1b[A",
    b"\x1b[B",
    b"\x1b[C",
    b"\x1b[D",
    b"\x1b[H",
    b"\x1b[F",
    b"\x1b[5~",
    b"\x1b[6~",
    b"\x1b[2~",
    b"\x1b[3~",
    b"\x1bOP",
    b"\x1bOQ",
    b"\x1b[15~",
    b"\x1b[1;5C",
    b"\x1b[Z",
    b"\x1b[<0;10;10M",
    b"\x1b[<0;10;10m",
    b"\x1b[<64;5;5M",
    b"\x1b[<65;5;5M",
    b"\xe9",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xa8",
    b"\xc2\x85",
    b"\x00",
    b"\x1b[",
    b"\x1b]0;x\x07",
    b"\x1b[999;999R",
]


KEYS_DEADLINE_S = 20


def test_random_keys_and_pastes_at_tiny_and_huge_sizes_never_crash(tmp_path: Path) -> None:
    """A few hundred random keys, escape sequences, invalid bytes and pastes, with the
    window resized between tiny and huge, in about 15 s (at most 30 s: the keys stop at a
    deadline on a slow runner). Keys can quit the app (the palette
    lists Quit): a clean exit (status 0, no traceback) is not a crash, and the fuzz goes on
    in a new one. q, ctrl+q, ctrl+c and ctrl+z are left out: they quit or suspend at once."""
    rng = random.Random(int(os.environ.get("DEVMEM_TUI_FUZZ_SEED", "18")))
    start = time.monotonic()
    sizes = [(20, 6), (40, 12), (80, 24), (300, 100), (12, 4), (160, 48)]
    sent: list[bytes] = []
    runs = 0

    def new_terminal() -> Terminal:
        nonlocal runs
        runs += 1
        t = Terminal([], _env(tmp_path), cwd=str(tmp_path), cols=100, rows=30)
        assert t.wait_screen("devmem-tui", 30), t.screen_text()
        return t

    t = new_terminal()
    try:
        for i in range(400):
            if time.monotonic() - start > KEYS_DEADLINE_S:
                break
            if not t.alive:
                code = t.close()
                assert code == 0 and b"Traceback" not in t.output, (sent[-10:], t.text()[-3000:])
                t = new_terminal()
            if i % 60 == 0:
                cols, rows = sizes[(i // 60) % len(sizes)]
                t.resize(cols, rows)
            if rng.random() < 0.03:
                blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
                key = b"\x1b[200~" + blob.replace(b"\x1b[201~", b"") + b"\x1b[201~"
            else:
                key = rng.choice(KEYS)
            sent.append(key)
            try:
                t.write(key)
            except OSError:  # it exited between the check and the write
                continue
            t.read(0.01)
        if not t.alive:
            assert t.close() == 0
            t = new_terminal()
        t.resize(100, 30)
        for _ in range(3):  # out of any prompt or screen the keys opened
            t.write(b"\x1b")
            t.settle()
        assert responds(t, "fuzz-survived"), t.screen_text()
    finally:
        code = t.close()
    assert code == 0, t.text()[-3000:]
    assert b"Traceback" not in t.output, t.output[-3000:]
    assert runs <= 5, f"{runs} restarts: the keys quit too often to fuzz much"
    assert len(sent) >= 200, f"only {len(sent)} keys before the deadline"
    assert time.monotonic() - start < 30
