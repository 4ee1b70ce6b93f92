"""``devmem-tui repl``: a prompt_toolkit REPL on a Session.

Completion comes from ``devmem_tui.frontends.complete`` (the same source as the TUI's command bar),
help from the command registry. History persists in ``$DEVMEM_TUI_HISTORY`` or
``$XDG_STATE_HOME/devmem-tui/history`` (default ``~/.local/state/devmem-tui/history``).
Ctrl-C cancels the line, Ctrl-D (or ``exit``/``quit``) leaves. With stdin not a terminal
it reads plain lines, so ``devmem-tui repl < file`` works without prompt_toolkit's warning.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from typing import IO

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import ALIASES, REGISTRY, Session, load_all
from devmem_tui.engine.devmem.verdict import Outcome
from devmem_tui.files import (
    MAX_TEXT_BYTES,
    FileError,
    append_text,
    check_path,
    read_bytes,
    stdin_lines,
)
from devmem_tui.frontends.autosave import state_dir
from devmem_tui.frontends.complete import complete
from devmem_tui.frontends.output import (
    EXIT_OK,
    EXIT_USAGE,
    ansi,
    display,
    format_result,
    isatty,
)

PROMPT = "devmem> "

STYLE = Style.from_dict(
    {
        "command": "bold ansicyan",
        "unknown": "ansired",
        "number": "ansimagenta",
        "keyword": "ansiyellow",
        "outcome": "bold ansigreen",
        "string": "ansigreen",
        "comment": "italic ansibrightblack",
        "bottom-toolbar": "noreverse bg:#303030 #d0d0d0",
        "bottom-toolbar.on": "bold #87d787",
        "bottom-toolbar.off": "#d78787",
        "bottom-toolbar.rec": "bold #ff5f5f",
    }
)


# ----------------------------------------------------------------------------- history
def history_path() -> str:
    """$DEVMEM_TUI_HISTORY, else $XDG_STATE_HOME/devmem-tui/history (XDG default
    ~/.local/state)."""
    explicit = os.environ.get("DEVMEM_TUI_HISTORY")
    if explicit:
        return os.path.expanduser(explicit)
    return os.path.join(state_dir(), "history")


class GuardedFileHistory(FileHistory):
    """prompt_toolkit's FileHistory (same file format), reading and appending through the file
    guard (``files``): ``DEVMEM_TUI_HISTORY`` is user-given, and must never reach a device
    node, a FIFO, procfs or a kernel memory interface."""

    def load_history_strings(self) -> Iterable[str]:
        path = os.fsdecode(self.filename)
        if not os.path.exists(path):
            return []
        try:
            data = read_bytes(path, MAX_TEXT_BYTES)
        except FileError:
            return []
        strings: list[str] = []
        lines: list[str] = []
        for raw in data.decode("utf-8", "replace").splitlines(keepends=True):
            if raw.startswith("+"):
                lines.append(raw[1:])
            else:
                if lines:
                    strings.append("".join(lines)[:-1])
                lines = []
        if lines:
            strings.append("".join(lines)[:-1])
        return reversed(strings)

    def store_string(self, string: str) -> None:
        entry = f"\n# {datetime.datetime.now()}\n" + "".join(
            f"+{ln}\n" for ln in string.split("\n")
        )
        try:
            append_text(os.fsdecode(self.filename), entry)
        except FileError:
            pass  # history is a convenience: a file that became unusable is not an error


def make_history() -> History:
    """A guarded FileHistory at history_path(); in-memory if the file cannot be used."""
    path = history_path()
    try:
        # DEVMEM_TUI_HISTORY is user-given: never a device node or a kernel memory interface.
        check_path(path, writing=True)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        append_text(path, "")
    except (FileError, OSError):
        return InMemoryHistory()
    return GuardedFileHistory(path)


# ----------------------------------------------------------------------------- completion
class ReplCompleter(Completer):
    """prompt_toolkit adapter over the pure ``complete()``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        for s in complete(document.text_before_cursor, self.session):
            yield Completion(
                s.text, start_position=s.start, display=s.display or s.text, display_meta=s.meta
            )


