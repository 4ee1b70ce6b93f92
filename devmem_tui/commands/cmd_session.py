"""Session and scenario commands: save, open, export, record, say, expect, pause, exit.

``save``/``open`` write and read the versioned session JSON (engine/session_json.py) through
files.py. ``record FILE`` attaches a ``commands.recorder.Recorder``. ``say``, ``expect`` and
``pause`` are the scenario-only words (group "scenario", see ``CommandSpec.scenario_only``).
"""

from __future__ import annotations

import os
import re

from devmem_tui import files
from devmem_tui.commands import snapshots
from devmem_tui.commands.grammar import quote_word
from devmem_tui.commands.policy_svg import sweep_svg
from devmem_tui.commands.recorder import start_recording, stop_recording
from devmem_tui.commands.registry import (
    ConfirmNeeded,
    Result,
    UsageError,
    expect_args,
    usage_error,
)
from devmem_tui.commands.session import REGISTRY, Session, command
from devmem_tui.commands.sweeps import parse_job
from devmem_tui.engine.devmem.verdict import Outcome
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.snapshot import export as snapshot_export
from devmem_tui.engine.snapshot import format as snapshot_format
from devmem_tui.engine.snapshot.format import Snapshot

OUTCOME_WORDS: tuple[str, ...] = tuple(o.value for o in Outcome)


# ----------------------------------------------------------------------------- save / open
@command(
    "save",
    "save FILE",
    summary="save the whole session (map, devices, config, mappings, clock) as JSON",
    help="Written atomically (a temp file, then rename). 'open FILE' restores it exactly.",
    group="session",
    mutates=False,
)
def cmd_save(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["save"], args, 1)
    path = session.user_path(args[0], writing=True)
    files.save_session(session.machine, path)
    m = session.machine
    return Result(
        True,
        "DONE",
        f"saved {args[0]} (machine {m.name}, {len(m.tree)} resources, "
        f"{len(m.vmem)} virtio-mem devices, {len(m.mappings)} mappings)",
        data={"path": path},
    )


@command(
    "open",
    "open FILE",
    summary="restore a session saved with 'save', or open a machine snapshot "
    "('devmem-tui snapshot')",
    help="A session replaces the machine and its config exactly. A snapshot builds its\n"
    "machine as 'load snapshot FILE' does.\n"
    "A file that is not a session or a snapshot, is truncated or was written by a newer\n"
    "devmem-tui is refused with one line; the current session then stays as it was. A\n"
    "saved /proc/iomem text is read with 'load iomem FILE' instead.",
    group="session",
)
def cmd_open(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["open"], args, 1)
    path = session.user_path(args[0])
    try:
        doc = files.load_document(path)  # a new machine or a parsed snapshot, or raises
    except DevmemError as e:
        if _looks_like_iomem(path):
            raise DevmemError(
                f"{args[0]} is a /proc/iomem text, not a saved session: "
                f"use 'load iomem {quote_word(args[0])}'"
            ) from None
        raise e from None
    if isinstance(doc, Snapshot):
        return snapshots.load(session, doc, "opened")
    machine = doc
    session.replace_machine(machine)
    return Result(
        True,
        "DONE",
        f"opened {args[0]} (machine {machine.name}, kernel "
        f"{machine.config.short()}, {len(machine.vmem)} virtio-mem devices, "
        f"{len(machine.mappings)} mappings)",
        data={"path": args[0]},
    )


_IOMEM_LINE = re.compile(r"^\s*[0-9a-fA-F]+-[0-9a-fA-F]+ : \S")


def _looks_like_iomem(path: str) -> bool:
    """Whether a file that is not a session starts like /proc/iomem (``0-fff : Reserved``)."""
    try:
        text = files.read_text(path)
    except DevmemError:
        return False
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return bool(_IOMEM_LINE.match(first))


