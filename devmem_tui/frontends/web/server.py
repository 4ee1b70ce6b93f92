"""``devmem-tui serve``: the TUI in a browser for a classroom, built on textual-serve.

What textual-serve (``textual_serve/server.py`` and ``app_service.py``, 1.1) does: ``Server``
is an aiohttp application. ``GET /`` renders a page whose script (``static/js/textual.js``,
xterm.js) opens a websocket to ``/ws?width=W&height=H``; ``Server.handle_websocket`` gives
every websocket its own ``AppService``, which starts the app command with
``asyncio.create_subprocess_shell`` (``TEXTUAL_DRIVER`` set to Textual's ``WebDriver``) and
relays the screen and the keys between the process's pipes and the socket. So every tab is
its own process, but it has no limit on sessions and no refusal page, runs a shell command
line, waits with no timeout for an app to quit, leaves the socket open when the app dies, and
its page loads a font from fonts.googleapis.com (a classroom may have no internet).

Here ``ClassroomServer`` subclasses ``Server`` and ``TabProcess`` subclasses ``AppService``:

- every tab runs ``python -m devmem_tui.frontends.web.tab ARGS`` (the devmem-tui command
  line, through ``create_subprocess_exec``: no shell, no quoting), in a folder of its own
  that is its ``--file-root`` and is deleted when the tab closes. Nothing is shared between
  tabs: each has its own process, session and machine;
- at most ``max_sessions`` tabs run at once; the page of the next one is a refusal (HTTP 503)
  saying so, and a websocket that comes anyway is answered 503 before it is accepted;
- a tab that does not quit within ``QUIT_TIMEOUT`` is killed; the socket closes when the
  process ends; stopping the server (Ctrl+C, SIGTERM) ends every tab first;
- the page is this package's template: no resource from outside the server, and a
  websocket URL taken from the address the browser used (or from ``--public-url``);
- a websocket whose Origin is another site is refused (a page elsewhere cannot start
  sessions through the student's browser).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from devmem_tui.engine.errors import DevmemError
from devmem_tui.frontends.output import EXIT_OK
from devmem_tui.frontends.web import SERVER_PID_VAR

log = logging.getLogger("devmem-tui.serve")

TEMPLATES = Path(__file__).parent / "templates"
QUIT_TIMEOUT = 3.0  # seconds a tab gets to quit (on close or shutdown) before it is killed
RETRY_AFTER = 30  # seconds, in the refusal's Retry-After header and its page's refresh
# Terminal sizes a browser may ask for: a tab costs memory in proportion to its screen.
MAX_COLUMNS, MAX_ROWS = 500, 200


class ServeError(DevmemError):
    """The server cannot start (the address is in use, ...): one line, exit status 2."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_warning(host: str, max_sessions: int) -> str | None:
    """The one-line warning for an address other machines can reach; None for loopback."""
    if is_loopback(host):
        return None
    return (
        f"warning: serving on {host}: anyone who can reach it gets a session (a simulated "
        f"machine, never this one; each session is a process, at most {max_sessions} at once)"
    )


def count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def display_url(host: str, port: int) -> str:
    """The URL to tell students: the machine's name for a wildcard address."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


class TabProcess(AppService):
    """One tab's process: textual-serve's protocol, started without a shell in the tab's own
    folder, and stopped for sure."""

    def __init__(self, argv: list[str], folder: str, **kwargs: Any) -> None:
        super().__init__(shlex.join(argv), **kwargs)
        self.argv = argv
        self.folder = folder
        self._stopping: asyncio.Future[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        env = super()._build_environment(width, height)
        env[SERVER_PID_VAR] = str(os.getpid())
        return env

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
        # A new session: a Ctrl+C in the teacher's terminal reaches the server only, which
        # then ends every tab itself.
        process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            cwd=self.folder,
            start_new_session=True,
        )
        self._process = process
        self._stdin = process.stdin
        return process

    async def set_terminal_size(self, width: int, height: int) -> None:
        width = max(1, min(to_int(str(width), 80), MAX_COLUMNS))
        height = max(1, min(to_int(str(height), 24), MAX_ROWS))
        await super().set_terminal_size(width, height)

    async def run(self) -> None:
        await super().run()
        # The process has ended (it quit, crashed or was killed): close the socket, so the
        # page says the session ended instead of showing a screen that no longer answers.
        with suppress(Exception):
            await self.remote_close()

    async def stop(self) -> None:
        """Ask the app to quit, kill it after QUIT_TIMEOUT, and wait until it is gone. Safe to
        call from the tab's handler and from the shutdown at once: both wait for the same."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        task, process = self._task, self._process
        if task is None or process is None:
            return
        await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
        if process.returncode is None:
            await self.send_meta({"type": "quit"})
        try:
            await asyncio.wait_for(asyncio.shield(task), QUIT_TIMEOUT)
        except TimeoutError:
            log.warning("a tab (pid %s) did not quit in %ss: killed", process.pid, QUIT_TIMEOUT)
            with suppress(ProcessLookupError):
                process.kill()
            await task
        await process.wait()
        self._task = None


