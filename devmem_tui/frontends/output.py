"""How a command's ``Result`` looks in every front end: its lines (``result_lines``, for the
transcript of ``run``, ``play`` and the REPL; ``log_lines``, for the TUI's log), the one
colour map of outcome words (ANSI for terminals, Rich styles for the TUI, a glyph that
carries the verdict without colour), whether to colour a stream, and the exit statuses.
"""

from __future__ import annotations

import os
import re
from typing import IO, NamedTuple

from devmem_tui.commands.registry import Result

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

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


def want_color(stream: IO[str]) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# ----------------------------------------------------------------------------- transcript
def result_lines(result: Result, trace: bool = True) -> list[tuple[str, str]]:
    """A result as (style, text) lines: style is 'error', 'outcome:WORD' (a first line that
    carries the outcome word), 'message', 'trace' or 'narration'. Front ends colour these;
    ``format_result`` joins them as plain text or ANSI."""
    lines: list[tuple[str, str]] = []
    msg_lines = result.message.splitlines() if result.message else []
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
    if trace:
        lines.extend(("trace", "    " + t) for t in result.trace)
    return lines


def format_result(result: Result, trace: bool = True, color: bool = False) -> str:
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
def log_lines(line: str, result: Result | None) -> list[tuple[str, str]]:
    """(text, Rich style) lines for one command in the TUI's log: the command, a glyph and
    the outcome with a one-line message (an error is its first line only), the message's
    other lines indented, then the trace. Terser than the transcript: the log is a pane."""
    out: list[tuple[str, str]] = [(f"> {line}", "bold")]
    if result is None:
        return out
    if not result.ok:
        msg = result.message.strip().splitlines()
        first = msg[0] if msg else "error"
        out.append((f"✗ {first}", STYLES["error"].rich))
        return out
    glyph, style = outcome_style(result.outcome)
    msg_lines = result.message.rstrip("\n").splitlines() or [""]
    head = f"{glyph} {result.outcome or ''}"
    if len(msg_lines) == 1 and msg_lines[0]:
        head += f"  {msg_lines[0]}"
        msg_lines = []
    out.append((head, style))
    out.extend((f"  {m}", "") for m in msg_lines)
    out.extend((f"    · {tr}", "dim") for tr in result.trace)
    return out
