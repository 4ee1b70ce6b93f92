"""The REPL, driven through prompt_toolkit pipe input: completion, history, Ctrl-C, Ctrl-D,
errors, exit; plus the lexer, toolbar and the plain (non-terminal) loop."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.base import PipeInput
from prompt_toolkit.output import DummyOutput

from devmem_tui.commands.session import Session
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree
from devmem_tui.engine.machine import Machine
from devmem_tui.frontends import repl as repl_mod
from devmem_tui.frontends.repl import (
    Pager,
    Repl,
    history_path,
    lex_line,
    run_pager,
    run_repl,
    toolbar_fragments,
)

TIMEOUT = 5.0


def small_session() -> Session:
    tree = ResourceTree()
    tree.add_child(tree.root, Resource(0x1000, 0x9FFFF, "System RAM", F.MEM | F.SYSRAM | F.BUSY))
    return Session(Machine(tree))


class Driver:
    """Types into a real PromptSession from a helper thread while the REPL loop runs in
    the test's thread; each step waits for the REPL to be ready for it."""

    def __init__(self, inp: PipeInput, repl: Repl, out: io.StringIO) -> None:
        self.inp, self.repl, self.out = inp, repl, out
        self.failures: list[str] = []

    @property
    def buffer_text(self) -> str:
        return self.repl.prompt_session.default_buffer.text

    def wait(self, what: str, pred: Callable[[], object]) -> bool:
        end = time.monotonic() + TIMEOUT
        while not pred():
            if time.monotonic() > end:
                self.failures.append(f"timed out waiting for {what} (buffer {self.buffer_text!r})")
                return False
            time.sleep(0.002)
        return True

    def send(self, text: str) -> None:
        self.inp.send_text(text)

    def line(self, text: str, then: str) -> None:
        """Type a line, press Enter, wait until `then` appears in the output."""
        self.send(text + "\r")
        self.wait(repr(then), lambda: then in self.out.getvalue())

    def complete(self, typed: str, expect: str) -> None:
        """Type, wait for the completion menu, press Tab: the first completion is taken."""
        self.send(typed)
        buf = self.repl.prompt_session.default_buffer
        self.wait(
            f"completions for {typed!r}",
            lambda: buf.complete_state is not None and buf.complete_state.completions,
        )
        self.send("\t")
        self.wait(f"{expect!r} in the buffer", lambda: self.buffer_text == expect)


def drive(
    session: Session,
    script: Callable[[Driver], None],
    history: History | None = None,
    tty: bool | None = None,
    pager: Pager | None = None,
) -> tuple[str, Driver, int]:
    out = io.StringIO()
    with create_pipe_input() as inp:
        repl = Repl(
            session,
            input=inp,
            output=DummyOutput(),
            history=history if history is not None else InMemoryHistory(),
            out=out,
            tty=tty,
            pager=pager,
        )
        driver = Driver(inp, repl, out)

        def run_script() -> None:
            try:
                script(driver)
            finally:
                inp.send_text("\x04")  # Ctrl-D: always end the loop

        th = threading.Thread(target=run_script, daemon=True)
        th.start()
        code = repl.run()
        th.join(TIMEOUT)
    return out.getvalue(), driver, code


def test_completion_then_run() -> None:
    session = small_session()

    def script(d: Driver) -> None:
        d.complete("conf", "config")
        d.line("", "strict_devmem")
        d.complete("set iomem rel", "set iomem relaxed")
        d.line("", "iomem = relaxed")

    out, d, code = drive(session, script)
    assert d.failures == []
    assert code == 0
    assert session.config.iomem == "relaxed"
    assert "derived:" in out


def test_wrong_command_is_one_line_then_a_right_one_runs() -> None:
    session = small_session()

    def script(d: Driver) -> None:
        d.line("set iomem sideways", "valid values")
        d.line("frobnicate", "unknown command")
        d.line("set iomem strict", "iomem = strict")

    out, d, _ = drive(session, script)
    assert d.failures == []
    lines = out.splitlines()
    assert lines[0] == "error: iomem cannot be 'sideways'; valid values: default, strict, relaxed"
    assert lines[1].startswith("error: unknown command 'frobnicate'")
    assert "Traceback" not in out
    assert session.config.iomem == "strict"


def test_ctrl_c_cancels_the_line_and_ctrl_d_exits() -> None:
    session = small_session()
    history = InMemoryHistory()

    def script(d: Driver) -> None:
        d.send("set iomem relaxed")
        d.wait("typed text", lambda: d.buffer_text == "set iomem relaxed")
        d.send("\x03")  # Ctrl-C: the line is dropped, the REPL goes on
        d.wait("an empty prompt", lambda: d.buffer_text == "")
        d.line("set kernel 5.15", "kernel = 5.15.0")

    out, d, code = drive(session, script, history)
    assert d.failures == []
    assert code == 0
    assert session.config.iomem == "default"  # the cancelled line never ran
    assert session.config.kernel == "5.15.0"
    assert list(history.get_strings()) == ["set kernel 5.15"]


