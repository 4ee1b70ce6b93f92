"""The process behind one browser tab of ``devmem-tui serve``: the devmem-tui command line (the
TUI on a fresh session, or a lesson stepped in it) run under Textual's web driver.

Textual's web driver does not quit when the server's end of its pipes goes away (its input
thread just stops), so a tab whose server was killed (SIGKILL, a crash) would run on with no
one to see it. A watcher thread ends the tab when its parent process changes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from devmem_tui.frontends.cli import main as cli_main
from devmem_tui.frontends.web import SERVER_PID_VAR

PARENT_POLL_SECONDS = 1.0


def end_with_parent(parent: int) -> None:
    """Send this process SIGTERM as soon as its parent is no longer ``parent`` (it died and the
    process was re-parented). A daemon thread polls getppid(): portable, and nearly free."""

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(PARENT_POLL_SECONDS):
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    # The server's pid comes from the environment: getppid() here would already be init's if
    # the server died before this process got this far.
    try:
        parent = int(os.environ[SERVER_PID_VAR])
    except (KeyError, ValueError):
        parent = os.getppid()
    end_with_parent(parent)
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
