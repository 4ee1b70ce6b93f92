"""Memory against the number of commands a session runs: the peak RSS of ``devmem-tui run``
and ``play`` over scripts of n ``vmem resize`` commands, and of the TUI after n commands
(each in its own process; ``os.wait4`` reports the child's peak). A session must not grow
with its history: the machine's event queue is bounded, and so are the TUI's transcript and
results (its log keeps 5,000 lines).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from benchmarks.common import Table
from benchmarks.suite import cli_argv

TUI_SCRIPT = r"""
import asyncio, resource, sys
from devmem_tui.commands.session import Session
from devmem_tui.frontends.tui.app import DevmemApp

async def main(n):
    app = DevmemApp(Session.new(), keymap={})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for i in range(n):
            app.run_command("vmem resize vmem0 256M" if i % 2 == 0 else "vmem resize vmem0 0")
            await pilot.pause()  # as from the command bar: the screen updates in between
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

asyncio.run(main(int(sys.argv[1])))
"""


def _script(n: int, folder: str) -> str:
    path = os.path.join(folder, f"resize-{n}.scenario")
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write("vmem resize vmem0 256M\n" if i % 2 == 0 else "vmem resize vmem0 0\n")
    return path


def peak_rss_kib(argv: list[str]) -> int:
    """The peak resident set of a child process, in KiB (its output is discarded)."""
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(p.pid, 0)
    if status:
        raise RuntimeError(f"{argv[:3]} exited with {status}")
    return usage.ru_maxrss


def _tui_rss_kib(n: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", TUI_SCRIPT, str(n)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def memory(quick: bool) -> Table:
    small, large = (1_000, 10_000) if quick else (1_000, 100_000)
    tui_small, tui_large = (200, 1_000) if quick else (1_000, 10_000)
    t = Table(
        "Memory: peak RSS against the number of commands (one process each)",
        ["front end", "commands", "peak RSS", "growth", "allowed", "ok"],
    )
    exe = cli_argv()
    with tempfile.TemporaryDirectory() as tmp:
        for what, argv in (("run", [*exe, "run"]), ("play", [*exe, "play"])):
            a = peak_rss_kib([*argv, _script(small, tmp)])
            b = peak_rss_kib([*argv, _script(large, tmp)])
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