def test_history_recall_with_up_arrow() -> None:
    session = small_session()

    def script(d: Driver) -> None:
        d.line("set kernel 5.15", "kernel = 5.15.0")
        d.line("set kernel 6.1", "kernel = 6.1")
        d.send("\x1b[A\x1b[A")  # Up, Up
        d.wait("recalled line", lambda: d.buffer_text == "set kernel 5.15")
        d.send("\r")
        d.wait("second run", lambda: d.out.getvalue().count("kernel = 5.15.0") == 2)

    _, d, _ = drive(session, script)
    assert d.failures == []
    assert session.config.kernel == "5.15.0"


def test_file_history_persists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hist = tmp_path / "sub" / "hist"
    monkeypatch.setenv("DEVMEM_TUI_HISTORY", str(hist))
    h = repl_mod.make_history()
    assert isinstance(h, FileHistory)

    def script(d: Driver) -> None:
        d.line("set iomem strict", "iomem = strict")

    _, d, _ = drive(small_session(), script, h)
    assert d.failures == []
    assert "+set iomem strict" in hist.read_text()
    # a new REPL sees it
    assert "set iomem strict" in list(repl_mod.make_history().load_history_strings())


def test_history_path_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEVMEM_TUI_HISTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == str(tmp_path / "devmem-tui" / "history")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == str(tmp_path / ".local" / "state" / "devmem-tui" / "history")


def test_unusable_history_falls_back_to_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("DEVMEM_TUI_HISTORY", str(tmp_path / "file" / "hist"))
    assert isinstance(repl_mod.make_history(), InMemoryHistory)


def test_exit_and_help() -> None:
    session = small_session()

    def script(d: Driver) -> None:
        d.line("?", "'help COMMAND' explains one command.")
        d.line("help set", "set KEY VALUE")
        d.send("quit\r")

    out, d, code = drive(session, script)
    assert d.failures == []
    assert code == 0


def pairs(line: str) -> dict[str, str]:
    return {frag[1]: frag[0] for frag in lex_line(line)}


def test_lexer_styles_words() -> None:
    styles = pairs('set iomem 0x1000 128M "a b" # c')
    assert styles["set"] == "class:command"
    assert styles["0x1000"] == "class:number"
    assert styles["128M"] == "class:number"
    assert styles['"a b"'] == "class:string"
    assert styles["# c"] == "class:comment"
    assert pairs("frob 1")["frob"] == "class:unknown"
    assert pairs("rea")["rea"] == ""  # a command word being typed is not an error yet
    assert pairs("expect EPERM")["EPERM"] == "class:outcome"
    assert pairs("export json x")["json"] == "class:keyword"


def test_toolbar_shows_config_mappings_and_recording(tmp_path: Path) -> None:
    session = small_session()
    session.machine.mappings["m1"] = Mapping("m1", 0x1000, 0x1000)
    text = "".join(frag[1] for frag in toolbar_fragments(session))
    assert "kernel 6.16.0 x86_64" in text
    assert "STRICT=y" in text and "IO_STRICT=n" in text
    assert "iomem=default" in text and "high_memory=0xa0000" in text and "maps=1" in text
    assert "REC" not in text
    session.execute(f"record {tmp_path / 'r.scenario'}")
    session.execute("set io_strict_devmem on")
    text = "".join(frag[1] for frag in toolbar_fragments(session))
    assert "REC r.scenario" in text and "IO_STRICT=y" in text
    assert "lockdown" not in text
    session.execute("set lockdown integrity")  # security_locked_down(LOCKDOWN_DEV_MEM), 5.4+
    text = "".join(frag[1] for frag in toolbar_fragments(session))
    assert "lockdown=integrity" in text


def test_plain_loop_when_stdin_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("set iomem relaxed\n\nfrob\nexit\nconfig\n"))
    out = io.StringIO()
    code = run_repl(small_session(), out=out, interactive=False)
    assert code == 0
    assert out.getvalue().splitlines() == [
        "devmem> set iomem relaxed",
        "iomem = relaxed",
        "devmem> frob",
        "error: unknown command 'frob'; type 'help' for the list",
        "devmem> exit",
    ]


@pytest.fixture(autouse=True)
def _no_pager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DEVMEM_TUI_NO_PAGER", "1")
    yield


def test_history_refuses_a_kernel_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    from prompt_toolkit.history import InMemoryHistory

    from devmem_tui.frontends.repl import make_history

    monkeypatch.setenv("DEVMEM_TUI_HISTORY", "/dev/mem")
    assert isinstance(make_history(), InMemoryHistory)


