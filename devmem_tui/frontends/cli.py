"""The ``devmem-tui`` command line: argument parsing, ``run``, and the dispatch to ``play``
(frontends/play.py), the REPL and the TUI.

    devmem-tui [OPTIONS]                       the Textual TUI
    devmem-tui repl [OPTIONS]                  the prompt_toolkit REPL
    devmem-tui play FILE|N... [--lesson N] [--trace [MODE]] [--json] [--tui] [--quiz]
    devmem-tui run [-c COMMANDS]... [FILE|-] [--json]
    devmem-tui lessons                         the lessons shipped with the package
    devmem-tui serve [--host H] [--port N] [--max-sessions N] [--public-url URL]
                     [--lesson N [--quiz]]
    devmem-tui snapshot [-o FILE|-] [--root DIR] [--anonymous] [--with-log FILE|-]

Front ends are imported lazily inside the functions that need them, so ``run`` and ``play``
never import textual, prompt_toolkit or textual-serve (start-up stays well under half a
second), and ``run`` never imports the scenario modules.
Every user error is one line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple, NoReturn

from devmem_tui.commands import snapshots
from devmem_tui.commands.grammar import split_commands
from devmem_tui.commands.session import DEFAULT_PRESET, Session
from devmem_tui.commands.settings import TRACE_MODES
from devmem_tui.engine.config import KEYS, KernelConfig
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem.text import MAX_INPUT_BYTES
from devmem_tui.engine.snapshot import format as snapshot_format
from devmem_tui.files import FileError, iter_lines, read_text, stdin_lines, write_atomic
from devmem_tui.frontends.output import (
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ansi,
    display,
    format_result,
    isatty,
    want_color,
)
from devmem_tui.frontends.web.options import add_serve_parser

PROG = "devmem-tui"
# What a shell reports for a process killed by SIGPIPE (128 + 13), which is what a closed
# pipe means to `cat` or `grep`; `set -o pipefail` scripts know to expect it.
EXIT_PIPE = 128 + signal.SIGPIPE

# Config key -> option name. `iomem` is the boot parameter; `--iomem` already takes a file.
OPTION_FOR_KEY: dict[str, str] = {
    key: ("--iomem-param" if key == "iomem" else "--" + key.replace("_", "-")) for key in KEYS
}


class CliError(Exception):
    """A bad option or argument: printed as one line, exit 2."""


# ----------------------------------------------------------------------------- arguments
class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


def _common_options() -> _Parser:
    # SUPPRESS defaults: an option given before the subcommand is not reset by the
    # subparser's own default.
    common = _Parser(add_help=False)
    g = common.add_argument_group("machine and kernel (every config key has an option)")
    g.add_argument(
        "--machine",
        metavar="PRESET",
        default=argparse.SUPPRESS,
        help=f"start from this preset (default {DEFAULT_PRESET})",
    )
    g.add_argument(
        "--iomem",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="start from a saved /proc/iomem text (like 'load iomem FILE')",
    )
    g.add_argument(
        "--snapshot",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="start from a machine snapshot taken with 'devmem-tui snapshot' (like 'load "
        "snapshot FILE'; - reads it from stdin); the config options below override it",
    )
    for key, (allowed, help_text) in KEYS.items():
        metavar = "|".join(allowed) if allowed else ("VERSION" if key == "kernel" else "N")
        g.add_argument(
            OPTION_FOR_KEY[key],
            dest=f"cfg_{key}",
            metavar=metavar,
            default=argparse.SUPPRESS,
            help=help_text,  # `iomem`'s help already says it is the iomem= boot parameter
        )
    f = common.add_argument_group("front-end settings (also 'set trace ...', 'set pager ...')")
    f.add_argument(
        "--trace",
        nargs="?",
        const="on",
        choices=TRACE_MODES,
        default=argparse.SUPPRESS,
        metavar="on|short|off",
        help="how much kernel trace results show: all of it, the deciding check, or none "
        "(default: on; play: off; --trace alone: on)",
    )
    f.add_argument(
        "--pager",
        choices=("on", "off"),
        default=argparse.SUPPRESS,
        metavar="on|off",
        help="the REPL pages output taller than the terminal (default: on)",
    )
    common.add_argument(
        "--file-root",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="file commands (load, open, save, export, record) read and write only inside "
        "DIR; serve gives every tab a folder of its own",
    )
    return common


_version = snapshots.installed_version


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for: importlib.metadata and the distribution
    scan cost 0.1-0.3 s, a large part of `devmem-tui run`'s start-up budget when paid on
    every run (docs/performance.md). Prints and exits like argparse's "version" action."""

    def __init__(
        self,
        option_strings: list[str],
        dest: str = argparse.SUPPRESS,
        default: str = argparse.SUPPRESS,
        help: str = "show program's version number and exit",
    ) -> None:
        super().__init__(
            option_strings=option_strings, dest=dest, default=default, nargs=0, help=help
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser._print_message(f"{PROG} {_version()}\n", sys.stdout)
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(
        prog=PROG,
        parents=[common],
        description="Simulate how Linux decides who may touch physical memory: /proc/iomem, "
        "virtio-mem, /dev/mem and /proc/kcore. Without a subcommand: the TUI.",
        epilog="Examples:\n"
        "  devmem-tui run -c 'read 0x1000; set strict_devmem off; read 0x1000'\n"
        "  devmem-tui lessons\n"
        "  devmem-tui play --lesson 1\n"
        "  devmem-tui play --quiz 3\n"
        "  devmem-tui play my-lesson.scenario --tui\n"
        "  devmem-tui repl --kernel 5.15 --trace short\n"
        "  sudo devmem-tui snapshot -o - | devmem-tui run --snapshot - -c 'sweep read'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(
        dest="cmd", metavar="{repl,play,run,lessons,serve,snapshot}", parser_class=_Parser
    )
    sub.add_parser(
        "repl",
        parents=[common],
        help="interactive prompt with completion",
        description="The REPL: completion, history, help. Reads plain lines "
        "when stdin is not a terminal.",
    )
    play = sub.add_parser(
        "play",
        parents=[common],
        help="play scenario files or lessons headless",
        description="Play scenarios: each file starts from a fresh session "
        "built from the options. A number N (or --lesson N) plays the shipped lesson N "
        "('devmem-tui lessons' lists them). Exit 0 when every expect holds, "
        "1 when one fails, 2 on a usage error.",
    )
    play.add_argument("files", nargs="*", metavar="FILE|N")
    play.add_argument(
        "--lesson",
        action="append",
        default=[],
        metavar="N",
        help="play lesson N (a number or a name; repeatable)",
    )
    play.add_argument(
        "--json",
        action="store_true",
        help="JSON Lines instead of a transcript (as run --json, with typed rows in data)",
    )
    play.add_argument("--tui", action="store_true", help="step through one FILE in the TUI")
    play.add_argument(
        "--quiz",
        action="store_true",
        help="predict, then see: before each command an 'expect' checks, name the outcome "
        "you predict (answers are read from stdin); then see the verdict and a score",
    )
    sub.add_parser(
        "lessons",
        help="list the lessons shipped with the package",
        description="The lessons: number, title and what each teaches.",
    )
    run = sub.add_parser(
        "run",
        parents=[common],
        help="execute commands",
        description="Execute commands from -c (';' separates commands), "
        "a FILE, or stdin ('-', the default without -c). Goes on "
        "after a failing line; exits 2 if any line failed.",
    )
    run.add_argument(
        "-c",
        dest="commands",
        action="append",
        default=[],
        metavar="COMMANDS",
        help="commands to run (repeatable; ';' separates commands)",
    )
    run.add_argument("file", nargs="?", metavar="FILE|-")
    run.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per command: {"line", "command", "ok", "outcome", '
        '"message", "trace"}, plus "data" (typed rows) for sweep, blocks, maps, vmem, iomem, '
        "compare and config",
    )
    add_serve_parser(sub, common)
    snap = sub.add_parser(
        "snapshot",
        help="take a snapshot of this machine for 'open' (run it as root)",
        description="Read this machine's /proc/iomem, kernel release, kernel config, boot "
        "parameters, memory blocks and virtio-mem devices from plain text files (never "
        "/dev/mem, /dev/kmem, /dev/port, /proc/kcore or /dev/kmsg) into one text file that "
        "'devmem-tui open FILE' turns into a machine. See docs/snapshot.md.",
    )
    snap.add_argument(
        "-o",
        dest="output",
        metavar="FILE|-",
        default="-",
        help="write the snapshot to FILE (atomically), or to stdout with - (the default)",
    )
    snap.add_argument(
        "--root",
        metavar="DIR",
        default="/",
        help="read the same files under DIR (a copy taken on another machine; default /)",
    )
    snap.add_argument(
        "--anonymous",
        action="store_true",
        help="leave out the host name, the --root path, the kernel builder's user@host and "
        "the boot parameters devmem-tui does not read",
    )
    snap.add_argument(
        "--with-log",
        metavar="FILE|-",
        help="a saved kernel log (journalctl -k > FILE, or dmesg > FILE; - reads stdin) for "
        "the virtio-mem driver's own lines: device block size, requested size",
    )
    return parser


def config_from_options(ns: argparse.Namespace) -> KernelConfig:
    cfg = KernelConfig()
    for key in KEYS:
        value = getattr(ns, f"cfg_{key}", None)
        if value is None:
            continue
        try:
            cfg.set_from(key, value, f"option {OPTION_FOR_KEY[key]}")
        except DevmemError as e:
            raise CliError(f"{OPTION_FOR_KEY[key]}: {e}") from None
    return cfg


def make_session(ns: argparse.Namespace) -> Session:
    """A fresh session from --machine / --iomem / --snapshot, the config options and the
    front-end settings (--trace, --pager), its file commands kept inside --file-root when
    that is given."""
    cfg = config_from_options(ns)
    preset = getattr(ns, "machine", None)
    iomem = getattr(ns, "iomem", None)
    snapshot = getattr(ns, "snapshot", None)
    chosen = [
        o for o, v in (("--machine", preset), ("--iomem", iomem), ("--snapshot", snapshot)) if v
    ]
    if len(chosen) > 1:
        raise CliError(f"{' and '.join(chosen)} both choose the machine; give one")
    try:
        session = Session.new(preset or DEFAULT_PRESET, cfg)
    except DevmemError as e:
        raise CliError(f"--machine: {e}" if preset else str(e)) from None
    if iomem:
        if '"' in iomem:
            raise CliError(f"--iomem: file name {iomem!r} contains a double quote")
        result = session.execute(f'load iomem "{iomem}"')
        if result is None or not result.ok:
            msg = result.message if result else "nothing loaded"
            raise CliError(f"--iomem: {msg.removeprefix('error: ')}")
        session.last_result = None
        session.machine.drain_events()
    session.settings.trace = getattr(ns, "trace", "on")
    session.settings.pager = getattr(ns, "pager", "on")
    if snapshot:
        keep = [key for key in KEYS if getattr(ns, f"cfg_{key}", None) is not None]
        try:
            if snapshot == "-":
                result = snapshots.load(session, _stdin_snapshot(ns), "opened", keep)
            else:
                result = snapshots.open_file(session, snapshot, "opened", keep)
        except DevmemError as e:
            raise CliError(f"--snapshot: {e}") from None
        session.start_notes = result.message.splitlines()
        session.machine.drain_events()
    root = getattr(ns, "file_root", None)
    if root is not None:
        if not os.path.isdir(root):
            raise CliError(f"--file-root: {root} is not a directory")
        session.file_root = os.path.realpath(root)
    return session


def session_options(ns: argparse.Namespace) -> list[str]:
    """The machine and config options of ns as arguments, for another devmem-tui process to
    build the same session (serve's tabs). Files are named by absolute path."""
    args: list[str] = []
    if getattr(ns, "machine", None):
        args.append(f"--machine={ns.machine}")
    if getattr(ns, "iomem", None):
        args.append(f"--iomem={os.path.abspath(ns.iomem)}")
    if getattr(ns, "snapshot", None):  # every tab builds its machine from the same file
        args.append(f"--snapshot={os.path.abspath(ns.snapshot)}")
    for key in KEYS:
        value = getattr(ns, f"cfg_{key}", None)
        if value is not None:
            args.append(f"{OPTION_FOR_KEY[key]}={value}")
    if getattr(ns, "trace", None):
        args.append(f"--trace={ns.trace}")
    return args


def _stdin_snapshot(ns: argparse.Namespace) -> snapshot_format.Snapshot:
    """--snapshot - : the snapshot on stdin (read once: every `play` file starts from it)."""
    text = getattr(ns, "snapshot_text", None)
    if text is None:
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise CliError(f"--snapshot -: stdin is more than {MAX_INPUT_BYTES >> 20} MiB")
        text = snapshot_format.decode(data, "<stdin>")
        ns.snapshot_text = text
    return snapshot_format.parse(text, "<stdin>")


# ----------------------------------------------------------------------------- run
def _read_lines(name: str) -> Iterator[str]:
    if name == "-":
        # bounded: `run < /dev/zero` is a one-line error, not a MemoryError
        return stdin_lines(sys.stdin)
    try:
        return iter_lines(read_text(name))  # never /dev/mem, a FIFO, procfs, a device
    except DevmemError as e:
        raise CliError(str(e)) from None


class Line(NamedTuple):
    """One command of `run`: its number (in FILE, or in order for -c), its text, and
    ``FILE:LINE`` for a line of a FILE (errors are reported there, as `play` does)."""

    number: int
    text: str
    where: str | None = None


def run_sources(ns: argparse.Namespace) -> Iterator[Line]:
    """Every command: -c commands numbered in order, then FILE (or stdin) lines by their line
    number."""
    n = 0
    for chunk in ns.commands:
        for cmd in split_commands(chunk):
            if cmd.strip():
                n += 1
                yield Line(n, cmd)
    if ns.file is not None or not ns.commands:
        name = ns.file or "-"
        if name == "-" and isatty(sys.stdin):
            sys.stderr.write(
                f"{PROG} run: reading commands from the terminal, one per line; Ctrl-D ends "
                f"(give -c 'COMMANDS' or a FILE, or use '{PROG} repl' for a prompt)\n"
            )
        for no, text in enumerate(_read_lines(name), 1):
            where = f"{name}:{no}" if name != "-" else None
            for cmd in split_commands(text):  # a file's lines chain with ';' as typed ones do
                yield Line(no, cmd, where)


def run_commands(
    session: Session, lines: Iterable[tuple[int, str] | Line], out: IO[str], as_json: bool
) -> int:
    failed = False
    color = not as_json and want_color(out)
    try:
        for item in lines:
            line = item if isinstance(item, Line) else Line(*item)
            session.line_no = line.number
            result = session.execute(line.text)
            session.machine.drain_events()  # no view redraws from them here: do not keep them
            if result is None:
                continue
            failed |= not result.ok
            if as_json:
                out.write(json.dumps(result.to_json(line.number)) + "\n")
            else:
                echo = display(f"> {result.command}")
                out.write((ansi(echo, "bold") if color else echo) + "\n")
                if not result.ok and line.where is not None:
                    body = display(f"{line.where}: {result.message}")
                    body = ansi(body, "bad") if color else body
                else:
                    body = format_result(result, trace=session.settings.trace, color=color)
                if body:
                    out.write(body + "\n")
            out.flush()
            if result.data.get("exit"):
                break
    except FileError as e:  # stdin past its limits
        raise CliError(str(e)) from None
    return EXIT_USAGE if failed else EXIT_OK


# ----------------------------------------------------------------------------- front ends
def _need_terminal() -> None:
    """The TUI reads keys from stdin and draws on stderr (Textual's Linux driver writes to
    sys.__stderr__, so stdout may be redirected): without a terminal on both it would wait
    for keys that never come, redrawing into a file. Say so instead. Not when Textual is told
    to use another driver: textual-serve runs each tab with its WebDriver, which speaks to
    the server over pipes."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return
    for name, stream in (("input (stdin)", sys.stdin), ("screen (stderr)", sys.stderr)):
        if not isatty(stream):
            raise CliError(
                f"the TUI needs a terminal, and its {name} is not one; for text use "
                f"'{PROG} run -c COMMANDS' (or a FILE), '{PROG} play FILE' or '{PROG} repl'"
            )


def _run_tui(ns: argparse.Namespace, scenario: str | None = None, quiz: bool = False) -> int:
    _need_terminal()
    try:
        from devmem_tui.frontends.tui.app import run_tui  # lazy: textual loads only for the TUI
    except ImportError as e:
        raise CliError(f"the TUI is not available: {e}") from None
    code = run_tui(
        make_session(ns), scenario=scenario, new_session=lambda: make_session(ns), quiz=quiz
    )
    return code if isinstance(code, int) else EXIT_OK


def _serve(ns: argparse.Namespace) -> int:
    if getattr(ns, "file_root", None) is not None:
        raise CliError("serve gives every tab a folder of its own; --file-root does not apply")
    if getattr(ns, "snapshot", None) == "-":
        raise CliError(
            "serve --snapshot needs a FILE: every tab reads it again, and stdin can be read once"
        )
    make_session(ns)  # option errors surface once, here, not in every tab
    tab_args, title = session_options(ns), PROG
    if ns.lesson is not None:
        from devmem_tui.scenario.lessons import find_lesson  # lazy: only lessons need it

        lesson = find_lesson(ns.lesson)  # an unknown lesson is one line, here
        tab_args = ["play", "--tui", f"--lesson={ns.lesson}", *(["--quiz"] * ns.quiz), *tab_args]
        title = f"{PROG} · {lesson.label}"
    elif ns.quiz:
        raise CliError("serve --quiz needs --lesson N: the quiz asks about a lesson's steps")
    try:
        # lazy: textual-serve and aiohttp load only to serve (an optional extra)
        from devmem_tui.frontends.web.server import serve
    except ImportError as e:
        missing = (e.name or "textual_serve").split(".")[0].replace("_", "-")
        raise CliError(
            f"serve needs the 'web' extra ({missing} is not installed): "
            "pip install 'devmem-tui[web]'"
        ) from None
    return serve(
        tab_args,
        host=ns.host,
        port=ns.port,
        public_url=ns.public_url,
        max_sessions=ns.max_sessions,
        title=title,
    )


def play_paths(ns: argparse.Namespace) -> list[str]:
    """The files to play: FILE arguments, where a bare number that names no file is that
    lesson, then each --lesson."""
    from devmem_tui.scenario.lessons import find_lesson  # lazy: only play needs the lessons

    paths = []
    for arg in ns.files:
        if arg.isdigit() and not os.path.exists(arg):
            paths.append(find_lesson(arg).path)
        else:
            paths.append(arg)
    paths.extend(find_lesson(n).path for n in ns.lesson)
    if not paths:
        raise CliError("play needs a FILE or --lesson N ('devmem-tui lessons' lists them)")
    return paths


def _play(ns: argparse.Namespace) -> int:
    # lazy: the scenario modules load only to play, so `run` starts faster
    from devmem_tui.frontends.play import play_files
    from devmem_tui.scenario.script import check_files

    paths = play_paths(ns)
    if ns.json and (ns.tui or ns.quiz):
        raise CliError(f"play {'--tui' if ns.tui else '--quiz'} cannot be combined with --json")
    if ns.tui:
        if len(paths) != 1:
            raise CliError("play --tui takes exactly one FILE or lesson")
        config_from_options(ns)
        problems = check_files(paths)
        if problems:
            for p in problems:
                sys.stderr.write(display(p) + "\n")
            return EXIT_USAGE
        return _run_tui(ns, scenario=paths[0], quiz=ns.quiz)
    _show_notes(make_session(ns))  # option errors surface once, before any file plays
    return play_files(
        paths,
        lambda: make_session(ns),
        sys.stdout,
        trace=getattr(ns, "trace", "off"),  # play shows no trace unless asked
        as_json=ns.json,
        quiz_input=sys.stdin if ns.quiz else None,
    )


def _show_notes(session: Session) -> None:
    """Say on stderr what building the machine found (stdout is the transcript)."""
    for line in session.start_notes:
        sys.stderr.write(f"{PROG}: {line}\n")


def take_snapshot(ns: argparse.Namespace) -> int:
    """``devmem-tui snapshot``: collect, then write to stdout or atomically to a file."""
    from devmem_tui.snapshot.collect import collect  # lazy: only this subcommand reads /proc

    given = [OPTION_FOR_KEY[k] for k in KEYS if getattr(ns, f"cfg_{k}", None) is not None]
    given += [o for o in ("--machine", "--iomem", "--snapshot") if getattr(ns, o[2:], None)]
    if given:
        raise CliError(f"{given[0]} does not apply to 'snapshot' (it reads this machine)")
    log_text = None
    if ns.with_log is not None:
        if ns.with_log == "-":
            log_text = sys.stdin.read()
        else:
            log_text = read_text(ns.with_log, "kernel log")
    got = collect(
        ns.root,
        anonymous=ns.anonymous,
        log_text=log_text,
        log_name="stdin" if ns.with_log == "-" else (ns.with_log or ""),
        tool=snapshots.tool(),
    )
    text = snapshot_format.render(got.snapshot)
    for w in got.warnings:
        sys.stderr.write(f"{PROG}: warning: {w}\n")
    if ns.output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return EXIT_OK
    write_atomic(ns.output, text)
    snap = got.snapshot
    # The host name and release are the machine's text (a --root copied off another box):
    # escaped as the snapshot file stores them, line feeds too (this message is one line).
    host = snapshot_format.escape(snap.info["host"].text) if "host" in snap.info else "this machine"
    release = snapshot_format.escape(snap.kernel["release"].text)
    sys.stderr.write(
        f"{PROG}: wrote {display(ns.output)}: a snapshot of {host}, kernel {release}"
        f", {snap.iomem.count(chr(10))} /proc/iomem lines, {len(snap.blocks)} memory blocks, "
        f"kernel config {snap.config_source.text if snap.config_source else 'none'}; "
        f"open it with: {PROG} open {display(ns.output)}\n"
    )
    return EXIT_OK


def trace_flag_value(argv: list[str]) -> list[str]:
    """``--trace`` takes an optional mode, but argparse would take the word after a bare
    ``--trace`` as its value (``play --trace 01.scenario``): give a bare one its mode."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        if arg == "--trace" and (i + 1 >= len(out) or out[i + 1] not in TRACE_MODES):
            out[i] = "--trace=on"
    return out


def _main(argv: list[str] | None) -> int:
    ns = build_parser().parse_args(trace_flag_value(sys.argv[1:] if argv is None else argv))
    if ns.cmd == "snapshot":
        return take_snapshot(ns)
    if (
        ns.cmd == "run"
        and getattr(ns, "snapshot", None) == "-"
        and (ns.file == "-" or (ns.file is None and not ns.commands))
    ):
        raise CliError(
            "--snapshot - reads the snapshot from stdin: give the commands with -c or in a FILE"
        )
    if ns.cmd == "play":
        return _play(ns)
    if ns.cmd == "serve":
        return _serve(ns)
    if ns.cmd == "lessons":
        # lazy: the lessons' modules load only to list them
        from devmem_tui.scenario.lessons import all_lessons, lessons_text

        sys.stdout.write(display(lessons_text(all_lessons())) + "\n")
        return EXIT_OK
    if ns.cmd is None:
        make_session(ns)  # option errors first, then whether there is a terminal
        return _run_tui(ns)
    session = make_session(ns)
    if ns.cmd == "run":
        _show_notes(session)
        return run_commands(session, run_sources(ns), sys.stdout, ns.json)
    _show_notes(session)
    from devmem_tui.frontends.repl import run_repl  # lazy: prompt_toolkit only for the REPL

    return run_repl(session)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    try:
        return _main(argv)
    except (CliError, DevmemError) as e:
        sys.stderr.write(display(f"{PROG}: error: {e}") + "\n")
        return EXIT_USAGE
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `devmem-tui run ... | head`: quiet, and the shell's status
        _silence_stdout()
        return EXIT_PIPE
    except Exception as e:  # a bug: one line, unless DEVMEM_TUI_DEBUG asks for the traceback
        if os.environ.get("DEVMEM_TUI_DEBUG"):
            raise
        sys.stderr.write(
            display(f"{PROG}: internal error: {type(e).__name__}: {e} ")
            + "(set DEVMEM_TUI_DEBUG=1 for a traceback)\n"
        )
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
