"""Shared helpers for the benchmark suite: environment facts, timing, tables, deep sizes."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def cpu_model() -> str:
    """The CPU as /proc/cpuinfo names it ('model name'), or the platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, str]:
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True),
        "load": load_average(),
    }


def load_average() -> str:
    """1/5/15-minute load average: the suite shares the machine, so say how busy it was."""
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def cli_argv() -> list[str]:
    """The command that starts the installed devmem-tui: its console script beside this
    interpreter, else the CLI module run by this interpreter."""
    exe = os.path.join(os.path.dirname(sys.executable), "devmem-tui")
    if os.path.exists(exe):
        return [exe]
    return [sys.executable, "-m", "devmem_tui.frontends.cli"]


def median_time(fn: Callable[[], Any], runs: int) -> tuple[float, list[float]]:
    """Median wall time of ``runs`` calls of fn (seconds), and all the times. The garbage
    collector runs before each call, not during it, so one run does not pay for another
    (young generations only: a full collection with a 100k map alive costs ~0.5 s)."""
    times = []
    for _ in range(runs):
        gc.collect(1)
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return statistics.median(times), times


@dataclass
class Table:
    """One printed result table; ``data`` keeps the raw numbers for --json."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        out = [
            f"### {self.title}",
            "",
            line(self.headers),
            "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        ]
        out += [line(r) for r in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out)


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def fmt_s(x: float) -> str:
    if x < 1e-3:
        return f"{x * 1e6:.1f} us"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def deep_size(obj: object, stop: tuple[type, ...] = ()) -> int:
    """Bytes reachable from obj (sys.getsizeof over the object graph), not following objects
    of the ``stop`` types (e.g. the Machine a device points back to), classes, modules or
    functions. Shared small ints/strings are counted once."""
    seen: set[int] = set()
    total = 0
    todo = [obj]
    skip = (
        type,
        types.ModuleType,
        types.FunctionType,
        types.BuiltinFunctionType,
        types.MethodType,
        *stop,
    )
    while todo:
        o = todo.pop()
        if id(o) in seen or (o is not obj and isinstance(o, skip)):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        todo.extend(gc.get_referents(o))
    return total
