"""How a command's ``Result`` looks in every front end: its lines (``result_lines``, for the
transcript of ``run``, ``play`` and the REPL; ``log_entry``, for the TUI's log), how much of
its trace the ``trace`` setting shows (``shown_trace``), the one colour map of outcome words
(ANSI for terminals, Rich styles for the TUI, a glyph that carries the verdict without
colour), whether to colour a stream, and the exit statuses.

Nothing here imports rich: ``devmem-tui run`` loads this module on every start.
"""

from __future__ import annotations

import os
import re
from typing import IO, NamedTuple

from devmem_tui.commands.grammar import split_line
from devmem_tui.commands.registry import Result
from devmem_tui.commands.settings import TRACE_MODES
from devmem_tui.engine.iomem.text import CONTROL_CHAR, escape_controls

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT: the status a shell reports for a command Ctrl-C stopped

# ----------------------------------------------------------------------------- outcome styles
GOOD = frozenset({"OK", "ACK", "PLUGGED", "DONE"})
SOFT = frozenset({"ZEROS", "DROPPED", "SHORT", "MIXED", "UNPLUGGED", "NACK", "BUSY"})


class Style(NamedTuple):
    glyph: str  # the verdict without colour (NO_COLOR, a pipe)
    ansi: str  # terminals: run, play, the REPL
    rich: str  # the TUI


# Outcome class -> style. "error" is a command that did not run (a usage error, a failed
# expect), "bad" a refused access (EPERM, SIGBUS, ...).
STYLES: dict[str, Style] = {
    "good": Style("✓", "\x1b[32m", "green"),
    "soft": Style("~", "\x1b[33m", "yellow"),
    "bad": Style("✗", "\x1b[31m", "red"),
    "error": Style("✗", "\x1b[31m", "bold red"),
}
ANSI = {"dim": "\x1b[2m", "bold": "\x1b[1m", "reset": "\x1b[0m"}


def outcome_class(outcome: str | None) -> str:
    """'good', 'soft', 'bad' or 'error' (no outcome): how a front end colours an outcome."""
    if outcome is None or outcome == "error":
        return "error"
    if outcome in GOOD:
        return "good"
    if outcome in SOFT:
        return "soft"
    return "bad"


def outcome_style(outcome: str | None) -> tuple[str, str]:
    """(glyph, Rich style) of an outcome word, for the TUI."""
    style = STYLES[outcome_class(outcome)]
    return style.glyph, style.rich


def ansi(text: str, style: str) -> str:
    """text wrapped in the ANSI codes of an outcome class or of 'dim'/'bold'."""
    code = STYLES[style].ansi if style in STYLES else ANSI[style]
    return code + text + ANSI["reset"]


def isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def want_color(stream: IO[str]) -> bool:
    """Colour on a terminal unless NO_COLOR is set (https://no-color.org: any value)."""
    if os.environ.get("NO_COLOR"):
        return False
    return isatty(stream)


# ----------------------------------------------------------------------------- trace
def shown_trace(result: Result, mode: str = "on") -> list[str]:
    """The trace lines the ``trace`` setting shows: all (on), the check that decided the
    outcome (short: the verdict's decider, else the last line), or none (off)."""
    if mode not in TRACE_MODES:
        raise ValueError(f"trace mode {mode!r}")
    if mode == "off" or not result.trace:
        return []
    if mode == "short":
        decider = result.data.get("decider")
        return [decider] if isinstance(decider, str) and decider else result.trace[-1:]
    return list(result.trace)


# ----------------------------------------------------------------------------- display
def display(text: str) -> str:
    r"""The one rule for showing text that comes from data (resource names from a loaded
    /proc/iomem, a claim, a session file; scenario lines; file names): every control and
    separator character escaped as ``\xHH`` (``iomem_text.escape_controls``), so no name
    can send an escape sequence to the terminal or fake a line. Line feeds stay: they are
    the lines of a message. Every front end shows data through here."""
    return escape_controls(text)