# ----------------------------------------------------------------------------- lexer
_WORD = re.compile(r'"[^"]*"?|\S+|\s+')
_NUMBER = re.compile(
    r"^(0x[0-9a-fA-F_]+|[0-9][0-9_]*)([kKmMgGtT](i?[bB])?)?"
    r"([-+](0x[0-9a-fA-F_]+|[0-9][0-9_]*)([kKmMgGtT](i?[bB])?)?)?$"
)
_DURATION = re.compile(r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$")
_OUTCOMES = frozenset(o.value for o in Outcome)


def keywords() -> frozenset[str]:
    """Literal words of every usage string (iomem, private, exclusive, --flags, ...)."""
    load_all()
    words: set[str] = set()
    for spec in REGISTRY.values():
        for slots in spec.usage_slots:
            for slot in slots:
                for alt in slot.alts:
                    if alt.literal is not None:
                        words.add(alt.literal)
                    elif alt.prefix:
                        words.add(alt.prefix)
    return frozenset(words)


def lex_line(line: str, known: frozenset[str] | None = None) -> StyleAndTextTuples:
    """Style one command line: command word, numbers, keywords, outcomes, comments."""
    load_all()
    kw = keywords() if known is None else known
    out: StyleAndTextTuples = []
    first = True
    for m in _WORD.finditer(line):
        tok = m.group(0)
        if tok.isspace():
            out.append(("", tok))
            continue
        if tok.startswith("#"):
            out.append(("class:comment", line[m.start() :]))
            break
        if first:
            if tok in REGISTRY or tok in ALIASES:
                style = "class:command"
            elif any(name.startswith(tok) for name in (*REGISTRY, *ALIASES)):
                style = ""  # still being typed
            else:
                style = "class:unknown"
            out.append((style, tok))
            first = False
        elif tok.startswith('"'):
            out.append(("class:string", tok))
        elif _NUMBER.match(tok) or _DURATION.match(tok):
            out.append(("class:number", tok))
        elif tok in _OUTCOMES:
            out.append(("class:outcome", tok))
        elif tok in kw or tok.split("=", 1)[0] + "=" in kw:
            out.append(("class:keyword", tok))
        else:
            out.append(("", tok))
    return out


class ReplLexer(Lexer):
    """A tiny lexer for the command language (no pygments needed)."""

    def __init__(self) -> None:
        self._kw = keywords()

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        lines = document.lines

        def get_line(i: int) -> StyleAndTextTuples:
            return lex_line(lines[i], self._kw) if i < len(lines) else []

        return get_line


# ----------------------------------------------------------------------------- toolbar
def toolbar_fragments(session: Session) -> StyleAndTextTuples:
    cfg = session.config
    m = session.machine

    def flag(name: str, on: bool) -> tuple[str, str]:
        return (
            "class:bottom-toolbar.on" if on else "class:bottom-toolbar.off",
            f"{name}={'y' if on else 'n'}",
        )

    frags: StyleAndTextTuples = [
        ("", f" kernel {cfg.kernel} {cfg.arch}  "),
        flag("STRICT", cfg.eff_strict_devmem),
        ("", " "),
        flag("IO_STRICT", cfg.eff_io_strict_devmem),
        ("", f"  iomem={cfg.iomem}  high_memory={m.high_memory:#x}  maps={len(m.mappings)}"),
    ]
    if cfg.eff_lockdown != "none":
        frags.append(("class:bottom-toolbar.rec", f"  lockdown={cfg.eff_lockdown}"))
    if cfg.proposal != "none":
        frags.append(("class:bottom-toolbar.rec", f"  proposal={cfg.proposal}"))
    for key, default in (("trace", "on"), ("pager", "on")):
        value = session.settings.get(key)
        if value != default:
            frags.append(("", f"  {key}={value}"))
    rec = getattr(session.recorder, "path", None)
    if rec:
        frags.append(("class:bottom-toolbar.rec", display(f"  REC {os.path.basename(rec)}")))
    return frags


# ----------------------------------------------------------------------------- output
class Pager:
    """Pages output taller than the terminal, as pgcli does: through ``$PAGER`` (else
    ``less``) with ``LESS=-RXF`` unless ``LESS`` is set, so colours are kept (-R), output
    that fits one screen is not paged (-F), and the text stays on screen after ``q`` (-X).

    ``rows`` and ``run`` can be replaced (tests); by default they ask the terminal and start
    the pager process."""

    def __init__(
        self,
        rows: Callable[[], int] | None = None,
        run: Callable[[str], None] | None = None,
    ) -> None:
        self.rows = rows or (lambda: shutil.get_terminal_size((80, 24)).lines)
        self.run = run or run_pager

    def fits(self, text: str) -> bool:
        return text.count("\n") + 1 < self.rows() - 1


def run_pager(text: str) -> None:
    """Show text through ``$PAGER`` (default ``less``). A pager given as a path goes through
    the file guard first, like every path the tool is given: a ``PAGER`` that names a
    kernel interface or a device node is not run, and the text is printed instead."""
    cmd = os.environ.get("PAGER") or "less"
    env = dict(os.environ)
    env.setdefault("LESS", "-RXF")
    words = cmd.split()
    if words and "/" in words[0]:
        try:
            check_path(words[0])
        except FileError:
            sys.stdout.write(text + "\n")
            return
    import subprocess  # lazy: only a tall result on a terminal pages

    try:
        proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, env=env)
    except OSError:
        sys.stdout.write(text + "\n")
        return
    assert proc.stdin is not None
    try:
        proc.stdin.write((text + "\n").encode("utf-8", "replace"))
        proc.stdin.close()
    except BrokenPipeError:  # the reader quit before reading it all
        pass
    proc.wait()


def paging_on(session: Session) -> bool:
    """The ``pager`` setting, and the older ``DEVMEM_TUI_NO_PAGER=1`` switch."""
    return session.settings.pager == "on" and not os.environ.get("DEVMEM_TUI_NO_PAGER")


