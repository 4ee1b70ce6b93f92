"""One command through the command layer, with its outcome and a piece of its message
checked (the tests of kernel versions, lockdown, labels, pins and kexec share it)."""

from __future__ import annotations

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session


def run(s: Session, line: str, outcome: str | None = "DONE", text: str = "") -> Result:
    """Session.execute(line): the outcome word (None = a usage error) and TEXT in the
    message, or an assertion naming the line, what came back and the end of its trace."""
    r = s.execute(line)
    assert r is not None, line
    assert r.outcome == outcome, (line, r.outcome, r.message, r.trace[-3:])
    assert text in r.message, (line, r.message)
    return r
