"""What read(), mmap() and a /proc/kcore read would get at an address, decided without changing
anything: ``whatis`` prints it, and the TUI's details pane shows it for the selection."""

from __future__ import annotations

from typing import NamedTuple

from devmem_tui.engine.devmem import mmap
from devmem_tui.engine.devmem.verdict import Verdict
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.units import PAGE_SIZE


class Prediction(NamedTuple):
    """One access decided: its verdict, or the exception the engine raised deciding it.
    (A NamedTuple: cheaper to define than a dataclass on every `devmem-tui run` start.)"""

    op: str  # "read", "mmap" or "kcore"
    verdict: Verdict | None
    error: Exception | None = None

    @property
    def outcome(self) -> str:
        return self.verdict.outcome.value if self.verdict is not None else "error"

    @property
    def detail(self) -> str:
        if self.verdict is not None:
            return self.verdict.detail
        if isinstance(self.error, DevmemError):
            return str(self.error)
        return f"{type(self.error).__name__}: {self.error}"

    @property
    def trace(self) -> list[str]:
        return list(self.verdict.trace) if self.verdict is not None else []


def predictions(machine: Machine, addr: int, length: int = PAGE_SIZE) -> list[Prediction]:
    """read and kcore of ``length`` bytes at addr, and mmap of the page holding addr (mmap
    offsets are page aligned). mmap runs with dry_run, so no mapping is made, and any events
    the engine raises while deciding are dropped: the machine is left exactly as it was."""
    page = addr & ~(PAGE_SIZE - 1)
    calls = (
        ("read", lambda: machine.read(addr, length)),
        ("mmap", lambda: mmap.mmap_mem(machine, page, length, False, dry_run=True)),
        ("kcore", lambda: machine.kcore(addr, length)),
    )
    mark = len(machine.events)
    out: list[Prediction] = []
    for op, decide in calls:
        try:
            out.append(Prediction(op, decide()))
        except Exception as e:  # the caller reports engine errors (and bugs) its own way
            out.append(Prediction(op, None, e))
    del machine.events[mark:]
    return out