def results_text(results: list[Result], trace: str, color: bool) -> str:
    """What the REPL prints for one typed line: each result, echoed as ``> command`` first
    when the line chained several commands with ';'."""
    parts = []
    for result in results:
        if len(results) > 1:
            echo = display(f"> {result.command}")
            parts.append(ansi(echo, "bold") if color else echo)
        if result.data.get("exit") or result.data.get("pause"):
            continue
        text = format_result(result, trace=trace, color=color)
        if text:
            parts.append(text)
    return "\n".join(parts)


def handle_line(
    session: Session,
    line: str,
    out: IO[str],
    *,
    tty: bool | None = None,
    pager: Pager | None = None,
) -> bool:
    """Run one typed line (commands chained with ';' run in turn) and show the results;
    False when the REPL should stop. ``tty``: whether ``out`` is a terminal (default: ask
    it); colour needs one and no NO_COLOR, paging needs one and the ``pager`` setting."""
    results = session.execute_all(line)
    session.machine.drain_events()  # the REPL redraws no view from them: do not keep them
    if not results:
        return True
    terminal = isatty(out) if tty is None else tty
    color = terminal and not os.environ.get("NO_COLOR")
    text = results_text(results, session.settings.trace, color)
    if text:
        if pager is not None and terminal and paging_on(session) and not pager.fits(text):
            pager.run(text)
        else:
            out.write(text + "\n")
            out.flush()
    return not any(r.data.get("exit") for r in results)


# ----------------------------------------------------------------------------- loops
def plain_loop(session: Session, lines: Iterable[str], out: IO[str]) -> int:
    """Non-terminal stdin: echo each line after the prompt and print its result."""
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        out.write(f"{PROMPT}{display(line)}\n")
        if not handle_line(session, line, out):
            break
    return EXIT_OK


def make_prompt_session(
    session: Session,
    *,
    input: Input | None = None,
    output: Output | None = None,
    history: History | None = None,
) -> PromptSession[str]:
    return PromptSession(
        message=PROMPT,
        completer=ReplCompleter(session),
        complete_while_typing=True,
        lexer=ReplLexer(),
        history=history if history is not None else make_history(),
        auto_suggest=AutoSuggestFromHistory(),
        bottom_toolbar=lambda: toolbar_fragments(session),
        style=STYLE,
        include_default_pygments_style=False,
        input=input,
        output=output,
    )


class Repl:
    """One REPL: a PromptSession over a Session. ``run()`` loops until Ctrl-D or ``exit``."""

    def __init__(
        self,
        session: Session,
        *,
        input: Input | None = None,
        output: Output | None = None,
        history: History | None = None,
        out: IO[str] | None = None,
        tty: bool | None = None,
        pager: Pager | None = None,
    ) -> None:
        self.session = session
        self.out = out or sys.stdout
        self.real_terminal = input is None
        # On a real terminal, ask the output stream; a test passes tty (and a pager) to
        # stand in for one.
        self.tty = tty if tty is not None else (isatty(self.out) if self.real_terminal else False)
        self.pager = pager if pager is not None else Pager()
        self._io = (input, output)
        self.prompt_session = make_prompt_session(
            session, input=input, output=output, history=history
        )

    def run(self) -> int:
        if self.real_terminal:
            self.out.write(
                "devmem-tui REPL: 'help' lists commands, Tab completes, ';' chains commands, "
                "Ctrl-D quits.\n"
            )
        while True:
            try:
                line = self.prompt_session.prompt()
            except KeyboardInterrupt:
                continue  # Ctrl-C cancels the line
            except EOFError:
                break  # Ctrl-D
            try:
                before = self.session.last_result
                if not handle_line(self.session, line, self.out, tty=self.tty, pager=self.pager):
                    break
                if self.session.last_result is not before:
                    self.confirm(self.session.last_result)
            except KeyboardInterrupt:  # Ctrl-C while a command or the pager runs
                self.out.write("interrupted\n")
        return EXIT_OK

    def confirm(self, result: Result | None) -> None:
        """A command that would destroy something (``record`` over a file) asks first: on
        yes, run the line that allows it (``ConfirmNeeded``)."""
        if result is None or not result.data.get("confirm"):
            return
        question = display(str(result.data["question"]))
        ask: PromptSession[str] = PromptSession(input=self._io[0], output=self._io[1])
        try:
            answer = ask.prompt(f"{question} [y/N] ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if answer.strip().lower() in ("y", "yes"):
            handle_line(self.session, str(result.data["confirm"]), self.out)


def run_repl(
    session: Session,
    *,
    input: Input | None = None,
    output: Output | None = None,
    history: History | None = None,
    out: IO[str] | None = None,
    interactive: bool | None = None,
) -> int:
    """The REPL; with stdin not a terminal (and no test ``input``), a plain line loop."""
    out = out or sys.stdout
    if input is None and not (interactive if interactive is not None else sys.stdin.isatty()):
        try:  # bounded lines: `repl < /dev/zero` is an error, not a MemoryError
            return plain_loop(session, stdin_lines(sys.stdin), out)
        except FileError as e:
            sys.stderr.write(display(f"devmem-tui: error: {e}") + "\n")
            return EXIT_USAGE
    return Repl(session, input=input, output=output, history=history, out=out).run()
