"""A Session: the machine being explored plus what the command layer remembers between lines,
and ``COMMANDS``, the one registry of commands a session runs.

``Session.execute(line)`` is the single way in for the REPL, the TUI and scenarios;
``Session.execute_all(line)`` runs a typed line that may chain commands with ``;``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from devmem_tui import files
from devmem_tui.commands.grammar import split_commands, split_line
from devmem_tui.commands.registry import CommandSpec, ConfirmNeeded, Registry, Result
from devmem_tui.commands.settings import Settings
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.errors import QUOTED_MAX, DevmemError, quoted
from devmem_tui.engine.interfaces import EventKind
from devmem_tui.engine.machine import Machine, Txn

DEFAULT_PRESET = "qemu-x86-virtio-mem"


@dataclass
class Transaction:
    """A mutating command's transaction on the session's machine (docs/errors.md): every
    change the handler makes is recorded in the machine's undo journal, so that one that fails
    can be undone at the cost of what it changed, at any map size."""

    machine: Machine
    txn: Txn


class Recording(Protocol):
    """A recorder on the session's listeners while `record FILE` is on
    (``commands.recorder.Recorder``)."""

    path: str

    def __call__(self, text: str, result: Result) -> None: ...


@dataclass
class Session:
    machine: Machine
    last_result: Result | None = None
    recorder: Recording | None = None
    listeners: list[Callable[[str, Result], None]] = field(default_factory=list)
    source: str = "<input>"  # file name for messages (scenarios)
    line_no: int = 0
    export_svg: Callable[[str], None] | None = None  # the TUI's screenshot, while it runs
    settings: Settings = field(default_factory=Settings)  # front-end settings (trace, pager)
    file_root: str | None = None  # file commands stay inside this folder (--file-root, serve)
    # What the front end should show before the first command (e.g. what was assumed to
    # build the machine from `--snapshot FILE`), one line each.
    start_notes: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, preset: str = DEFAULT_PRESET, config: KernelConfig | None = None) -> Session:
        return cls(Machine.from_preset(preset, config))

    @property
    def config(self) -> KernelConfig:
        return self.machine.config

    def user_path(self, name: str, writing: bool = False) -> str:
        """The path a file command opens for the name the user gave: ``~`` expanded and, when
        the session has a file root, only inside it (or, to read, inside the directory of
        the scenario being played, whose files a lesson may load)."""
        path = os.path.expanduser(name)
        if self.file_root is None:
            return path
        roots = [self.file_root]
        if not writing and os.path.isfile(self.source):
            roots.append(os.path.dirname(os.path.abspath(self.source)))
        return files.confine(path, roots, name)

    def replace_machine(self, machine: Machine) -> None:
        self.machine = machine
        machine.emit(EventKind.MACHINE, machine.name)

    def execute_all(self, line: str) -> list[Result]:
        """Run a typed line: its commands split at ';' (``grammar.split_commands``: not
        inside double quotes or a comment), each through ``execute``, in order. Stops after
        an ``exit``. Blank pieces and comments give no result."""
        results: list[Result] = []
        for piece in split_commands(line):
            result = self.execute(piece)
            if result is None:
                continue
            results.append(result)
            if result.data.get("exit"):
                break
        return results

    def execute(self, line: str) -> Result | None:
        """Run one line; None for a blank or comment line. Never raises for user input."""
        line = clean_text(line)
        words = split_line(line)
        if not words:
            return None
        text = line.strip()
        tx: Transaction | None = None
        spec: CommandSpec[Session] | None = None
        try:
            spec = COMMANDS.lookup(words[0])
            if spec.mutates:
                tx = Transaction(self.machine, self.machine.begin())
            result = spec.handler(self, words[1:])
            if tx is not None:
                tx.machine.commit(tx.txn)
        except DevmemError as e:
            result = Result(False, None, f"error: {_abbreviate(str(e), words)}")
            if isinstance(e, ConfirmNeeded):  # the REPL and the TUI ask, then run e.confirm
                result.data = {"confirm": e.confirm, "question": e.question}
            self._undo(tx)
        except RecursionError:
            result = Result(False, None, "error: input nested too deeply")
            self._undo(tx)
        except Exception as e:  # a bug must not kill a front end: report it on one line
            detail = " ".join(str(e).split())[:200]
            result = Result(
                False, None, f"internal error: {type(e).__name__}: {detail}" + self._undo(tx)
            )
        result.command = text
        if spec is None or not spec.scenario_only:
            self.last_result = result
        for listener in list(self.listeners):
            try:
                listener(text, result)
            except Exception as e:  # noqa: BLE001 - a listener's bug must not kill the front end
                if listener in self.listeners:
                    self.listeners.remove(listener)
                if listener is self.recorder:
                    self.recorder = None
                result.message += (
                    f"\nwarning: {getattr(listener, '__name__', 'a listener')} "
                    f"stopped: {type(e).__name__}: {e}"
                )
        return result

    def _undo(self, tx: Transaction | None) -> str:
        """After a failed mutating command: undo what the handler changed (the journal's
        inverse operations, newest first), and keep the machine object it started with (a
        half-finished ``open`` or ``machine``). Returns a note for an internal error's message
        ('' when nothing had changed)."""
        if tx is None:
            return ""
        machine = tx.machine
        replaced = self.machine is not machine
        self.machine = machine
        try:
            changed = machine.rollback(tx.txn)
        except Exception as e:  # noqa: BLE001 - an undo operation failed: say so, go on
            machine.emit(EventKind.MACHINE, machine.name)
            return f"; the machine could not be restored ({type(e).__name__})"
        if not (changed or replaced):
            return ""
        machine.drain_events()
        machine.emit(EventKind.MACHINE, machine.name)  # views redraw everything
        return "; its changes were undone"


def _abbreviate(message: str, words: list[str]) -> str:
    """An error that quotes a 5000-character argument quotes it cut short (``quoted``)."""
    for w in words:
        if len(w) > QUOTED_MAX:
            message = message.replace(repr(w), quoted(w))
    return message


def clean_text(line: str) -> str:
    """Undecodable bytes that a front end read with surrogateescape (argv, a non-UTF-8 stdin)
    become U+FFFD, so that no later echo, record or export fails to encode the line."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return line.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return line


# The one registry: every command of the cmd_* modules, whose handlers take a Session. The
# names below are its table and methods, as the command modules and front ends use them.
COMMANDS: Registry[Session] = Registry("devmem_tui.commands")
REGISTRY = COMMANDS.specs
ALIASES = COMMANDS.aliases
command = COMMANDS.command
lookup = COMMANDS.lookup
all_specs = COMMANDS.all_specs
load_all = COMMANDS.load_all