# ----------------------------------------------------------------------------- export
@command(
    "export",
    "export svg|iomem|json|snapshot FILE",
    "export policy-map FILE [read|write|mmap|kcore] [RANGE]",
    "export policy-map FILE [read|write|mmap|kcore] [RANGE] --vs KEY=VALUE...",
    "export policy-map FILE [read|write|mmap|kcore] [RANGE] --vs-saved FILE",
    summary="write a screenshot (TUI only), the map as annotated /proc/iomem text, the "
    "session as JSON, the machine as a snapshot, or a policy-map picture",
    forms=(
        "a screenshot (TUI only), annotated /proc/iomem text, the session, or a snapshot",
        "the sweep of OP (default read) as an SVG picture",
        "a picture of what changes under the config with these keys changed",
        "a picture of what changes against a saved session or a snapshot",
    ),
    help="export iomem FILE     the map with [flags] annotations; 'load iomem FILE' reads it\n"
    "export json FILE      the same JSON document as 'save'\n"
    "export snapshot FILE  the machine as 'devmem-tui snapshot' would have read it: the\n"
    "                      map, the config as kernel config and command line, memory\n"
    "                      blocks, virtio-mem devices; 'open FILE' builds it again\n"
    "export svg FILE       a screenshot of the TUI (only inside the TUI)\n"
    "export policy-map FILE.svg [OP] [RANGE] [--vs KEY=VALUE...]\n"
    "                      the 'sweep' of OP (default read) as a standalone SVG picture:\n"
    "                      the address space as a strip of ranges coloured by outcome,\n"
    "                      labelled, with a legend and the config in the title; with --vs\n"
    "                      (or --vs-saved FILE) before and after side by side, changes\n"
    "                      outlined\n"
    "Example: export policy-map map.svg mmap --vs kernel=5.15",
    group="session",
    mutates=False,
)
def cmd_export(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["export"]
    if args and args[0].lower() == "policy-map":
        return _export_policy_map(session, args[1:])
    expect_args(spec, args, 2)
    what, path = args[0].lower(), session.user_path(args[1], writing=True)
    if what == "svg":
        exporter = session.export_svg  # set by the TUI while it runs
        if exporter is None:
            raise UsageError("export svg needs the TUI (start devmem-tui without a subcommand)")
        files.check_path(path, writing=True)
        exporter(path)
        return Result(True, "DONE", f"exported screenshot to {args[1]}", data={"path": path})
    if what == "json":
        files.save_session(session.machine, path)
        return Result(True, "DONE", f"exported session JSON to {args[1]}", data={"path": path})
    if what == "snapshot":
        snap = snapshot_export.from_machine(session.machine, snapshots.tool())
        files.write_atomic(path, snapshot_format.render(snap))
        return Result(
            True, "DONE", f"exported the machine as a snapshot to {args[1]}", data={"path": path}
        )
    if what == "iomem":
        # the map with flag annotations, as 'iomem --flags' prints it: 'load iomem' reads it back
        files.check_target(path)  # before rendering a big map
        text = iomem_text.render(session.machine.tree, flags=True)
        files.write_atomic(path, text)
        return Result(
            True,
            "DONE",
            f"exported the map ({len(session.machine.tree)} resources) to {args[1]}",
            data={"path": path},
        )
    raise UsageError(f"export: unknown format {args[0]!r}; usage: {spec.usages[0]}")


def _export_policy_map(session: Session, args: list[str]) -> Result:
    """``export policy-map FILE [OP] [RANGE] [--vs ...]``: everything is checked (the file
    name, the arguments, a --vs-saved file) before the picture is drawn and written."""
    if not args or args[0].startswith("--"):
        raise UsageError("export policy-map: missing FILE (e.g. export policy-map map.svg)")
    path = session.user_path(args[0], writing=True)
    files.check_path(path, writing=True)
    if os.path.isdir(path):
        raise UsageError(f"export policy-map: {args[0]} is a directory")
    job = parse_job(
        session.machine,
        args[1:],
        "export policy-map",
        op_optional=True,
        open_path=session.user_path,
    )
    svg = sweep_svg(job)
    files.write_atomic(path, svg)
    what = f"{len(job.diff)} changed" if job.other is not None else f"{len(job.rows)}"
    return Result(
        True,
        "DONE",
        f"exported the {job.op} policy map ({what} ranges, {job.range_text}) to {args[0]}",
        data={"path": path, "op": job.op, "range": [job.lo, job.hi]},
    )


# ----------------------------------------------------------------------------- record
@command(
    "record",
    "record FILE [force]",
    "record stop",
    summary="write every following command and its outcome to FILE as a scenario",
    forms=(
        "write every following command and its outcome to FILE as a scenario",
        "stop recording",
    ),
    help="Each command is written with an 'expect OUTCOME' line after it; usage errors\n"
    "become comments. 'record stop' ends it. Play the file with 'devmem-tui play FILE'.\n"
    "If the session is not fresh when recording starts, the file first restores it\n"
    "(set/machine lines, or 'open' of a FILE.start.json snapshot saved beside it).\n"
    "An existing FILE is replaced only with 'force' (the REPL and the TUI ask first).",
    group="session",
    mutates=False,
)
def cmd_record(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["record"]
    expect_args(spec, args, 1, 2)
    force = len(args) == 2
    if force and args[1] != "force":
        raise usage_error(spec, f"record: unknown option {args[1]!r} (force)")
    if args[0] == "stop":
        if force:
            raise usage_error(spec, "record stop: unexpected argument 'force'")
        rec = stop_recording(session)
        if rec is None:
            raise UsageError("record stop: not recording")
        return Result(True, "DONE", f"recording stopped: {rec.commands} commands in {rec.path}")
    if session.recorder is not None:
        raise UsageError(f"already recording to {session.recorder.path}; 'record stop' first")
    path = session.user_path(args[0], writing=True)
    files.check_path(path, writing=True)  # never /dev/mem, a device node or a FIFO
    if os.path.isdir(path):
        raise UsageError(f"record: {args[0]} is a directory")
    if not force and files.exists_nonempty(path):
        again = f"record {quote_word(args[0])} force"
        raise ConfirmNeeded(
            f"record: {args[0]} exists; '{again}' replaces it",
            f"{args[0]} exists. Replace it with a new recording?",
            again,
        )
    start_recording(session, path, args[0])
    return Result(
        True, "DONE", f"recording to {args[0]}; 'record stop' ends it", data={"path": path}
    )


# ----------------------------------------------------------------------------- scenario
def parse_expect(args: list[str]) -> tuple[str, str]:
    """``expect OUTCOME`` -> ("outcome", WORD); ``expect output TEXT`` -> ("output", TEXT).
    Raises UsageError for anything else (the player uses this to check files up front)."""
    spec = REGISTRY["expect"]
    if not args:
        raise UsageError(f"expect: missing outcome; usage: {' | '.join(spec.usages)}")
    if args[0] == "output":
        if len(args) < 2:
            raise UsageError("expect output: missing TEXT")
        return "output", " ".join(args[1:])
    word = args[0]
    if word not in OUTCOME_WORDS:
        hint = f"; did you mean {word.upper()}?" if word.upper() in OUTCOME_WORDS else ""
        raise UsageError(
            f"expect: unknown outcome {word!r}{hint} (outcomes: {', '.join(OUTCOME_WORDS)})"
        )
    if len(args) > 1:
        raise UsageError(f"expect: unexpected argument {args[1]!r}")
    return "outcome", word


@command(
    "expect",
    "expect OUTCOME",
    "expect output TEXT",
    summary="scenario check: the previous command's outcome, or that its output contains TEXT",
    forms=(
        "scenario check: the previous command's outcome",
        "scenario check: the previous command's output contains TEXT",
    ),
    help="A failed expect is reported as file:line: expected EPERM, got OK (read 0x100000)\n"
    "and makes 'devmem-tui play' exit 1.",
    group="scenario",
    mutates=False,
)
def cmd_expect(session: Session, args: list[str]) -> Result:
    kind, want = parse_expect(args)
    last = session.last_result
    if last is None:
        return Result(False, None, "expect: no command ran before it", expect_failed=True)
    got = last.outcome if last.outcome is not None else "an error"
    # the command as typed, on the one line of this message even if it held a line break
    cmd = iomem_text.escape_controls(last.command).replace("\n", "\\x0a")
    if kind == "outcome":
        if last.outcome == want:
            return Result(True, "DONE", f"expect {want}: ok")
        return Result(False, None, f"expected {want}, got {got} ({cmd})", expect_failed=True)
    if want in last.message:
        return Result(True, "DONE", f"expect output {want!r}: ok")
    first = last.message.splitlines()[0] if last.message else ""
    return Result(
        False,
        None,
        f"expected output containing {want!r}, got {first!r} ({cmd})",
        expect_failed=True,
    )


@command(
    "say",
    "say TEXT",
    summary="scenario narration: show TEXT",
    help="Quote text that contains '#', which otherwise starts a comment.",
    group="scenario",
    mutates=False,
)
def cmd_say(session: Session, args: list[str]) -> Result:
    text = " ".join(args)
    return Result(True, "DONE", text, data={"say": text})


@command(
    "pause",
    "pause",
    summary="scenario step point: the TUI stops here until you continue; headless it is a no-op",
    group="scenario",
    mutates=False,
)
def cmd_pause(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["pause"], args, 0)
    return Result(True, "DONE", "pause", data={"pause": True})


@command(
    "exit",
    "exit",
    summary="leave the REPL (also: quit, Ctrl-D); in a script, stop there",
    group="general",
    mutates=False,
    aliases=("quit",),
)
def cmd_exit(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["exit"], args, 0)
    return Result(True, "DONE", "", data={"exit": True})
