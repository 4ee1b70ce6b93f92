"""Outcomes (DESIGN §4) and the Verdict every access returns, with its trace of kernel checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """The exact outcome words of DESIGN §4."""

    OK = "OK"
    ZEROS = "ZEROS"
    DROPPED = "DROPPED"
    SHORT = "SHORT"
    EPERM = "EPERM"
    EFAULT = "EFAULT"
    EINVAL = "EINVAL"
    ENOSYS = "ENOSYS"
    EAGAIN = "EAGAIN"
    ENXIO = "ENXIO"
    EBUSY = "EBUSY"  # sysfs memoryN/state writes: offline with pinned pages (cmd_vmem)
    SIGBUS = "SIGBUS"
    ACK = "ACK"
    NACK = "NACK"
    BUSY = "BUSY"
    ERROR = "ERROR"
    PLUGGED = "PLUGGED"
    UNPLUGGED = "UNPLUGGED"
    MIXED = "MIXED"
    DONE = "DONE"


ERRNO_OUTCOMES = frozenset(
    {Outcome.EPERM, Outcome.EFAULT, Outcome.EINVAL, Outcome.ENOSYS, Outcome.EAGAIN, Outcome.ENXIO,
     Outcome.EBUSY}
)


@dataclass
class Verdict:
    """The answer to one access: outcome word, bytes moved, and the trace that decided it.

    ``trace`` lists the kernel checks in the order they ran, each naming the kernel function
    and what it returned, e.g. ``devmem_is_allowed(0x100): System RAM >= 1 MiB -> 0``.
    ``zero_pages`` / ``data_pages`` are page-aligned (start, end-inclusive) ranges the call
    zero-filled or moved real data for (for a failed call: what was done before it failed).
    """

    op: str
    outcome: Outcome
    nbytes: int = 0
    trace: list[str] = field(default_factory=list)
    detail: str = ""
    zero_pages: list[tuple[int, int]] = field(default_factory=list)
    data_pages: list[tuple[int, int]] = field(default_factory=list)
    mapping: str | None = None
    counterfactual: str | None = None
    decider: str = ""  # the trace line that decided the outcome (for `compare`, `whatis`)
    notes: list[str] = field(default_factory=list)  # detail lines shown under the message

    @property
    def message(self) -> str:
        """One readable line: what happened, with the byte count."""
        text = f"{self.op}: {self.outcome.value}"
        if self.detail:
            text += f" ({self.detail})"
        if self.counterfactual:
            text += f" [counterfactual: {self.counterfactual}]"
        return text


def add_range(ranges: list[tuple[int, int]], start: int, end: int) -> None:
    """Append inclusive [start, end] to a sorted range list, merging with the last one."""
    if ranges and ranges[-1][1] + 1 == start:
        ranges[-1] = (ranges[-1][0], end)
    else:
        ranges.append((start, end))


def fmt_ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a:#x}-{b:#x}" for a, b in ranges)
