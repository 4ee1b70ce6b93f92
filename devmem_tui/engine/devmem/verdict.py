"""Outcomes (DESIGN §4) and the Verdict every access returns, with its trace of kernel checks."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from devmem_tui.engine.units import add_range, fmt_ranges

__all__ = ["add_range", "fmt_ranges"]  # re-exported: callers build verdict ranges with them


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
    {
        Outcome.EPERM,
        Outcome.EFAULT,
        Outcome.EINVAL,
        Outcome.ENOSYS,
        Outcome.EAGAIN,
        Outcome.ENXIO,
        Outcome.EBUSY,
    }
)


# A trace line: a string, or a lazy line ``(formatter, *args)`` rendered as
# ``formatter(*args)`` the first time someone reads it. The rules return lazy lines so that a
# verdict nobody prints costs no string formatting. The args are values captured when the check
# ran (ints, strings, enums, tuples of them), never live objects such as a Resource, so a line
# rendered after the machine changed still says what the check saw.
Line = str | tuple[Any, ...]


def render(line: Line) -> str:
    """The text of one trace line."""
    return line if type(line) is str else line[0](*line[1:])  # type: ignore[operator]


def render_all(lines: list[Line]) -> list[str]:
    return [x if type(x) is str else x[0](*x[1:]) for x in lines]  # type: ignore[operator]


class Verdict:
    """The answer to one access: outcome word, bytes moved, and the trace that decided it.

    ``trace`` lists the kernel checks in the order they ran, each naming the kernel function
    and what it returned, e.g. ``devmem_is_allowed(0x100): System RAM >= 1 MiB -> 0``.
    ``zero_pages`` / ``data_pages`` are page-aligned (start, end-inclusive) ranges the call
    zero-filled or moved real data for (for a failed call: what was done before it failed).
    ``decider`` is the trace line that decided the outcome (for ``compare``, ``whatis``);
    ``notes`` are detail lines shown under the message.

    ``op``, ``trace``, ``detail`` and ``decider`` may be built from lazy lines (see ``Line``);
    reading any of them renders all four once.
    """

    __slots__ = (
        "_op",
        "outcome",
        "nbytes",
        "_trace",
        "_detail",
        "zero_pages",
        "data_pages",
        "mapping",
        "counterfactual",
        "_decider",
        "notes",
        "_raw",
    )

    def __init__(
        self,
        op: Line,
        outcome: Outcome,
        nbytes: int = 0,
        trace: list[Line] | None = None,
        detail: Line = "",
        zero_pages: list[tuple[int, int]] | None = None,
        data_pages: list[tuple[int, int]] | None = None,
        mapping: str | None = None,
        counterfactual: str | None = None,
        decider: Line = "",
        notes: list[str] | None = None,
    ) -> None:
        self._op = op
        self.outcome = outcome
        self.nbytes = nbytes
        self._trace: list[Line] = [] if trace is None else trace
        self._detail = detail
        self.zero_pages = [] if zero_pages is None else zero_pages
        self.data_pages = [] if data_pages is None else data_pages
        self.mapping = mapping
        self.counterfactual = counterfactual
        self._decider = decider
        self.notes = [] if notes is None else notes
        self._raw = True

    def _settle(self) -> None:
        self._op = render(self._op)
        self._trace = render_all(self._trace)  # type: ignore[assignment]
        self._detail = render(self._detail)
        self._decider = render(self._decider)
        self._raw = False

    @property
    def op(self) -> str:
        if self._raw:
            self._settle()
        return self._op  # type: ignore[return-value]

    @op.setter
    def op(self, value: Line) -> None:
        self._op, self._raw = value, True

    @property
    def trace(self) -> list[str]:
        if self._raw:
            self._settle()
        return self._trace  # type: ignore[return-value]

    @trace.setter
    def trace(self, value: list[Line]) -> None:
        self._trace, self._raw = value, True

    @property
    def detail(self) -> str:
        if self._raw:
            self._settle()
        return self._detail  # type: ignore[return-value]

    @detail.setter
    def detail(self, value: Line) -> None:
        self._detail, self._raw = value, True

    @property
    def decider(self) -> str:
        if self._raw:
            self._settle()
        return self._decider  # type: ignore[return-value]

    @decider.setter
    def decider(self, value: Line) -> None:
        self._decider, self._raw = value, True

    def _fields(self) -> tuple[object, ...]:
        return (
            self.op,
            self.outcome,
            self.nbytes,
            self.trace,
            self.detail,
            self.zero_pages,
            self.data_pages,
            self.mapping,
            self.counterfactual,
            self.decider,
            self.notes,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaced

    def __repr__(self) -> str:
        return (
            f"Verdict(op={self.op!r}, outcome={self.outcome!r}, nbytes={self.nbytes!r}, "
            f"trace={self.trace!r}, detail={self.detail!r}, decider={self.decider!r})"
        )

    @property
    def message(self) -> str:
        """One readable line: what happened, with the byte count."""
        text = f"{self.op}: {self.outcome.value}"
        if self.detail:
            text += f" ({self.detail})"
        if self.counterfactual:
            text += f" [counterfactual: {self.counterfactual}]"
        return text