# ----------------------------------------------------------------------------- ';' chains
def test_semicolons_chain_commands_as_everywhere() -> None:
    """The README's chained lines work as typed: each command runs and is echoed."""
    session = Session.new()

    def script(d: Driver) -> None:
        d.line("set io_strict_devmem on; read 0xfec00000", "EPERM")
        d.line('say "a; b"; config # frob; frob', "virtio-mem driver")

    out, d, _ = drive(session, script)
    assert d.failures == []
    lines = out.splitlines()
    assert lines[:4] == [
        "> set io_strict_devmem on",
        "io_strict_devmem = on",
        "> read 0xfec00000",
        "read 0xfec00000: EPERM (page 0xfec00000 is denied; nothing was read)",
    ]
    assert "a; b" in lines  # a quoted ';' is text
    assert "unknown command" not in out  # a ';' in a comment separates nothing
    assert session.config.io_strict_devmem is True


def test_trace_setting_short_and_off() -> None:
    session = Session.new()

    def script(d: Driver) -> None:
        d.line("set trace short; read 0x100000", "EPERM")
        d.line("set trace off; read 0x1000", "ZEROS")

    out, d, _ = drive(session, script)
    assert d.failures == []
    first, second = out.split("> set trace off")
    assert "    devmem_is_allowed(0x100): System RAM" in first
    assert "valid_phys_addr_range" not in first  # short: the deciding check only
    assert "    " not in second  # off: no trace lines
    # a front-end setting, not kernel config: not in the config, not saved
    assert "trace" not in session.config.to_dict()


# ----------------------------------------------------------------------------- pager, NO_COLOR
TALL = "iomem"  # the default map: ~40 lines


def paged_session() -> tuple[Session, list[str], Pager]:
    pages: list[str] = []
    return Session.new(), pages, Pager(rows=lambda: 24, run=pages.append)


def test_tall_output_is_paged_with_colours_short_output_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEVMEM_TUI_NO_PAGER")
    monkeypatch.delenv("NO_COLOR", raising=False)
    session, pages, pager = paged_session()

    def script(d: Driver) -> None:
        d.line("read 0x100000", "EPERM")  # 4 lines: printed
        d.send(TALL + "\r")
        d.wait("the pager", lambda: len(pages) == 1)
        d.line("set pager off", "pager = off")
        d.line(TALL, "virtio0")

    out, d, _ = drive(session, script, tty=True, pager=pager)
    assert d.failures == []
    assert len(pages) == 1 and "140000000-53fffffff : virtio0" in pages[0]
    assert "\x1b[2m    valid_phys_addr_range" in out  # colours on a terminal: dim trace
    assert out.count("140000000-53fffffff : virtio0") == 1  # pager off: printed


def test_no_color_keeps_the_pager_and_drops_the_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR turns colour off, not paging: a tall result still goes to the pager, as
    plain text."""
    monkeypatch.delenv("DEVMEM_TUI_NO_PAGER")
    monkeypatch.setenv("NO_COLOR", "1")
    session, pages, pager = paged_session()

    def script(d: Driver) -> None:
        d.line("read 0x100000", "EPERM")
        d.send("vmem resize vmem0 1G\r")  # ~40 lines of report and trace
        d.wait("the pager", lambda: len(pages) == 1)

    out, d, _ = drive(session, script, tty=True, pager=pager)
    assert d.failures == []
    assert len(pages) == 1 and "added: memory40-memory47" in pages[0]
    assert "\x1b[" not in out + pages[0]


def test_the_old_no_pager_switch_still_works() -> None:
    session, pages, pager = paged_session()  # DEVMEM_TUI_NO_PAGER=1 (autouse fixture)

    def script(d: Driver) -> None:
        d.line(TALL, "virtio0")

    _, d, _ = drive(session, script, tty=True, pager=pager)
    assert d.failures == [] and pages == []


def test_run_pager_keeps_colours_and_leaves_text_on_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like pgcli: LESS=-RXF unless LESS is set (-R colours, -X no screen clear, -F one
    screen is not paged)."""
    seen = tmp_path / "seen"
    monkeypatch.setenv("PAGER", f"sh -c 'printf %s \"$LESS\" > {seen}.less; cat > {seen}'")
    monkeypatch.delenv("LESS", raising=False)
    run_pager("\x1b[32mOK\x1b[0m")
    assert seen.read_text() == "\x1b[32mOK\x1b[0m\n"
    assert (tmp_path / "seen.less").read_text() == "-RXF"
    monkeypatch.setenv("LESS", "-R")
    run_pager("x")
    assert (tmp_path / "seen.less").read_text() == "-R"


def test_toolbar_shows_settings_that_differ() -> None:
    session = small_session()
    session.execute_all("set trace short; set pager off")
    text = "".join(frag[1] for frag in toolbar_fragments(session))
    assert "trace=short" in text and "pager=off" in text


def test_tests_never_touch_the_users_history() -> None:
    # conftest's autouse fixture: a test that runs a Repl writes its history under pytest's
    # temporary directory, not ~/.local/state/devmem-tui.
    home_state = os.path.join(os.path.expanduser("~"), ".local", "state")
    assert not history_path().startswith(home_state + os.sep)
