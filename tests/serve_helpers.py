"""`devmem-tui serve` as the tests run it: a real subprocess on a free loopback port, its
output read as it comes, its process tree watched so that a test can prove nothing is left
behind when it stops."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SERVING = re.compile(r"serving on (http://127\.0\.0\.1:(\d+)/)")


def children_of(pid: int) -> set[int]:
    """Every live descendant of pid, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class Served:
    """``devmem-tui serve --port 0 ARGS`` running; ``url`` is where it listens."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devmem_tui.frontends.cli", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_for("serving on ", timeout=30)
        match = SERVING.search(line)
        assert match, line
        self.url = match.group(1)
        self.port = int(match.group(2))
        self.tab_pids: set[int] = set()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        """The next output line containing text (earlier lines are kept in ``lines``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {text!r} in {timeout}s: {self.lines}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(
                    f"serve exited ({self.proc.wait()}) before {text!r}: {self.lines}"
                )
            self.lines.append(line)
            if text in line:
                return line

    def rest(self) -> list[str]:
        """The output lines after the last one waited for, up to the end (after stop())."""
        out: list[str] = []
        while (line := self._queue.get(timeout=10)) is not None:
            out.append(line)
        self.lines += out
        return out

    def tabs(self) -> set[int]:
        """The tab processes running now (and remembered, to check they end)."""
        pids = children_of(self.proc.pid)
        self.tab_pids |= pids
        return pids

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the server as Ctrl+C or a service manager would; its exit status. Checks that
        no process it started is left."""
        self.tabs()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in self.tab_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = {pid for pid in self.tab_pids if alive(pid)}
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"tab processes outlived the server: {left}"
        return code

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()
