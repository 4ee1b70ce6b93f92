"""A Session: the machine being explored plus what the command layer remembers between lines,
and ``COMMANDS``, the one registry of commands a session runs.

``Session.execute(line)`` is the single way in for the REPL, the TUI and scenarios;
``Session.execute_all(line)`` runs a typed line that may chain commands with ``;``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from devmem_tui import files
from devmem_tui.commands.grammar import split_commands, split_line
from devmem_tui.commands.registry import CommandSpec, Registry, Result
from devmem_tui.commands.settings import Settings
from devmem_tui.engine import session_json as state
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import EventKind
from devmem_tui.engine.machine import Machine

DEFAULT_PRESET = "qemu-x86-virtio-mem"

# The safety net (docs/errors.md): before a command whose spec says it mutates, the machine is
# serialized (state.to_dict, ~1 ms on the default preset, 20-25 us per resource) so that a
# handler that raises after changing something can be undone. Above this many resources the
# snapshot would cost more than the command (about 20 ms at 1k, 2.6 s at 100k), so big maps
# rely on the handlers' validate-first contract alone.
SNAPSHOT_MAX_RESOURCES = 1000


@dataclass
class Snapshot:
    """The session's machine before a mutating command: the object and its serialized state
    (None when the map is too large to snapshot cheaply)."""

    machine: Machine
    doc: dict[str, Any] | None
    why_not: str = ""  # why doc is None


def take_snapshot(machine: Machine) -> Snapshot:
    if len(machine.tree) > SNAPSHOT_MAX_RESOURCES:
        return Snapshot(machine, None, "too large to snapshot")
    try:
        return Snapshot(machine, state.to_dict(machine))
    except Exception as e:  # noqa: BLE001 - a machine state cannot serialize: run unprotected
        return Snapshot(machine, None, f"no snapshot: {type(e).__name__}")


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
        snap: Snapshot | None = None
        spec: CommandSpec[Session] | None = None
        try:
            spec = COMMANDS.lookup(words[0])
            if spec.mutates:
                snap = take_snapshot(self.machine)
            result = spec.handler(self, words[1:])
        except DevmemError as e:
            result = Result(False, None, f"error: {e}")
            self._undo(snap)
        except RecursionError:
            result = Result(False, None, "error: input nested too deeply")
            self._undo(snap)
        except Exception as e:  # a bug must not kill a front end: report it on one line
            detail = " ".join(str(e).split())[:200]
            result = Result(
                False, None, f"internal error: {type(e).__name__}: {detail}" + self._undo(snap)
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

    def _undo(self, snap: Snapshot | None) -> str:
        """After a failed mutating command: put the machine back as it was if the handler
        changed it. Returns a note for an internal error's message ('' when nothing changed)."""
        if snap is None:
            return ""
        if snap.doc is None:  # too large to have been snapshotted
            if self.machine is not snap.machine:
                self.machine = snap.machine
            return f"; the machine may be partly changed ({snap.why_not})"
        try:
            if state.to_dict(snap.machine) == snap.doc:
                if self.machine is snap.machine:
                    return ""
                restored = snap.machine  # a half-finished replace: keep the old object
            else:
                restored = state.from_dict(snap.doc)
        except Exception as e:  # noqa: BLE001 - the machine is too broken to compare
            try:
                restored = state.from_dict(snap.doc)
            except Exception:  # noqa: BLE001
                return f"; the machine could not be restored ({type(e).__name__})"
        self.machine = restored
        restored.drain_events()
        restored.emit(EventKind.MACHINE, restored.name)  # views redraw everything
        return "; its changes were undone"


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
