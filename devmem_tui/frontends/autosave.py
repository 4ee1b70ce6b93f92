"""Autosave: the TUI keeps a journal of its session in the user's state directory, so that a
crash, a closed terminal or a killed process does not lose it; the next start offers to
restore it (never silently).

The journal is JSON Lines in ``STATE/autosave-PID.jsonl`` (STATE is ``$DEVMEM_TUI_STATE_DIR``,
else ``$XDG_STATE_HOME/devmem-tui``, else ``~/.local/state/devmem-tui``)::

    {"format": "devmem-tui-autosave", "version": 1, "pid": 4242, "started": "..."}
    {"base": {...the session as `save` writes it...}}
    {"cmd": "vmem resize vmem0 1G"}
    {"cmd": "claim 0xfebd0000+4K mydrv"}

The base is written when the journal starts and again whenever a command replaces the machine
(``open``, ``load``, ``machine``); after it, every command that succeeded and may change the
machine is appended (a few dozen bytes, not a whole session per command). Restoring rebuilds
the base and runs the commands again: the simulation is deterministic, so the machine is the
one that was left. Maps above ``MAX_RESOURCES`` are not journaled (their base would cost
seconds per start). A clean exit removes the journal.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field

from devmem_tui.commands.grammar import split_line
from devmem_tui.commands.registry import Result, UsageError
from devmem_tui.commands.session import Session, lookup
from devmem_tui.engine import session_json
from devmem_tui.engine.errors import DevmemError
from devmem_tui.files import (
    FileError,
    append_text,
    check_path,
    pid_alive,
    read_text,
    write_atomic,
)

FORMAT = "devmem-tui-autosave"
VERSION = 1
STATE_ENV = "DEVMEM_TUI_STATE_DIR"
PREFIX, SUFFIX = "autosave-", ".jsonl"
#: Larger maps are not autosaved: serializing the base costs ~13 us per resource.
MAX_RESOURCES = 10_000


def state_dir() -> str:
    """``$DEVMEM_TUI_STATE_DIR``, else ``$XDG_STATE_HOME/devmem-tui`` (XDG default
    ``~/.local/state``): where the REPL history and the TUI's autosave live."""
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return os.path.expanduser(explicit)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "devmem-tui")


@dataclass
class Leftover:
    """The journal of a session that did not end cleanly."""

    path: str
    started: str
    commands: int
    machine: str


@dataclass
class Autosave:
    """This process's journal. Every method is quiet on failure: autosave must never take
    the front end down (``problem`` says why it stopped)."""

    directory: str = field(default_factory=state_dir)
    path: str = ""
    active: bool = False
    problem: str = ""

    def __post_init__(self) -> None:
        self.path = os.path.join(self.directory, f"{PREFIX}{os.getpid()}{SUFFIX}")

    def begin(self, session: Session) -> None:
        """(Re)start the journal from the session's machine as it is now."""
        machine = session.machine
        if len(machine.tree) > MAX_RESOURCES:
            self.active = False
            self.problem = (
                f"not autosaved: the map has {len(machine.tree)} resources "
                f"(autosave keeps maps up to {MAX_RESOURCES:,}); 'save FILE' keeps it"
            )
            self.remove()
            return
        header = {
            "format": FORMAT,
            "version": VERSION,
            "pid": os.getpid(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        try:
            check_path(self.directory, writing=True)
            os.makedirs(self.directory, exist_ok=True)
            write_atomic(
                self.path,
                json.dumps(header)
                + "\n"
                + json.dumps({"base": session_json.to_dict(machine)})
                + "\n",
            )
        except (DevmemError, OSError) as e:
            self.active = False
            self.problem = f"autosave is off: {e}"
            return
        self.active = True
        self.problem = ""

    def after(self, session: Session, line: str, result: Result, replaced: bool) -> None:
        """Journal one command: a replaced machine starts a new base; a command that
        succeeded and may change the machine is appended."""
        if replaced:
            self.begin(session)
            return
        if not self.active or not result.ok or not _mutates(line):
            return
        try:
            append_text(self.path, json.dumps({"cmd": line}) + "\n")
        except DevmemError as e:
            self.active = False
            self.problem = f"autosave stopped: {e}"

    def remove(self) -> None:
        """The session ended cleanly: nothing to restore."""
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _mutates(line: str) -> bool:
    words = split_line(line)
    if not words:
        return False
    try:
        return lookup(words[0]).mutates
    except UsageError:
        return False


def _read(path: str) -> tuple[dict, dict | None, list[str]]:
    """(header, base document, commands) of a journal; FileError/ValueError when damaged."""
    lines = [ln for ln in read_text(path, "autosave journal").split("\n") if ln.strip()]
    if not lines:
        raise ValueError("empty")
    header = json.loads(lines[0])
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError("not an autosave journal")
    base = None
    cmds: list[str] = []
    for ln in lines[1:]:
        try:
            item = json.loads(ln)
        except ValueError:
            break  # a line cut short by the crash: everything before it stands
        if isinstance(item, dict) and "base" in item:
            base, cmds = item["base"], []
        elif isinstance(item, dict) and isinstance(item.get("cmd"), str):
            cmds.append(item["cmd"])
    return header, base, cmds


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    return pid_alive(pid)


def leftovers(directory: str | None = None) -> list[Leftover]:
    """Journals of sessions whose process is gone, newest first."""
    directory = directory or state_dir()
    try:
        check_path(directory)  # not even listed when it is a kernel pseudo filesystem
        names = [n for n in os.listdir(directory) if n.startswith(PREFIX) and n.endswith(SUFFIX)]
    except (FileError, OSError):
        return []
    found: list[tuple[float, Leftover]] = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            header, base, cmds = _read(path)
            mtime = os.stat(path).st_mtime
        except (FileError, ValueError, OSError):
            continue
        if base is None or _pid_alive(header.get("pid")):
            continue
        machine = base.get("name") if isinstance(base, dict) else None
        found.append(
            (
                mtime,
                Leftover(path, str(header.get("started", "?")), len(cmds), str(machine or "?")),
            )
        )
    return [lo for _, lo in sorted(found, key=lambda t: -t[0])]


def restore(session: Session, leftover: Leftover) -> str:
    """Put the journal's session into ``session``: its base, then its commands again.
    Returns a one-line report; raises DevmemError when the journal cannot be read."""
    try:
        _header, base, cmds = _read(leftover.path)
    except (ValueError, FileError) as e:
        raise DevmemError(f"autosave {leftover.path} cannot be read: {e}") from None
    if base is None:
        raise DevmemError(f"autosave {leftover.path} has no session in it")
    session.replace_machine(session_json.from_dict(base))
    failed = 0
    for line in cmds:
        result = session.execute(line)
        if result is not None and not result.ok:
            failed += 1
    session.last_result = None
    note = f"; {failed} of them failed again" if failed else ""
    return (
        f"restored the session autosaved at {leftover.started} "
        f"(machine {session.machine.name}, {len(cmds)} commands replayed{note})"
    )


def discard(leftover: Leftover) -> None:
    try:
        os.unlink(leftover.path)
    except OSError:
        pass
