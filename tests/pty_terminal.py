"""Run devmem-tui in a real pseudo-terminal (os.openpty): write raw bytes to it as a terminal
would, and read every byte it sends back. For tests of what reaches a real terminal (escape
sequences from data, keys that are not UTF-8, pastes, tiny and huge window sizes), which
Textual's Pilot cannot show: Pilot never runs the terminal driver.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte

DEVMEM_TUI = Path(sys.executable).with_name("devmem-tui")


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    """One devmem-tui process on a pty. ``output`` holds every byte it wrote."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        cols: int = 120,
        rows: int = 40,
        cwd: str | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.master, slave = os.openpty()
        set_size(slave, cols, rows)
        full_env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLUMNS": "",
            "LINES": "",
            **env,
        }
        full_env = {k: v for k, v in full_env.items() if v != ""}
        self.proc = subprocess.Popen(
            [*(command or [str(DEVMEM_TUI)]), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # the pty becomes its controlling terminal
            close_fds=True,
        )
        os.close(slave)
        self.output = bytearray()

    # ------------------------------------------------------------------ io
    def read(self, seconds: float) -> bytes:
        """Collect output for up to ``seconds``; returns what came in."""
        got = bytearray()
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if not r:
                if self.proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            got += chunk
        self.output += got
        self.stream.feed(bytes(got))
        return bytes(got)

    def wait_for(self, needle: bytes, timeout: float = 20.0) -> bool:
        """Read until needle shows up in the whole output (True) or timeout (False)."""
        end = time.monotonic() + timeout
        while needle not in self.output and time.monotonic() < end:
            if self.proc.poll() is not None:
                self.read(0.2)
                break
            self.read(0.1)
        return needle in self.output

    def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Read until the app has been quiet for ``quiet`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.read(quiet):
                return

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, w, _ = select.select([], [self.master], [], 5)
            if not w:
                raise TimeoutError("the terminal does not take input")
            n = os.write(self.master, view[:4096])
            view = view[n:]
            self.read(0)  # keep the app's output flowing so it never blocks on a full pty

    def resize(self, cols: int, rows: int) -> None:
        set_size(self.master, cols, rows)
        self.screen.resize(rows, cols)
        os.killpg(self.proc.pid, signal.SIGWINCH)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 10.0) -> int:
        """Quit with ctrl+q (or kill) and return the exit status."""
        if self.alive:
            try:
                self.write(b"\x11")  # ctrl+q
            except (OSError, TimeoutError):
                pass
            end = time.monotonic() + timeout
            while self.alive and time.monotonic() < end:
                self.read(0.1)
        if self.alive:
            self.proc.kill()
        code = self.proc.wait(timeout=timeout)
        self.read(0.2)
        os.close(self.master)
        return code

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def lines(self) -> list[str]:
        """The screen as a user sees it now (pyte, a VT100 emulator), one string per row."""
        return list(self.screen.display)

    def screen_text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_screen(self, needle: str, timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        while needle not in self.screen_text() and time.monotonic() < end:
            if self.proc.poll() is not None:
                self.read(0.2)
                break
            self.read(0.1)
        return needle in self.screen_text()
