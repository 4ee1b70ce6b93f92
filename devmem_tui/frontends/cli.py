"""The ``devmem-tui`` command line: argument parsing, ``run``, and the dispatch to ``play``
(frontends/play.py), the REPL and the TUI.

    devmem-tui [OPTIONS]                       the Textual TUI
    devmem-tui repl [OPTIONS]                  the prompt_toolkit REPL
    devmem-tui play FILE... [--trace] [--json] [--tui]
    devmem-tui run [-c COMMANDS]... [FILE|-] [--json]

Front ends are imported lazily inside the functions that need them, so ``run`` and ``play``
never import textual or prompt_toolkit (start-up stays well under half a second), and ``run``
never imports the scenario modules.
Every user error is one line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, NoReturn

from devmem_tui.commands.grammar import split_commands
from devmem_tui.commands.session import DEFAULT_PRESET, Session
from devmem_tui.engine.config import KEYS, KernelConfig
from devmem_tui.engine.errors import DevmemError
from devmem_tui.files import read_text
from devmem_tui.frontends.output import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    ansi,
    format_result,
    want_color,
)

PROG = "devmem-tui"

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
    for key, (allowed, help_text) in KEYS.items():
        metavar = "|".join(allowed) if allowed else ("VERSION" if key == "kernel" else "N")
        extra = " (the iomem= boot parameter)" if key == "iomem" else ""
        g.add_argument(
            OPTION_FOR_KEY[key],
            dest=f"cfg_{key}",
            metavar=metavar,
            default=argparse.SUPPRESS,
            help=f"{help_text}{extra}",
        )
    return common


def _version() -> str:
    # From the installed metadata: `devmem_tui.__version__` is not importable when an old
    # editable install maps the package as a namespace.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("devmem-tui")
    except PackageNotFoundError:
        return "unknown"


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
        "  devmem-tui play scenarios/*.scn\n"
        "  devmem-tui repl --kernel 5.15",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="cmd", metavar="{repl,play,run}", parser_class=_Parser)
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
        help="play scenario files headless",
        description="Play scenarios: each file starts from a fresh session "
        "built from the options. Exit 0 when every expect holds, "
        "1 when one fails, 2 on a usage error.",
    )
    play.add_argument("files", nargs="+", metavar="FILE")
    play.add_argument("--trace", action="store_true", help="show each command's kernel trace")
    play.add_argument("--json", action="store_true", help="JSON Lines instead of a transcript")
    play.add_argument("--tui", action="store_true", help="step through one FILE in the TUI")
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
        '"message", "trace"}',
    )
    return parser


def config_from_options(ns: argparse.Namespace) -> KernelConfig:
    cfg = KernelConfig()
    for key in KEYS:
        value = getattr(ns, f"cfg_{key}", None)
        if value is None:
            continue
        try:
            cfg.set(key, value)
        except DevmemError as e:
            raise CliError(f"{OPTION_FOR_KEY[key]}: {e}") from None
    return cfg


def make_session(ns: argparse.Namespace) -> Session:
    """A fresh session from --machine / --iomem and the config options."""
    cfg = config_from_options(ns)
    preset = getattr(ns, "machine", None)
    iomem = getattr(ns, "iomem", None)
    if preset and iomem:
        raise CliError("--machine and --iomem both choose the machine; give one")
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
    return session


# ----------------------------------------------------------------------------- run
def _read_lines(name: str) -> list[str]:
    if name == "-":
        return sys.stdin.read().splitlines()
    try:
        return read_text(name).splitlines()  # never /dev/mem, /proc/kcore or a device node
    except DevmemError as e:
        raise CliError(str(e)) from None


def run_sources(ns: argparse.Namespace) -> Iterator[tuple[int, str]]:
    """(line number, text) of every command: -c commands numbered in order, then FILE lines
    by their line number in FILE."""
    n = 0
    for chunk in ns.commands:
        for cmd in split_commands(chunk):
            if cmd.strip():
                n += 1
                yield n, cmd
    if ns.file is not None or not ns.commands:
        yield from enumerate(_read_lines(ns.file or "-"), 1)


def run_commands(
    session: Session, lines: Iterable[tuple[int, str]], out: IO[str], as_json: bool
) -> int:
    failed = False
    color = not as_json and want_color(out)
    for line_no, text in lines:
        session.line_no = line_no
        result = session.execute(text)
        if result is None:
            continue
        failed |= not result.ok
        if as_json:
            out.write(json.dumps(result.to_json(line_no)) + "\n")
        else:
            echo = f"> {result.command}"
            out.write((ansi(echo, "bold") if color else echo) + "\n")
            body = format_result(result, trace=True, color=color)
            if body:
                out.write(body + "\n")
        out.flush()
        if result.data.get("exit"):
            break
    return EXIT_USAGE if failed else EXIT_OK


# ----------------------------------------------------------------------------- front ends
def _run_tui(session: Session, scenario: str | None = None) -> int:
    try:
        from devmem_tui.frontends.tui.app import run_tui  # lazy: textual loads only for the TUI
    except ImportError as e:
        raise CliError(f"the TUI is not available: {e}") from None
    code = run_tui(session, scenario=scenario)
    return code if isinstance(code, int) else EXIT_OK


def _main(argv: list[str] | None) -> int:
    ns = build_parser().parse_args(argv)
    if ns.cmd == "play":
        # lazy: the scenario modules load only to play, so `run` starts faster
        from devmem_tui.frontends.play import play_files
        from devmem_tui.scenario.script import check_files

        if ns.tui:
            if len(ns.files) != 1:
                raise CliError("play --tui takes exactly one FILE")
            if ns.json:
                raise CliError("play --tui cannot be combined with --json")
            config_from_options(ns)
            problems = check_files(ns.files)
            if problems:
                for p in problems:
                    sys.stderr.write(p + "\n")
                return EXIT_USAGE
            return _run_tui(make_session(ns), scenario=ns.files[0])
        make_session(ns)  # option errors surface once, before any file plays
        return play_files(
            ns.files, lambda: make_session(ns), sys.stdout, trace=ns.trace, as_json=ns.json
        )
    session = make_session(ns)
    if ns.cmd == "run":
        return run_commands(session, run_sources(ns), sys.stdout, ns.json)
    if ns.cmd == "repl":
        from devmem_tui.frontends.repl import run_repl  # lazy: prompt_toolkit only for the REPL

        return run_repl(session)
    return _run_tui(session)


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
    except CliError as e:
        sys.stderr.write(f"{PROG}: error: {e}\n")
        return EXIT_USAGE
    except DevmemError as e:
        sys.stderr.write(f"{PROG}: error: {e}\n")
        return EXIT_USAGE
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAIL
    except Exception as e:  # a bug: one line, unless DEVMEM_TUI_DEBUG asks for the traceback
        if os.environ.get("DEVMEM_TUI_DEBUG"):
            raise
        sys.stderr.write(
            f"{PROG}: internal error: {type(e).__name__}: {e} "
            "(set DEVMEM_TUI_DEBUG=1 for a traceback)\n"
        )
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
