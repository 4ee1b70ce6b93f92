"""Memory against the number of commands a session runs: the peak RSS of ``devmem-tui run``
and ``play`` over scripts of n ``vmem resize`` commands, and of the TUI after n commands
(each in its own process). A session must not grow with its history: the machine's event
queue is bounded, and so are the TUI's transcript and results (its log keeps 1,000 entries).

The peak is the child's own ``VmHWM`` (/proc/self/status), read as it exits. Not
``ru_maxrss``: Linux carries the high-water mark of the memory a process had before ``exec``
into it, and a child forked (or vforked) from this process starts with this process's whole
heap, so ``ru_maxrss`` reports the parent's size for every small child.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.common import Table, cli_argv, fmt_s

# The child's own peak, in KiB (the scripts below carry it: importing benchmarks there would
# add the benchmark modules to what is measured).
VM_HWM = r"""
def vm_hwm_kib():
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")
"""

TUI_SCRIPT = (
    VM_HWM
    + r"""
import asyncio, sys
from devmem_tui.commands.session import Session
from devmem_tui.frontends.tui.app import DevmemApp

async def main(n):
    app = DevmemApp(Session.new(), keymap={})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for i in range(n):
            app.run_command("vmem resize vmem0 256M" if i % 2 == 0 else "vmem resize vmem0 0")
            await pilot.pause()  # as from the command bar: the screen updates in between
    print(vm_hwm_kib())

asyncio.run(main(int(sys.argv[1])))
"""
)


def _script(n: int, folder: str) -> str:
    path = os.path.join(folder, f"resize-{n}.scenario")
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write("vmem resize vmem0 256M\n" if i % 2 == 0 else "vmem resize vmem0 0\n")
    return path


# `devmem-tui ARGS` in a child that writes its peak RSS (VmHWM) to the file named by
# DEVMEM_BENCH_HWM when it exits.
CLI_SCRIPT = (
    VM_HWM
    + r"""
import atexit, os, sys
from devmem_tui.frontends.cli import main

def report():
    with open(os.environ["DEVMEM_BENCH_HWM"], "w") as f:
        f.write(str(vm_hwm_kib()))

atexit.register(report)
sys.exit(main(sys.argv[1:]))
"""
)


def _root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_kib(args: list[str], stdin_path: str | None = None) -> int:
    """The peak resident set of ``devmem-tui ARGS`` run in a child process, in KiB (its output
    is discarded); ``stdin_path`` is fed to it as standard input (the REPL's piped mode)."""
    with tempfile.TemporaryDirectory() as tmp:
        hwm = os.path.join(tmp, "hwm")
        with open(stdin_path or os.devnull, "rb") as stdin:
            subprocess.run(
                [sys.executable, "-c", CLI_SCRIPT, *args],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                cwd=_root(),
                # the REPL keeps its history in the state folder: a scratch one
                env={**os.environ, "DEVMEM_BENCH_HWM": hwm, "XDG_STATE_HOME": tmp},
            )
        with open(hwm, encoding="ascii") as f:
            return int(f.read())


def _tui_rss_kib(n: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", TUI_SCRIPT, str(n)],
        capture_output=True,
        text=True,
        check=True,
        cwd=_root(),
    )
    return int(out.stdout.strip().splitlines()[-1])


def memory(quick: bool) -> Table:
    small, large = (1_000, 10_000) if quick else (1_000, 100_000)
    tui_small, tui_large = (200, 1_000) if quick else (1_000, 10_000)
    t = Table(
        "Memory: peak RSS against the number of commands (one process each)",
        ["front end", "commands", "peak RSS", "growth", "allowed", "ok"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        for what in ("run", "play", "repl"):
            if what == "repl":  # the REPL reads its commands from a pipe
                a = peak_rss_kib(["repl"], _script(small, tmp))
                b = peak_rss_kib(["repl"], _script(large, tmp))
            else:
                a = peak_rss_kib([what, _script(small, tmp)])
                b = peak_rss_kib([what, _script(large, tmp)])
            grow = (b - a) / 1024
            t.rows.append([what, f"{small:,}", f"{a / 1024:.1f} MiB", "", "", ""])
            ok = "yes" if grow <= 10 else "NO"
            t.rows.append(
                [what, f"{large:,}", f"{b / 1024:.1f} MiB", f"{grow:+.1f} MiB", "10 MiB", ok]
            )
    a, b = _tui_rss_kib(tui_small), _tui_rss_kib(tui_large)
    grow = (b - a) / 1024
    t.rows.append(["TUI", f"{tui_small:,}", f"{a / 1024:.1f} MiB", "", "", ""])
    t.rows.append(
        [
            "TUI",
            f"{tui_large:,}",
            f"{b / 1024:.1f} MiB",
            f"{grow:+.1f} MiB",
            "20 MiB",
            "yes" if grow <= 20 else "NO",
        ]
    )
    t.notes.append(
        "scripts alternate `vmem resize vmem0 256M` and `vmem resize vmem0 0` on the default "
        "machine; the TUI runs them through its command path (`run_command`) headless."
    )
    return t


def _mmap_script(n: int, folder: str) -> str:
    path = os.path.join(folder, f"mmap-{n}.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# distinct MMIO pages of the default map's PCI window\n")
        for i in range(n):
            f.write(f"mmap {0xC0000000 + i * 0x1000:#x} 4096\n")
    return path


def run_mmaps(quick: bool) -> Table:
    """n mmaps of distinct MMIO pages through ``devmem-tui run`` (the output to a pipe): the
    cost per mmap, start-up subtracted (an empty script), best of alternating runs."""
    sizes = (0, 1_000, 5_000) if quick else (0, 1_000, 20_000)
    t = Table(
        "`devmem-tui run` of n mmaps of distinct MMIO pages (default map)",
        ["mmaps", "wall (best)", "per mmap", "ratio to 1,000", "ok (<= 2x, <= 60 us)"],
    )
    best: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {n: _mmap_script(n, tmp) for n in sizes}
        for r in range(3 if quick else 5):
            for n in sizes if r % 2 == 0 else reversed(sizes):
                t0 = time.perf_counter()
                subprocess.run(
                    [*cli_argv(), "run", scripts[n]], stdout=subprocess.DEVNULL, check=False
                )
                best[n] = min(best.get(n, math.inf), time.perf_counter() - t0)
    per = {n: (best[n] - best[0]) / n for n in sizes if n}
    first = per[sizes[1]]
    for n in sizes[1:]:
        ok = per[n] <= 2 * first and per[n] <= 60e-6
        t.rows.append(
            [
                f"{n:,}",
                fmt_s(best[n]),
                fmt_s(per[n]),
                f"{per[n] / first:.2f}",
                # the first size is the base; with few mmaps start-up noise dominates its cost
                "(base)" if n == sizes[1] else "yes" if ok else "NO",
            ]
        )
    t.notes.append(f"start-up (an empty script): {fmt_s(best[0])}; every mmap prints its trace.")
    return t
