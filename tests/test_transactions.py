"""A failed command changes nothing.

Every line of tests/command_corpus.txt is a command that must fail (a usage error, or a device,
sysfs or access outcome that refuses). Each runs on several base sessions (fresh, busy with
devices, mappings, claims and pins, migrating, arm64, an old kernel without the virtio-mem
driver, the CXL server) and the serialized state (``state.to_dict(machine)``, which includes
the config) must be identical before and after. The failure must read as one line.

Also: failed ``open``/``load iomem`` keep the very same Machine object, a failed ``record``
leaves the session not recording, failed writes leave no temp files behind, and the
``Session.execute`` safety net (docs/errors.md) restores the machine when a handler raises
after it has changed something.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bigmap
import pytest

from devmem_tui import files
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import REGISTRY, Session, all_specs, lookup
from devmem_tui.engine import session_json as state
from devmem_tui.engine.devmem.verdict import Outcome
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.machine import Machine, Txn

TESTS = Path(__file__).resolve().parent
CORPUS = TESTS / "command_corpus.txt"
CORPUS_DIR = TESTS / "corpus"
MALFORMED = TESTS / "malformed_iomem"

# Outcomes that mean "refused": the call failed, so nothing may have changed.
REFUSED = {
    "ERROR",
    "NACK",
    "BUSY",
    "EPERM",
    "EFAULT",
    "EINVAL",
    "ENOSYS",
    "EAGAIN",
    "ENXIO",
    "EBUSY",
    "SIGBUS",
}
assert REFUSED <= {o.value for o in Outcome}

# Base sessions: name -> setup lines (each must succeed). "rich" is the primary base: a line's
# "=> OUTCOME" annotation must hold there exactly.
BASES: dict[str, list[str]] = {
    "fresh": [],
    "rich": [
        "vmem resize vmem0 1G",
        "pin 0x140000000",
        "mmap 0xfebd0000 4096",
        "claim 0xfebd1000+4K mydrv",
        "vmem add vmem1 0x600000000 1G",
        "wait 10s",
    ],
    "migrating": ["vmem resize vmem0 256M", "mmap 0xfebd0000 8K private", "set migration on"],
    "arm64": ["machine arm64-virt"],
    "no-driver": ["set kernel 5.4", "machine qemu-x86-virtio-mem"],
    "cxl": ["machine server-cxl", "set io_strict_devmem on", "set iomem relaxed"],
}
PRIMARY = "rich"


QEMU_MAP = "qemu-x86-virtio-mem"


@dataclass(frozen=True)
class Line:
    no: int
    text: str
    want: frozenset[str] | None  # None: must be a usage error
    qemu_only: bool = False  # names addresses of the default map


def corpus_lines() -> list[Line]:
    out = []
    for no, raw in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = raw.split("  ")
        text, want, qemu_only = parts[0].strip(), None, False
        for tag in (p.strip() for p in parts[1:] if p.strip()):
            if tag.startswith("=> "):
                want = frozenset(tag[3:].split(","))
            elif tag == "@qemu":
                qemu_only = True
            else:
                raise AssertionError(f"command_corpus.txt:{no}: unknown tag {tag!r}")
        out.append(Line(no, text, want, qemu_only))
    return out


LINES = corpus_lines()


def fill(text: str, tmp: Path) -> str:
    return text.format(corpus=CORPUS_DIR, malformed=MALFORMED, tmp=tmp)


def run(session: Session, line: str) -> Result:
    result = session.execute(line)
    assert result is not None, line
    return result


_BASE_DOCS: dict[str, dict[str, object]] = {}


def base_doc(name: str) -> dict[str, object]:
    """The serialized base session, built once (setup lines must all succeed)."""
    if name not in _BASE_DOCS:
        s = Session.new()
        for line in BASES[name]:
            r = run(s, line)
            assert r.ok and r.outcome not in REFUSED, (name, line, r.message)
        _BASE_DOCS[name] = state.to_dict(s.machine)
    return _BASE_DOCS[name]


def base_session(name: str) -> Session:
    return Session(state.from_dict(base_doc(name)))


def assert_one_line(result: Result, line: str) -> None:
    msg = result.message
    assert "\n" not in msg and "\r" not in msg, f"{line!r}: multi-line error {msg!r}"
    assert msg.startswith("error: "), (line, msg)
    assert "internal error" not in msg and "Traceback" not in msg, (line, msg)
    assert len(msg) < 600, (line, len(msg))


def check_fails_unchanged(session: Session, line: Line, base: str, tmp: Path) -> Result:
    text = fill(line.text, tmp)
    machine = session.machine
    before = state.to_dict(machine)
    machine.drain_events()
    result = run(session, text)
    where = (
        f"corpus line {line.no} on base {base!r}: {text!r} -> {result.outcome} {result.message!r}"
    )
    if result.ok:
        assert line.want is not None, f"{where}: succeeded; expected a usage error"
        assert result.outcome in line.want | REFUSED, f"{where}: did not fail"
        if base == PRIMARY:
            assert result.outcome in line.want, f"{where}: expected {sorted(line.want)}"
    else:
        assert result.outcome is None and not result.expect_failed, where
        assert_one_line(result, text)
        if base == PRIMARY and line.want is not None:
            pytest.fail(f"{where}: expected the outcome {sorted(line.want)}, got a usage error")
    assert session.machine is machine, f"{where}: replaced the machine"
    assert state.to_dict(session.machine) == before, f"{where}: changed the state"
    assert session.recorder is None and not session.listeners, f"{where}: started recording"
    if not result.ok:
        assert not machine.events, f"{where}: emitted events {machine.events[:3]}"
    return result


@pytest.mark.parametrize("base", list(BASES))
def test_every_corpus_line_fails_and_changes_nothing(base: str, tmp_path: Path) -> None:
    problems = []
    for line in LINES:
        session = base_session(base)
        if line.qemu_only and session.machine.name != QEMU_MAP:
            continue
        try:
            check_fails_unchanged(session, line, base, tmp_path)
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
        except pytest.fail.Exception as e:
            problems.append(str(e).splitlines()[0])
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    # nothing was left behind: no temp files, no half-written targets
    leftovers = [p for p in tmp_path.rglob("*")]
    assert leftovers == [], leftovers
    assert not [p for p in CORPUS_DIR.iterdir() if p.name.startswith(".devmem-tui-")]


def test_corpus_is_broad() -> None:
    """The corpus covers every command of the registry and each kind of failure."""
    assert len(LINES) >= 250
    words = set()
    for line in LINES:
        try:
            words.add(lookup(line.text.split()[0]).name)
        except (DevmemError, IndexError):
            pass
    missing = {s.name for s in all_specs()} - words - {"say"}  # say TEXT cannot fail
    assert not missing, f"no failing corpus line for {sorted(missing)}"
    texts = " ".join(line.text for line in LINES)
    for needle in (
        "open {corpus}/",
        "vmem add",
        "claim 0xfeb80000",
        "release nosuch",
        "machine nosuch",
        "plug vmem0 0x140000000 3M",
        "set nosuch",
    ):
        assert needle in texts


def test_every_malformed_iomem_file_is_refused_without_change(tmp_path: Path) -> None:
    files = sorted(MALFORMED.iterdir())
    assert len(files) >= 40
    for base in ("fresh", "rich"):
        for f in files:
            line = Line(0, f"load iomem {f}", None)
            check_fails_unchanged(base_session(base), line, base, tmp_path)


def test_failed_open_keeps_the_same_machine_object() -> None:
    s = base_session("rich")
    m = s.machine
    for name in ("truncated.json", "newer-version.json", "other-tool.json", "not-json.txt"):
        r = run(s, f"open {CORPUS_DIR / name}")
        assert not r.ok
        assert s.machine is m
    r = run(s, f"open {CORPUS_DIR / 'valid.json'}")
    assert r.ok and s.machine is not m


def test_usage_errors_name_the_problem_and_suggest() -> None:
    s = Session.new()
    assert run(s, "reed 0x1000").message == "error: unknown command 'reed'; did you mean 'read'?"
    assert "did you mean 'plug'" in run(s, "plgu vmem0 0 2M").message
    msg = run(s, "set iomem sideways").message
    assert "valid values: default, strict, relaxed" in msg
    msg = run(s, "set nosuch on").message
    assert "valid keys: kernel, arch" in msg
    assert "usage: read ADDR [LEN]" in run(s, "read").message
    assert "unexpected argument '2'" in run(s, "read 0x1000 1 2").message
    assert "past 2^64 - 1" in run(s, "read 0x10000000000000000").message
    assert "negative" in run(s, "read -1").message
    assert (
        "unknown virtio-mem device 'vmem9' (devices: vmem0)"
        in run(s, "plug vmem9 0x140000000 2M").message
    )


def test_unaligned_device_request_is_a_device_error_not_usage() -> None:
    s = Session.new()
    r = run(s, "plug vmem0 0x140000000 3M")
    assert r.ok and r.outcome == "ERROR"
    assert "not a multiple of the device block size" in r.message


# ----------------------------------------------------------------------------- safety net
def test_safety_net_restores_a_machine_a_handler_broke(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler that raises after mutating: Session.execute puts the machine back."""
    s = base_session("rich")
    before = state.to_dict(s.machine)
    spec = REGISTRY["claim"]
    original = spec.handler
    changed: list[bool] = []

    def broken(session: Session, args: list[str]) -> Result:
        original(session, args)  # really claims: the tree changes
        changed.append(state.to_dict(session.machine) != before)
        raise RuntimeError("boom\nafter mutating")

    monkeypatch.setattr(spec, "handler", broken)
    r = run(s, "claim 0xfebd0000+4K tmpdrv")
    assert changed == [True]
    assert not r.ok and r.outcome is None
    assert r.message == (
        "internal error: RuntimeError: boom after mutating; its changes were undone"
    )
    assert state.to_dict(s.machine) == before
    assert not list(s.machine.tree.find("tmpdrv"))
    s.machine.tree.check()
    for vm in s.machine.vmem.values():
        vm.check()
    assert [e.kind for e in s.machine.drain_events()] == ["machine"]  # views redraw all
    # the restored session goes on working
    monkeypatch.setattr(spec, "handler", original)
    assert run(s, "claim 0xfebd0000+4K tmpdrv").ok