def typed(text: str) -> str:
    """What a command line takes of typed or pasted text: tabs as spaces, and no control or
    separator character (a pasted escape sequence would otherwise sit in the line and be
    drawn by the terminal)."""
    return CONTROL_CHAR.sub(lambda m: " " if m.group() == "\t" else "", text)


def display_lines(text: str) -> list[str]:
    """A message's lines for display: split at LF only (``str.splitlines`` also splits at
    VT, FF, NEL, U+2028..., which would let a name fake a line of its own), each escaped."""
    if not text:
        return []
    return display(text.removesuffix("\n")).split("\n")


# ----------------------------------------------------------------------------- transcript
def result_lines(result: Result, trace: str = "on") -> list[tuple[str, str]]:
    """A result as (style, text) lines: style is 'error', 'outcome:WORD' (a first line that
    carries the outcome word), 'message', 'trace' or 'narration'. Front ends colour these;
    ``format_result`` joins them as plain text or ANSI. Every line is ``display``-safe."""
    lines: list[tuple[str, str]] = []
    msg_lines = display_lines(result.message)
    if not result.ok and result.outcome is None:
        lines.extend(("error", ln) for ln in (msg_lines or ["error"]))
    elif "say" in result.data:
        lines.extend(("narration", ln) for ln in msg_lines)
    else:
        outcome = result.outcome
        if outcome and outcome != "DONE":
            first = msg_lines[0] if msg_lines else ""
            if outcome not in re.findall(r"[A-Z]+", first):
                first = f"{outcome}  {first}".rstrip()
            lines.append((f"outcome:{outcome}", first))
            lines.extend(("message", ln) for ln in msg_lines[1:])
        elif msg_lines:
            lines.extend(("message", ln) for ln in msg_lines)
        elif outcome and not result.data.get("exit") and not result.data.get("pause"):
            lines.append((f"outcome:{outcome}", outcome))
    lines.extend(("trace", "    " + display(t)) for t in shown_trace(result, trace))
    return lines


def format_result(result: Result, trace: str = "on", color: bool = False) -> str:
    """A result as text: outcome and message, then the trace indented (dim with color)."""
    out = []
    for style, text in result_lines(result, trace):
        if not color:
            out.append(text)
        elif style == "error":
            out.append(ansi(text, "bad"))
        elif style == "trace":
            out.append(ansi(text, "dim"))
        elif style == "narration":
            out.append(ansi(text, "bold"))
        elif style.startswith("outcome:"):
            word = style.split(":", 1)[1]
            colored = ansi(word, outcome_class(word))
            out.append(re.sub(rf"\b{re.escape(word)}\b", colored, text, count=1))
        else:
            out.append(text)
    return "\n".join(out)


# ----------------------------------------------------------------------------- the TUI's log
# Commands whose message is a table or a listing: in the TUI's log their lines never wrap (the
# log scrolls sideways instead), where prose wraps under a hanging indent.
TABLE_COMMANDS = frozenset(
    {"iomem", "blocks", "vmem", "config", "compare", "maps", "machine", "whatis", "help"}
)


class LogLine(NamedTuple):
    """One line of the TUI's log. ``wrap``: prose, wrapped to the pane with continuation
    lines indented by ``hang`` cells; else a table line, never wrapped."""

    text: str
    style: str = ""
    wrap: bool = True
    hang: int = 2


class LogEntry(NamedTuple):
    """One command in the TUI's log: its lines (the command, the outcome, the message, what
    changed) and its trace, which the log shows as the ``trace`` setting says and folds
    when it is long."""

    lines: list[LogLine]
    trace: list[str]
    decider: str = ""  # the trace line that decided the outcome (what `trace short` shows)


def _table_like(text: str) -> bool:
    """Column-aligned text: two spaces in a row after the indent."""
    return "  " in text.strip()


