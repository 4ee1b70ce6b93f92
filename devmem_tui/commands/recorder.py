"""The ``record FILE`` recorder, and the rewriting of file arguments between directories that
recording and playback share.

A ``Recorder`` sits on the session's listeners: every later command is appended to FILE as a
scenario line followed by ``expect OUTCOME``, so the file plays back green. A relative file
name in a recorded line is rewritten to be relative to FILE's directory, and a scenario's
file names are read relative to its directory again when it plays (``relocate_paths``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from devmem_tui import files
from devmem_tui.commands.grammar import file_arg_indexes, quote_word, split_line
from devmem_tui.commands.registry import Result, UsageError
from devmem_tui.commands.session import DEFAULT_PRESET, Session, lookup
from devmem_tui.engine import presets
from devmem_tui.engine import session_json as state
from devmem_tui.engine.config import KEYS, KernelConfig
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.machine import Machine

# Commands the recorder never writes: they steer the recording or the front end itself.
NOT_RECORDED = frozenset({"record", "exit"})


def relocate_paths(text: str, from_dir: str, to_dir: str) -> str:
    """Rewrite the relative file arguments of one command line so that, read from to_dir,
    they name the same files they named from from_dir. Other words are kept."""
    words = split_line(text)
    if len(words) < 2:
        return text
    try:
        spec = lookup(words[0])
    except UsageError:
        return text
    args = words[1:]
    changed = False
    for i in file_arg_indexes(spec, args):
        p = args[i]
        if os.path.isabs(p) or p.startswith("~"):
            continue
        new = os.path.relpath(os.path.join(from_dir, p), to_dir)
        if new != p:
            args[i] = new
            changed = True
    if not changed:
        return text
    return " ".join(quote_word(w) for w in [words[0], *args])


@dataclass
class Recorder:
    """Appends each executed command and its outcome to a scenario file."""

    path: str
    session: Session
    commands: int = 0
    preamble: list[str] = field(default_factory=list)

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    def write(self, lines: list[str]) -> None:
        files.append_text(self.path, "".join(line + "\n" for line in lines))

    def __call__(self, text: str, result: Result) -> None:
        words = split_line(text)
        if not words:
            return
        try:
            spec = lookup(words[0])
        except UsageError:
            spec = None
        if spec is not None and spec.name in NOT_RECORDED:
            return
        line = relocate_paths(text, os.getcwd(), self.base_dir)
        if spec is not None and spec.name == "expect":
            lines = [line] if result.ok else [f"# {line}", f"#   (failed: {result.message})"]
        elif spec is not None and spec.scenario_only:
            lines = [line]
        elif result.outcome is None:
            first = result.message.splitlines()[0] if result.message else "error"
            lines = [f"# {line}", f"#   -> {first}"]
        else:
            lines = [line, f"expect {result.outcome}"]
        try:
            self.write(lines)
            self.commands += 1
        except DevmemError as e:
            stop_recording(self.session)
            reason = str(e).removeprefix(f"cannot write {self.path}: ")
            result.message += f"\nwarning: recording to {self.path} stopped: {reason}"


def start_recording(session: Session, path: str, shown: str) -> Recorder:
    """Write FILE's header (and the preamble that restores the session) and attach a
    recorder. ``shown`` is the file name as the user gave it, for messages."""
    rec = Recorder(path, session)
    rec.preamble = _preamble(session, path)
    header = [
        "# devmem-tui scenario written by 'record'; play it with: devmem-tui play "
        + os.path.basename(path),
        f"# started on kernel {session.config.short()}, machine {session.machine.name}",
        *rec.preamble,
    ]
    try:  # replaces an existing file at once and whole (cmd_record asked for 'force')
        files.write_atomic(path, "".join(line + "\n" for line in header))
    except DevmemError as e:
        raise DevmemError(str(e).replace(path, shown, 1)) from None
    session.recorder = rec
    session.listeners.append(rec)
    return rec


def stop_recording(session: Session) -> Recorder | None:
    rec = session.recorder
    if not isinstance(rec, Recorder):
        return None
    if rec in session.listeners:
        session.listeners.remove(rec)
    session.recorder = None
    return rec


def _preamble(session: Session, path: str) -> list[str]:
    """Lines that bring a fresh default session (where playback starts) to the current
    state: nothing when it is fresh, `set` + `machine` lines when only the config or preset
    differ, else a snapshot saved next to the scenario and an `open` of it."""
    m = session.machine
    defaults = KernelConfig()
    try:
        # A saved machine names its preset: any other name differs from both presets (the
        # name is part of the state), so a big generated map is not serialized to find out.
        if m.name not in presets.PRESETS:
            raise LookupError(m.name)
        current = state.to_dict(m)
        if current == state.to_dict(Machine.from_preset(DEFAULT_PRESET)):
            return []
        if current == state.to_dict(Machine.from_preset(m.name, m.config.copy())):
            lines = [
                f"set {k} {m.config.get(k)}" for k in KEYS if m.config.get(k) != defaults.get(k)
            ]
            return [*lines, f"machine {m.name}"]
    except Exception:  # not a preset machine (or one that fails to build): snapshot it
        pass
    root, _ = os.path.splitext(path)
    snap = root + ".start.json"
    files.save_session(m, snap)
    rel = os.path.relpath(snap, os.path.dirname(os.path.abspath(path)))
    return [
        "# the session as it was when recording started (saved by 'record')",
        f"open {quote_word(rel)}",
        "expect DONE",
    ]
