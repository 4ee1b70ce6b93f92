"""The outcome words, the ``Verdict`` every access returns with its trace of kernel checks,
and what the access paths (rw, mmap, mappings, kcore) build verdicts with.

Trace lines may be lazy (``Line``): the rules return ``(formatter, *args)`` tuples, and a
verdict renders them the first time someone reads its text, so a verdict nobody prints costs
no string formatting.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.units import ADDR_MAX, PAGE_SIZE, add_range, fmt_ranges

__all__ = [  # add_range and fmt_ranges are re-exported: callers build verdict ranges with them
    "ERRNO_OUTCOMES",
    "MAX_TRACED_RUNS",
    "Lazy",
    "Line",
    "Outcome",
    "Verdict",
    "add_range",
    "check_end",
    "fmt_ranges",
    "op_text",
    "render",
    "render_all",
    "traced",
    "trim_runs",
]

P = ParamSpec("P")
T = TypeVar("T")


class Outcome(StrEnum):
    """The outcome words every command prints (an errno name, or what the call returned)."""

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
    EBUSY = "EBUSY"  # sysfs memoryN/state writes: offline of unmovable pages (cmd_vmem)
    EINTR = "EINTR"  # offline of a long-term pinned page: retried until a signal (cmd_vmem)
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
        Outcome.EINTR,
    }
)


# A trace line: a string, or a lazy line ``(formatter, *args)`` rendered as
# ``formatter(*args)`` the first time someone reads it. The rules return lazy lines so that a
# verdict nobody prints costs no string formatting. The args are values captured when the check
# ran (ints, strings, enums, tuples of them), never live objects such as a Resource, so a line
# rendered after the machine changed still says what the check saw.
Line = str | tuple[Any, ...]
Lazy = tuple[bool, list[Line]]  # a yes/no rule's answer with its lazy trace lines


def render(line: Line) -> str:
    """The text of one trace line."""
    return line if type(line) is str else line[0](*line[1:])  # type: ignore[operator]


def render_all(lines: list[Line]) -> list[str]:
    return [x if type(x) is str else x[0](*x[1:]) for x in lines]  # type: ignore[operator]


def traced(rule: Callable[P, tuple[T, list[Line]]]) -> Callable[P, tuple[T, list[str]]]:
    """The public form of a rule: the same answer with its trace rendered to strings. The
    rules return lazy lines so that the per-page hot path only formats what someone reads."""

    @wraps(rule)
    def public(*args: P.args, **kwargs: P.kwargs) -> tuple[T, list[str]]:
        value, lines = rule(*args, **kwargs)
        return value, render_all(lines)

    return public


# ------------------------------------------------------------------------------ builders
MAX_TRACED_RUNS = 12  # longer calls keep the first and last runs' checks in the trace


def op_text(name: str, addr: int, length: int, suffix: str = "") -> str:
    """How a verdict names its call: ``read 0x1000`` (one page) or ``read 0x1000 0x2000``.
    Used lazily, as ``(op_text, name, addr, length)``."""
    base = f"{name} {hex(addr)} {hex(length)}" if length != PAGE_SIZE else f"{name} {hex(addr)}"
    return base + suffix


def check_end(op: Line, addr: int, length: int) -> None:
    """A range ending past 2^64 - 1 never reaches the driver: ``rw_verify_area()`` refuses it
    with EOVERFLOW (not an outcome of this simulator), so it is an input error."""
    if addr + length > ADDR_MAX + 1 or addr > ADDR_MAX or length > ADDR_MAX:
        raise DevmemError(
            f"{render(op)}: the range ends past 2^64 - 1 (rw_verify_area() refuses "
            "it with EOVERFLOW)"
        )


class RunGroups:
    """The trace-line groups of a call's page runs, kept the way ``trim_runs`` prints them:
    the first and last MAX_TRACED_RUNS // 2 groups of a long call and how many were omitted,
    every group of a short one. A batch of runs that answer alike (``add_batch``) has only the
    groups made that can be printed, so a call over 4,096 runs makes at most 12 of them."""

    __slots__ = ("head", "tail", "count")

    def __init__(self) -> None:
        self.head: list[list[Line]] = []  # the first MAX_TRACED_RUNS groups
        self.tail: list[list[Line]] = []  # the last MAX_TRACED_RUNS // 2 groups
        self.count = 0

    def add(self, group: list[Line]) -> None:
        if len(self.head) < MAX_TRACED_RUNS:
            self.head.append(group)
        self.tail.append(group)
        if len(self.tail) > MAX_TRACED_RUNS // 2:
            del self.tail[0]
        self.count += 1

    def add_batch(self, n: int, make: Callable[[int], list[Line]]) -> None:
        """Runs 0..n-1 of a batch, ``make(k)`` the group of run k (called only for the groups
        that may be printed)."""
        made = min(n, max(0, MAX_TRACED_RUNS - len(self.head)))  # into the head
        tail_from = max(made, n - MAX_TRACED_RUNS // 2)  # the rest of the batch's end
        for k in range(made):
            self.add(make(k))
        self.count += tail_from - made  # runs nobody prints: counted, never made
        for k in range(tail_from, n):
            self.add(make(k))

    @property
    def last(self) -> list[Line]:
        return self.tail[-1]

    def lines(self, fn: str) -> list[Line]:
        """``trim_runs(fn, every group)``."""
        if self.count <= MAX_TRACED_RUNS:
            return trim_runs(fn, self.head)
        half = MAX_TRACED_RUNS // 2
        out = [line for grp in self.head[:half] for line in grp]
        out.append(f"{fn}: ... {self.count - 2 * half} more page runs (same checks) omitted")
        out += [line for grp in self.tail for line in grp]
        return out


def trim_runs(fn: str, groups: list[list[Line]]) -> list[Line]:
    """The trace lines of per-page-run groups, keeping only the first and last runs' checks
    on long calls (``fn`` names the kernel function in the line that says so)."""
    if len(groups) == 1:
        return groups[0]  # a one-page call, the common case
    if len(groups) <= MAX_TRACED_RUNS:
        return [line for grp in groups for line in grp]
    half = MAX_TRACED_RUNS // 2
    out = [line for grp in groups[:half] for line in grp]
    out.append(f"{fn}: ... {len(groups) - 2 * half} more page runs (same checks) omitted")
    out += [line for grp in groups[-half:] for line in grp]
    return out


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

    @property
    def raw_lines(self) -> tuple[list[Line], Line]:
        """The trace and the deciding line as they are, lazy or rendered, without rendering
        the rest: for callers that read two lines of each of many verdicts (the sweep). While
        the verdict is unrendered the deciding line is the very object in the trace."""
        return self._trace, self._decider

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

    def finish(self, outcome: Outcome, detail: Line, decider: Line, nbytes: int = 0) -> Verdict:
        """Set what the call ended with (for verdicts filled in step by step); returns self."""
        self.outcome = outcome
        self.detail = detail
        self.decider = decider
        self.nbytes = nbytes
        return self

    @property
    def message(self) -> str:
        """One readable line: what happened, with the byte count."""
        text = f"{self.op}: {self.outcome.value}"
        if self.detail:
            text += f" ({self.detail})"
        if self.counterfactual:
            text += f" [counterfactual: {self.counterfactual}]"
        return text
