"""Sweeps as the command layer runs and shows them (``sweep``, ``export policy-map``, the
TUI's policy map): the arguments (OP, RANGE, ``--vs KEY=VALUE...``, ``--vs-saved FILE``), the
machine on the other side of a diff, and the text tables.

The rows come from the engine (``engine.devmem.sweep``); nothing here decides a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from devmem_tui import files
from devmem_tui.commands.numbers import parse_range
from devmem_tui.commands.registry import UsageError
from devmem_tui.commands.whatif import parse_settings, settings_text, with_settings
from devmem_tui.engine.devmem.sweep import (
    OPS,
    DiffRow,
    Row,
    diff,
    diff_totals,
    phys_limit,
    sweep,
    totals,
)
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.snapshot import build as snapshot_build
from devmem_tui.engine.snapshot.format import Snapshot
from devmem_tui.engine.units import fmt_size_approx

__all__ = ["OPS", "SweepJob", "box_lines", "diff_text", "parse_job", "sweep_text"]


def box_lines(size: int) -> int:
    """How many lines a range gets in a picture of a sweep (the TUI's policy map, the SVG):
    the scale is per range, not per byte, so a 4 KiB page next to 60 TiB of nothing is seen.
    1 below 1 MiB, 2 from 1 MiB, +1 per factor of 1024 above that, up to 5."""
    lines = 1
    size >>= 20
    while size >= 1 and lines < 5:
        lines += 1
        size >>= 10
    return lines


@dataclass
class SweepJob:
    """One sweep or diff to run: the op, the range and the machine(s)."""

    op: str
    lo: int
    hi: int
    base: Machine
    other: Machine | None = None
    other_label: str = ""  # what the other side is: "iomem=relaxed", "saved.json"
    settings: list[tuple[str, str]] = field(default_factory=list)

    @cached_property
    def rows(self) -> list[Row]:
        return sweep(self.base, self.op, self.lo, self.hi)

    @cached_property
    def other_rows(self) -> list[Row]:
        assert self.other is not None
        return sweep(self.other, self.op, self.lo, self.hi)

    @cached_property
    def diff(self) -> list[DiffRow]:
        return diff(self.rows, self.other_rows)

    @property
    def range_text(self) -> str:
        return f"{self.lo:#x}-{self.hi:#x}"


def parse_job(
    machine: Machine,
    args: list[str],
    name: str,
    op_optional: bool = False,
    open_path: Callable[[str], str] | None = None,
) -> SweepJob:
    """``OP [RANGE] [--vs KEY=VALUE...] [--vs-saved FILE]`` (``name`` prefixes the errors).
    RANGE defaults to the physical address space (up to 2^phys_bits on x86, 2^48 on arm64),
    of both machines for a diff. Everything is checked before anything runs. ``open_path``
    turns the FILE typed into the path to read (``Session.user_path``: a session with a file
    root reads only there)."""
    rest = list(args)
    op = "read"
    if rest and rest[0].lower() in OPS:
        op = rest.pop(0).lower()
    elif not op_optional:
        got = f"{rest[0]!r} is not" if rest else "missing OP: one of"
        raise UsageError(f"{name}: {got} {', '.join(OPS)}")
    rng: tuple[int, int] | None = None
    if rest and not rest[0].startswith("--"):
        word = rest.pop(0)
        try:
            rng = parse_range(word)
        except DevmemError as e:
            if op_optional and not any(c.isdigit() for c in word):
                raise UsageError(f"{name}: {word!r} is not {', '.join(OPS)} or a RANGE") from None
            raise UsageError(f"{name}: {e}") from None
    vs: list[str] | None = None
    saved: str | None = None
    while rest:
        opt = rest.pop(0)
        if opt == "--vs":
            if vs is not None:
                raise UsageError(f"{name}: --vs is given twice (list every KEY=VALUE after one)")
            vs = []
            while rest and not rest[0].startswith("--"):
                vs.append(rest.pop(0))
        elif opt == "--vs-saved":
            if saved is not None or not rest or rest[0].startswith("--"):
                raise UsageError(f"{name}: --vs-saved takes one FILE")
            saved = rest.pop(0)
        elif opt.startswith("--"):
            raise UsageError(f"{name}: unknown option {opt!r} (--vs KEY=VALUE..., --vs-saved FILE)")
        else:
            raise UsageError(f"{name}: unexpected argument {opt!r}")
    if vs is not None and saved is not None:
        raise UsageError(f"{name}: use --vs or --vs-saved, not both")
    job = SweepJob(op, 0, 0, machine)
    if vs is not None:
        job.settings = parse_settings(vs)
        job.other = with_settings(machine, job.settings)
        job.other_label = settings_text(job.settings)
    elif saved is not None:
        doc = files.load_document(
            open_path(saved) if open_path is not None else saved
        )  # a saved session or a snapshot
        if isinstance(doc, Snapshot):  # the keys it does not tell are this machine's
            doc = snapshot_build.build(doc, machine.config).machine
        job.other = doc
        job.other_label = saved
    if rng is None:
        top = max(phys_limit(m) for m in (job.base, job.other) if m is not None)
        rng = (0, top - 1)
    job.lo, job.hi = rng
    return job


# ----------------------------------------------------------------------------- tables
def _range(start: int, end: int) -> str:
    return f"0x{start:016x}-0x{end:016x}"


def _totals_line(sizes: dict[str, int]) -> str:
    return ", ".join(f"{fmt_size_approx(n)} {word}" for word, n in sizes.items())


def sweep_text(job: SweepJob) -> str:
    """`sweep`: RANGE SIZE OUTCOME DECIDED BY, one row per range, then the total per outcome."""
    rows = job.rows
    head = (
        f"sweep {job.op} {job.range_text} under {job.base.config.short()}: "
        f"{len(rows)} range{'s' if len(rows) != 1 else ''}"
    )
    width = max(len(fmt_size_approx(r.size)) for r in rows)
    outw = max(7, *(len(r.outcome.value) for r in rows))
    lines = [head, f"{'RANGE':<37}  {'SIZE':>{width}}  {'OUTCOME':<{outw}}  DECIDED BY"]
    for r in rows:
        lines.append(
            f"{_range(r.start, r.end)}  {fmt_size_approx(r.size):>{width}}  "
            f"{r.outcome.value:<{outw}}  {r.decided_by}"
        )
    lines.append(f"total: {_totals_line(totals(rows))}")
    return "\n".join(lines)


def diff_text(job: SweepJob) -> str:
    """`sweep --vs`: the ranges whose outcome changes, old -> new, with both deciding checks,
    then the size that changed per pair of outcomes."""
    assert job.other is not None
    rows = job.diff
    old_cfg, new_cfg = job.base.config.short(), job.other.config.short()
    head = (
        f"sweep {job.op} {job.range_text}: this session ({old_cfg}) -> {job.other_label} "
        f"({new_cfg}): "
    )
    if not rows:
        return head + "no range changes its outcome"
    head += f"{len(rows)} range{'s' if len(rows) != 1 else ''} change"
    width = max(len(fmt_size_approx(r.size)) for r in rows)
    lines = [head, f"{'RANGE':<37}  {'SIZE':>{width}}  OUTCOME"]
    for r in rows:
        lines.append(f"{_range(r.start, r.end)}  {fmt_size_approx(r.size):>{width}}  {r.change}")
        lines.append(f"  before: {r.old.decided_by}")
        lines.append(f"  after:  {r.new.decided_by}")
    lines.append(f"changed: {_totals_line(diff_totals(rows))}")
    return "\n".join(lines)