@dataclass
class Tab:
    """A tab being served: its socket, its process and its folder."""

    socket: web.WebSocketResponse
    process: TabProcess | None = None
    folder: str = ""


@dataclass
class ServeStats:
    opened: int = 0  # tabs that got a session since the server started
    refused: int = 0  # pages and websockets refused because every session was in use
    tabs: list[Tab] = field(default_factory=list)


class ClassroomServer(Server):
    """textual-serve's server with one fresh devmem-tui session per tab, a session limit
    with a refusal page, and a clean stop."""

    def __init__(
        self,
        tab_argv: list[str],
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        public_url: str | None = None,
        max_sessions: int = 32,
        title: str = "devmem-tui",
    ) -> None:
        super().__init__(
            shlex.join(tab_argv),
            host=host,
            port=port,
            title=title,
            public_url=public_url,
            templates_path=TEMPLATES,
        )
        self.tab_argv = tab_argv
        self.given_public_url = public_url.rstrip("/") if public_url else None
        self.max_sessions = max_sessions
        self.stats = ServeStats()
        self.folder = ""  # the server's temporary folder; each tab gets one inside it

    # --------------------------------------------------------------------- pages
    def full(self) -> bool:
        return len(self.stats.tabs) >= self.max_sessions

    def base_url(self, request: web.Request) -> str:
        """Where the browser reaches this server: --public-url, else the address it used."""
        return self.given_public_url or f"{request.scheme}://{request.host}"

    def origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:  # not a browser page: nothing to forge
            return True
        allowed = {f"{request.scheme}://{request.host}"}
        if self.given_public_url:
            allowed.add(origin_of(self.given_public_url))
        return origin.rstrip("/") in allowed

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if self.full():
            return self.refusal(request)
        base = self.base_url(request)
        scheme, rest = base.split(":", 1)
        context = {
            "font_size": max(6, min(to_int(request.query.get("fontsize", "16"), 16), 64)),
            "app_websocket_url": ("wss:" if scheme == "https" else "ws:") + rest + "/ws",
            "config": {"static": {"url": base + "/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    def refusal(self, request: web.Request) -> web.Response:
        self.stats.refused += 1
        response = aiohttp_jinja2.render_template(
            "refused.html",
            request,
            {"max_sessions": self.max_sessions, "retry_after": RETRY_AFTER, "title": self.title},
            status=503,
        )
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response

    # --------------------------------------------------------------------- sessions
    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if not self.origin_allowed(request):
            raise web.HTTPForbidden(text="devmem-tui: websocket from another site refused\n")
        if self.full():
            self.stats.refused += 1
            raise web.HTTPServiceUnavailable(
                text=f"devmem-tui: all {self.max_sessions} sessions are in use\n",
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        websocket = web.WebSocketResponse(heartbeat=15)
        tab = Tab(websocket)
        self.stats.tabs.append(tab)  # the slot is taken before the first await
        try:
            await websocket.prepare(request)
            width = max(1, min(to_int(request.query.get("width", "80"), 80), MAX_COLUMNS))
            height = max(1, min(to_int(request.query.get("height", "24"), 24), MAX_ROWS))
            tab.folder = tempfile.mkdtemp(prefix="tab-", dir=self.folder)
            tab.process = TabProcess(
                [*self.tab_argv, "--file-root", tab.folder],
                tab.folder,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
            )
            await tab.process.start(width, height)
            self.stats.opened += 1
            self.say(
                f"tab opened from {request.remote or 'an unknown address'} "
                f"(pid {tab.process.pid}); {self.sessions_line()}"
            )
            await self._process_messages(websocket, tab.process)
        except asyncio.CancelledError:
            pass
        except Exception as error:  # a broken message or socket ends this tab, not the server
            log.warning("a tab ended on an error: %s: %s", type(error).__name__, error)
        finally:
            await self.end_tab(tab)
        return websocket

    async def end_tab(self, tab: Tab) -> None:
        if tab.process is not None:
            await tab.process.stop()
        with suppress(Exception):
            await tab.socket.close()
        if tab.folder:
            shutil.rmtree(tab.folder, ignore_errors=True)
        if tab in self.stats.tabs:
            self.stats.tabs.remove(tab)
            if tab.process is not None:
                self.say(f"tab closed (pid {tab.process.pid}); {self.sessions_line()}")

    def sessions_line(self) -> str:
        return f"{len(self.stats.tabs)} of {self.max_sessions} sessions in use"

    # --------------------------------------------------------------------- start and stop
    def say(self, line: str) -> None:
        print(f"devmem-tui serve: {line}", flush=True)

    async def on_startup(self, app: web.Application) -> None:
        pass  # textual-serve prints its logo here; run() prints the address instead

    async def on_shutdown(self, app: web.Application) -> None:
        tabs = list(self.stats.tabs)
        for tab in tabs:
            with suppress(Exception):
                await tab.socket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")
        await asyncio.gather(*(self.end_tab(tab) for tab in tabs), return_exceptions=True)

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; then end every tab and return 0."""
        logging.basicConfig(level=logging.WARNING, format="devmem-tui serve: %(message)s")
        return asyncio.run(self._serve())

    async def _serve(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, stop.set)
        self.folder = tempfile.mkdtemp(prefix="devmem-tui-serve-")
        try:
            app = await self._make_app()
            runner = web.AppRunner(
                app, handle_signals=False, access_log=None, shutdown_timeout=QUIT_TIMEOUT + 2
            )
            await runner.setup()
            try:
                await web.TCPSite(runner, self.host, self.port).start()
            except OSError as e:
                await runner.cleanup()
                raise ServeError(
                    f"cannot listen on {self.host} port {self.port}: {e.strerror or e}"
                ) from None
            port = self.bound_port(runner)
            self.say(
                f"serving on http://{self.host}:{port}/ - every browser tab gets its own "
                f"session, at most {self.max_sessions} at once"
            )
            if self.given_public_url or not is_loopback(self.host):
                self.say(f"students open {self.given_public_url or display_url(self.host, port)}")
            self.say("Ctrl+C stops the server and ends every session")
            await stop.wait()
            if self.stats.tabs:
                self.say(f"stopping: ending {count(len(self.stats.tabs), 'session')}")
            await runner.cleanup()
            served, refused = count(self.stats.opened, "session"), self.stats.refused
            self.say(f"stopped ({served} served, {refused} refused)")
            return EXIT_OK
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def bound_port(self, runner: web.AppRunner) -> int:
        """The port listened on (``--port 0`` asks the system for a free one)."""
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        return self.port


def tab_command(cli_args: list[str]) -> list[str]:
    """The command line of one tab: this interpreter running the tab module with the
    devmem-tui arguments (the machine and config options, a lesson) every tab starts from."""
    return [sys.executable, "-m", "devmem_tui.frontends.web.tab", *cli_args]


def serve(
    cli_args: list[str],
    *,
    host: str,
    port: int,
    public_url: str | None,
    max_sessions: int,
    title: str = "devmem-tui",
) -> int:
    warning = bind_warning(host, max_sessions)
    if warning:
        print(f"devmem-tui serve: {warning}", file=sys.stderr, flush=True)
    server = ClassroomServer(
        tab_command(cli_args),
        host=host,
        port=port,
        public_url=public_url,
        max_sessions=max_sessions,
        title=title,
    )
    return server.run()