def _drop_echo(first: str, line: str) -> str:
    """``kcore 0x1000: OK (...)`` logged under ``> kcore 0x1000`` is ``OK (...)``: the
    command is on the line above, so the message does not repeat it."""
    head, sep, rest = first.partition(": ")
    words = head.split()
    if sep and rest and words and split_line(line)[: len(words)] == words:
        return rest
    return first


def _help_paragraphs(lines: list[str]) -> list[LogLine]:
    """``help COMMAND`` for a pane: usage and table lines as written, prose lines joined
    into paragraphs (a paragraph ends at a line ending in '.' or ':', at a change of
    indent, or before ``Example``), so the pane wraps them once, under a hanging indent."""
    out: list[LogLine] = []
    para: list[str] = []
    indent = 0
    usage = False  # lines under "usage:" (the first line is one too)

    def flush() -> None:
        if para:
            out.append(LogLine(" " * indent + " ".join(para), hang=indent + 2))
            para.clear()

    for i, ln in enumerate(lines):
        text = ln.strip()
        lead = len(ln) - len(ln.lstrip())
        if i == 0 or not text or usage or _table_like(text):
            flush()
            out.append(LogLine(ln, wrap=False))
            usage = usage and bool(text)
            continue
        if text == "usage:":
            flush()
            out.append(LogLine(ln, wrap=False))
            usage = True
            continue
        if para and (lead != indent or text.startswith("Example")):
            flush()
        indent = lead
        para.append(text)
        if text.endswith((".", ":")):
            flush()
    flush()
    return out


def log_entry(line: str, result: Result | None) -> LogEntry:
    """A command for the TUI's log: ``> line``, then a glyph and the outcome with the
    message's first line (without the command it repeats), the message's other lines
    (tables as written, prose to be wrapped), and the trace. An ``expect`` is one line,
    its verdict; a command that cannot run is ``✗`` and its error."""
    cmd = LogLine(display(f"> {line}"), "bold")
    if result is None:
        return LogEntry([cmd], [])
    words = split_line(line)
    name = words[0] if words else ""
    msg_lines = display_lines(result.message.rstrip("\n"))
    if name == "expect" and (result.ok or result.expect_failed):
        if result.ok:
            glyph, style = outcome_style("OK")
            return LogEntry([LogLine(display(f"{glyph} {line}"), style)], [])
        return LogEntry(
            [LogLine(f"✗ {msg_lines[0] if msg_lines else display(line)}", STYLES["error"].rich)],
            [],
        )
    if not result.ok:
        first = msg_lines[0] if msg_lines else "error"
        rest = [LogLine(f"  {m}", wrap=True, hang=4) for m in msg_lines[1:]]
        return LogEntry([cmd, LogLine(f"✗ {first}", STYLES["error"].rich), *rest], [])
    glyph, style = outcome_style(result.outcome)
    out = [cmd]
    outcome = result.outcome or ""
    # `vmem` lists the devices; `vmem resize` and `vmem add` report in prose
    table = name in TABLE_COMMANDS and not (name == "vmem" and len(words) > 1)
    if outcome == "DONE" and len(msg_lines) > 1 and (table or _table_like(msg_lines[0])):
        body = msg_lines  # a listing: a glyph line would only say "done"
    else:
        first = _drop_echo(msg_lines[0], line) if msg_lines else ""
        if outcome != "DONE" and outcome not in re.findall(r"[A-Z]+", first):
            first = f"{outcome}  {first}".rstrip()
        out.append(LogLine(f"{glyph} {first}".rstrip(), style, hang=2))
        body = msg_lines[1:]
    if name == "help" and len(words) > 1:
        out.extend(
            LogLine("  " + p.text, p.style, p.wrap, p.hang + 2) for p in _help_paragraphs(body)
        )
    else:
        for m in body:
            lead = len(m) - len(m.lstrip())
            out.append(LogLine(f"  {m}", wrap=not table and not _table_like(m), hang=lead + 4))
    short = shown_trace(result, "short")
    return LogEntry(out, [display(t) for t in result.trace], display(short[0]) if short else "")