def test_safety_net_restores_after_a_devmem_error_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same for a DevmemError raised after a change (a handler validating too late)."""
    s = base_session("rich")
    before = state.to_dict(s.machine)
    spec = REGISTRY["set"]
    original = spec.handler

    def late(session: Session, args: list[str]) -> Result:
        original(session, args)
        raise DevmemError("validated too late")

    monkeypatch.setattr(spec, "handler", late)
    r = run(s, "set kernel 5.4")
    assert r.message == "error: validated too late"
    assert state.to_dict(s.machine) == before
    assert s.config.kernel == "6.16.0"


def test_read_only_commands_open_no_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands marked mutates=False run without a transaction (reads stay cheap)."""
    calls: list[int] = []
    real = Machine.begin

    def counting(m: Machine) -> Txn:
        calls.append(1)
        return real(m)

    monkeypatch.setattr(Machine, "begin", counting)
    s = Session.new()
    for line in (
        "read 0x1000",
        "iomem",
        "whatis 0x1000",
        "blocks",
        "config",
        "maps",
        "kcore 0x1000",
        "help",
        "read 12Q",
    ):
        run(s, line)
    assert calls == []
    run(s, "set kernel 6.1")
    assert calls == [1]


def _undo_entries(session: Session, line: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many inverse operations undoing ``line`` took (the handler raises after it ran)."""
    spec = lookup(line.split()[0])
    original = spec.handler
    undone: list[int] = []
    real = Machine.rollback

    def broken(session: Session, args: list[str]) -> Result:
        original(session, args)
        raise RuntimeError("after the change")

    def counting(m: Machine, txn: Txn) -> bool:
        undone.append(len(m.journal.entries) - txn[0])
        return real(m, txn)

    monkeypatch.setattr(spec, "handler", broken)
    monkeypatch.setattr(Machine, "rollback", counting)
    r = run(session, line)
    monkeypatch.setattr(spec, "handler", original)
    monkeypatch.setattr(Machine, "rollback", real)
    assert r.message.endswith("; its changes were undone"), r.message
    return undone[0]


UNDO_LINES = [
    "claim {bar}+4K newdrv",
    "mmap {bar} 4096",
    "munmap m1",
    "set kernel 5.4",
    "vmem resize vmem0 1152M",
    "pin {pin}",
    "release mydrv",
]


def test_undo_costs_what_the_command_changed(
    big: tuple[Session, bigmap.StateWatch], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Undoing a failed command costs the inverse operations of what it changed: the same
    number on the default map (~40 resources) and on the 100,000-resource map, with live
    mappings, a device and pins on both (there is no whole-machine snapshot at any size)."""
    small = base_session("rich")
    for extra in ("set io_strict_devmem on", "mmap 0xfebd0000 4096"):
        assert run(small, extra).ok
    small_watch = bigmap.StateWatch(small.machine)
    s, watch = big
    info = bigmap.big_map()
    for line in UNDO_LINES:
        counts = []
        for session, w, bar, pin in (
            (small, small_watch, 0xFEBD0000, 0x140400000),
            (s, watch, info.bars[3], info.vmem + 0x400000),
        ):
            text = line.format(bar=f"{bar:#x}", pin=f"{pin:#x}")
            counts.append(_undo_entries(session, text, monkeypatch))
            w.check(session.machine, text)
        assert counts[0] > 0, f"{line}: changed nothing: nothing was tested"
        assert counts[1] <= 2 * counts[0] + 2, f"{line}: undo entries {counts} grow with the map"


def test_every_corpus_line_fails_and_changes_nothing_on_the_100k_map(
    big: tuple[Session, bigmap.StateWatch], tmp_path: Path
) -> None:
    """The failing-command corpus on the 100,000-resource base (one session for all lines:
    a change that stayed behind would show in every later comparison). The full saved state
    is compared after every line (``StateWatch``)."""
    s, watch = big
    machine = s.machine
    problems = []
    ran = 0
    for line in LINES:
        if line.qemu_only:
            continue
        text = fill(line.text, tmp_path)
        machine.drain_events()
        result = run(s, text)
        where = f"corpus line {line.no} on the 100k map: {text!r} -> {result.outcome}"
        try:
            if result.ok:
                assert line.want is not None, f"{where}: succeeded; expected a usage error"
                assert result.outcome in line.want | REFUSED, f"{where}: did not fail"
            else:
                assert_one_line(result, text)
                assert not machine.events, f"{where}: emitted events {machine.events[:3]}"
            watch.check(s.machine, where)
            assert s.recorder is None and not s.listeners, f"{where}: started recording"
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
            s.machine = machine
            watch = bigmap.StateWatch(machine)  # report each line once
        ran += 1
    assert ran > 200
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert [p for p in tmp_path.rglob("*")] == []


def iter_corpus_files() -> Iterator[Path]:
    yield from sorted(CORPUS_DIR.iterdir())


def test_corpus_session_files_are_what_their_names_say() -> None:
    """The files `open` is tested with: valid.json opens, everything else is refused."""
    for f in iter_corpus_files():
        if f.suffix not in (".json", ".txt"):
            continue
        try:
            files.load_session(str(f))
        except DevmemError as e:
            assert f.name != "valid.json", e
            assert "\n" not in str(e)
        else:
            assert f.name == "valid.json", f"{f.name} opened"
    doc = json.loads((CORPUS_DIR / "newer-version.json").read_text())
    assert doc["version"] > state.VERSION
