"""A session does not grow with its history: the machine's event queue is bounded, the front
ends without views (run, play, the REPL) drop events as they come, scripts are read one line
at a time, and the TUI keeps a bounded transcript and result list. Also the mapping table's
version, which the TUI's badges compare instead of every mapping."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from devmem_tui.commands.session import Session
from devmem_tui.engine.interfaces import MAX_EVENTS, EventKind
from devmem_tui.files import iter_lines
from devmem_tui.frontends.cli import run_commands
from devmem_tui.frontends.play import play_files
from devmem_tui.frontends.repl import handle_line
from devmem_tui.frontends.tui.app import keep_last
from devmem_tui.frontends.tui.policy import state_key
from devmem_tui.scenario import script

RESIZES = ["vmem resize vmem0 256M", "vmem resize vmem0 0"]


@given(st.text(alphabet="ab \t\n\r\x0b\x0c\x1c\x85\u2028#;", max_size=40))
def test_iter_lines_splits_at_lf_crlf_and_cr_only(text: str) -> None:
    """splitlines() without its extra breaks (VT, FF, FS, NEL, U+2028: a name holding one must
    not become a line of its own), one line at a time."""
    unified = text.replace("\r\n", "\n").replace("\r", "\n")
    assert list(iter_lines(text)) == (unified.removesuffix("\n").split("\n") if unified else [])


def test_event_queue_overflows_into_one_event() -> None:
    s = Session.new()
    m = s.machine
    m.drain_events()
    for i in range(MAX_EVENTS + 5):
        m.emit(EventKind.CLOCK, f"tick {i}")
    assert len(m.events) <= MAX_EVENTS
    assert m.events[0].kind is EventKind.OVERFLOW
    assert m.events[-1].what == f"tick {MAX_EVENTS + 4}"


def test_run_drops_events_as_it_goes() -> None:
    s = Session.new()
    lines = [(i, RESIZES[i % 2]) for i in range(1, 41)]
    assert run_commands(s, lines, io.StringIO(), as_json=False) == 0
    assert s.machine.events == []


def test_repl_drops_events_as_it_goes() -> None:
    s = Session.new()
    handle_line(s, "; ".join(RESIZES * 5), io.StringIO(), tty=False)
    assert s.machine.events == []


def test_play_streams_steps_and_drops_events(tmp_path: Path) -> None:
    path = tmp_path / "resize.scenario"
    path.write_text("say resizing\n" + "\n".join(RESIZES * 20) + "\nexpect DONE\n")
    sessions: list[Session] = []

    def new() -> Session:
        sessions.append(Session.new())
        return sessions[-1]

    out = io.StringIO()
    assert play_files([str(path)], new, out) == 0
    assert sessions[0].machine.events == []
    # the streamed steps are the checked ones
    assert list(script.stream_steps(str(path))) == script.load_scenario(str(path)).steps
    assert "42 steps, ok" in out.getvalue()
    assert out.getvalue().splitlines()[1] == "resizing"  # no blank line before the first say


def test_keep_last_bounds_a_list() -> None:
    items: list[int] = []
    for i in range(1000):
        items.append(i)
        keep_last(items, 10)
        assert len(items) < 20
    assert items[-10:] == list(range(990, 1000))


def test_mapping_version_follows_changes_and_their_undo() -> None:
    s = Session.new()
    m = s.machine
    key = state_key(m)
    r = s.execute("compare mmap 0xc0000000 4096")  # runs mmaps and undoes them
    assert r is not None and r.ok
    assert state_key(m) == key  # nothing changed: the badges are not swept again
    r = s.execute("mmap 0xc0000000 4096")
    assert r is not None and r.ok
    after = state_key(m)
    assert after != key
    txn = m.begin()
    s.execute("munmap m1")
    assert state_key(m) != after
    m.rollback(txn)
    assert state_key(m) == after
