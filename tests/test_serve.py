"""`devmem-tui serve` without a browser: the real server as a subprocess on a free loopback
port, spoken to over HTTP and the websocket protocol textual-serve's page uses; the session
limit and its refusal page; a clean stop with no process left behind; the options; and the
folder each tab's file commands are kept in."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devmem_tui.commands.session import Session
from devmem_tui.frontends import cli
from tests.serve_helpers import Served, alive

aiohttp = pytest.importorskip("aiohttp", reason="serve needs the 'web' extra")
pytest.importorskip("textual_serve", reason="serve needs the 'web' extra")

from devmem_tui.frontends.web.server import bind_warning  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


async def screen_text(ws: aiohttp.ClientWebSocketResponse, want: str, timeout: float = 30) -> str:
    """What the tab's process has drawn (escape sequences removed) once it contains want."""
    got = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {want!r} on the tab's screen in {timeout}s"
        msg = await ws.receive(timeout=left)
        if msg.type == aiohttp.WSMsgType.BINARY:
            got += msg.data
            text = ANSI.sub("", got.decode("utf-8", "replace"))
            if want in text:
                return text
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            raise AssertionError(f"the tab closed before {want!r} appeared")


def ws_url(served: Served, width: int = 120, height: int = 40) -> str:
    return served.url.replace("http:", "ws:") + f"ws?width={width}&height={height}"


# ----------------------------------------------------------------------------- the server
async def test_page_loads_and_each_websocket_starts_a_session_and_stop_is_clean() -> None:
    with Served("--kernel", "5.15") as served:
        async with aiohttp.ClientSession() as http:
            async with http.get(served.url) as page:
                assert page.status == 200
                html = await page.text()
            assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/ws"' in html
            # nothing from outside the server: a classroom without internet gets the same page
            links = re.findall(r'(?:src|href)="([^"]*)"', html)
            assert links and all(u.startswith((served.url, "data:")) for u in links), links
            async with http.get(served.url + "static/js/textual.js") as js:
                assert js.status == 200
            async with http.ws_connect(ws_url(served)) as ws:
                # the TUI's first screen: its iomem pane, on the kernel serve was given
                text = await screen_text(ws, "iomem=default")
                assert "6.16" not in text and "5.15.0 x86_64" in text
                served.wait_for("tab opened")
                (tab,) = served.tabs()
                cmdline = Path(f"/proc/{tab}/cmdline").read_bytes().split(b"\0")
                root = cmdline[cmdline.index(b"--file-root") + 1].decode()
                assert os.readlink(f"/proc/{tab}/cwd") == root
                assert b"--kernel=5.15" in cmdline
                await ws.send_str(json.dumps(["ping", "1"]))
        served.wait_for("tab closed")  # the browser went away: its process and folder too
        assert not alive(tab)
        assert not os.path.exists(root)
        assert served.stop() == 0
    assert served.rest()[-1] == "devmem-tui serve: stopped (1 session served, 0 refused)"


async def test_lesson_opens_every_tab_stepping_that_lesson() -> None:
    with Served("--lesson", "3", "--quiz") as served:
        async with aiohttp.ClientSession() as http:
            async with http.get(served.url) as page:
                html = await page.text()
            assert "<title>devmem-tui · lesson 3: The first megabyte" in html
            async with http.ws_connect(ws_url(served)) as ws:
                text = await screen_text(ws, "lesson 3: The first megabyte")
                assert "step 0/" in text
                (tab,) = served.tabs()
                cmdline = Path(f"/proc/{tab}/cmdline").read_bytes().split(b"\0")
                assert cmdline[3:7] == [b"play", b"--tui", b"--lesson=3", b"--quiz"]
        assert served.stop() == 0


async def test_snapshot_opens_every_tab_on_that_machine() -> None:
    """serve --snapshot FILE: every tab builds its machine from the snapshot (the path the tab
    is given is absolute, so the tab's own folder as its working directory does not matter)."""
    snap = Path(__file__).resolve().parent.parent / "docs" / "examples" / "debian-guest.snap"
    with Served("--snapshot", os.path.relpath(snap)) as served:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url(served)) as first:
                async with http.ws_connect(ws_url(served)) as second:
                    for ws in (first, second):
                        text = await screen_text(ws, "debian-guest")
                        assert "6.1" in text and "6.16" not in text, text
                    tabs = served.tabs()
                    assert len(tabs) == 2
                    for tab in tabs:
                        cmdline = Path(f"/proc/{tab}/cmdline").read_bytes().split(b"\0")
                        assert f"--snapshot={snap}".encode() in cmdline
        assert served.stop() == 0


async def test_max_sessions_refuses_the_next_tab_with_a_page_until_one_closes() -> None:
    with Served("--max-sessions", "1") as served:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url(served)) as first:
                await screen_text(first, "iomem")
                async with http.get(served.url) as page:
                    assert page.status == 503
                    assert page.headers["Retry-After"] == "30"
                    html = await page.text()
                assert "The one session is in use" in html
                assert "data-session-websocket-url" not in html
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(ws_url(served))
                assert refused.value.status == 503
            served.wait_for("tab closed")
            async with http.get(served.url) as page:
                assert page.status == 200
        assert served.stop() == 0
    assert served.rest()[-1] == "devmem-tui serve: stopped (1 session served, 2 refused)"


async def test_a_websocket_from_another_site_is_refused() -> None:
    with Served() as served:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url(served), origin="http://evil.example")
            assert refused.value.status == 403
            async with http.ws_connect(ws_url(served), origin=served.url.rstrip("/")) as ws:
                await screen_text(ws, "iomem")
        assert served.stop() == 0


async def test_stopping_with_tabs_open_ends_them() -> None:
    with Served() as served:
        async with aiohttp.ClientSession() as http:
            sockets = [await http.ws_connect(ws_url(served)) for _ in range(2)]
            for ws in sockets:
                await screen_text(ws, "iomem")
            assert len(served.tabs()) == 2
            assert served.stop(signal.SIGINT) == 0  # Ctrl+C
            for ws in sockets:
                msg = await ws.receive(timeout=10)
                while msg.type == aiohttp.WSMsgType.BINARY:
                    msg = await ws.receive(timeout=10)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert "devmem-tui serve: stopping: ending 2 sessions" in served.lines + served.rest()


async def test_tabs_end_themselves_when_the_server_is_killed() -> None:
    served = Served()
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(served)) as ws:
            await screen_text(ws, "iomem")
            (tab,) = served.tabs()
            folder = os.path.dirname(os.readlink(f"/proc/{tab}/cwd"))
            served.proc.kill()  # no chance to end its tabs
            served.proc.wait()
            deadline = time.monotonic() + 10
            while alive(tab) and time.monotonic() < deadline:
                time.sleep(0.1)
            orphan = alive(tab)
            if orphan:
                os.kill(tab, signal.SIGKILL)
            shutil.rmtree(folder)  # a killed server cannot remove its folder
            assert not orphan


def test_a_port_in_use_is_one_line_and_status_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "devmem_tui.frontends.cli", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert done.stderr.startswith(f"devmem-tui: error: cannot listen on 127.0.0.1 port {port}:")
    assert done.stderr.count("\n") == 1


# ----------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "argument --port: '70000' is not a port number (0-65535)"),
        (["--max-sessions", "0"], "argument --max-sessions: '0' is not a number of 1 or more"),
        (["--public-url", "ftp://x"], "'ftp://x' is not an http:// or https:// URL"),
        (["--file-root", "."], "serve gives every tab a folder of its own"),
        (["--kernel", "1.0"], "--kernel:"),
        (["--lesson", "99"], "no lesson '99'; lessons are numbered 1-"),
        (["--quiz"], "serve --quiz needs --lesson N"),
    ],
)
def test_bad_serve_options_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli.main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_without_the_web_extra_serve_says_what_to_install() -> None:
    hide = (
        "import sys; sys.modules['textual_serve'] = None; "
        "from devmem_tui.frontends.cli import main; sys.exit(main(['serve']))"
    )
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == (
        "devmem-tui: error: serve needs the 'web' extra (textual-serve is not installed): "
        "pip install 'devmem-tui[web]'\n"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_gets_no_warning(host: str) -> None:
    assert bind_warning(host, 32) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "classroom.example"])
def test_other_addresses_get_a_one_line_warning(host: str) -> None:
    warning = bind_warning(host, 5)
    assert warning is not None and "\n" not in warning
    assert warning.startswith(f"warning: serving on {host}: anyone who can reach it gets a session")
    assert "at most 5 at once" in warning


def test_session_options_rebuild_the_same_session(tmp_path: Path) -> None:
    iomem = tmp_path / "m.iomem"
    iomem.write_text("00000000-0009ffff : System RAM\n00100000-3fffffff : System RAM\n")
    ns = cli.build_parser().parse_args(
        ["serve", "--iomem", str(iomem), "--kernel", "5.4", "--iomem-param", "relaxed"]
    )
    args = cli.session_options(ns)
    assert args == [f"--iomem={iomem}", "--kernel=5.4", "--iomem-param=relaxed"]
    again = cli.make_session(cli.build_parser().parse_args(args))
    assert again.config.short() == cli.make_session(ns).config.short()
    assert len(again.machine.tree) == 2


def test_every_tab_opens_the_same_snapshot(tmp_path: Path) -> None:
    """serve --snapshot FILE: each tab's process gets the file by its absolute path and builds
    the same machine from it; stdin cannot be read by every tab."""
    snap = Path(__file__).resolve().parent.parent / "docs" / "examples" / "debian-guest.snap"
    ns = cli.build_parser().parse_args(["serve", "--snapshot", str(snap), "--pat", "off"])
    args = cli.session_options(ns)
    assert args == [f"--snapshot={snap}", "--pat=off"]
    again = cli.make_session(cli.build_parser().parse_args(args))
    first = cli.make_session(ns)
    assert again.machine.name == first.machine.name == "debian-guest"
    assert again.config.short() == first.config.short() and again.config.pat is False
    assert list(again.machine.vmem) == ["vmem0"]
    with pytest.raises(cli.CliError, match="serve --snapshot needs a FILE"):
        cli._serve(cli.build_parser().parse_args(["serve", "--snapshot", "-"]))


# ----------------------------------------------------------------------------- file root
def test_file_root_keeps_file_commands_inside_it(tmp_path: Path) -> None:
    root = tmp_path / "tab"
    root.mkdir()
    outside = tmp_path / "teacher.txt"
    outside.write_text("00000000-0009ffff : System RAM\n")
    session = Session.new()
    session.file_root = str(root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for line in (
            f"save {outside}",
            "save ../teacher.txt",
            f"load iomem {outside}",
            f"open {outside}",
            "export iomem ~/x.iomem",
            f"record {tmp_path}/r.scenario",
            f"export policy-map {tmp_path}/map.svg",
            f"sweep read --vs-saved {outside}",
            "export policy-map map.svg --vs-saved ../teacher.txt",
        ):
            result = session.execute(line)
            assert result is not None and not result.ok, line
            assert "only in its own folder" in result.message, line
        assert outside.read_text() == "00000000-0009ffff : System RAM\n"
        os.symlink(outside, root / "link.txt")
        result = session.execute("load iomem link.txt")  # a link out of the folder
        assert result is not None and "only in its own folder" in result.message
        for line in (
            "save work.json",
            "open work.json",
            "export iomem sub.iomem",
            "sweep read 0-0xfffff --vs-saved work.json",
            "export policy-map map.svg read 0-0xfffff",
        ):
            result = session.execute(line)
            assert result is not None and result.ok, result.message
    finally:
        os.chdir(cwd)
    assert sorted(p.name for p in root.iterdir()) == [
        "link.txt",
        "map.svg",
        "sub.iomem",
        "work.json",
    ]


def test_file_root_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", "--file-root", str(tmp_path), "-c", f"save {tmp_path}/ok.json"])
    assert code == 0 and (tmp_path / "ok.json").exists()
    code = cli.main(["run", "--file-root", str(tmp_path), "-c", "save /tmp/../etc/x.json"])
    assert code == 2
    assert "cannot use /tmp/../etc/x.json: this session reads and writes files only" in (
        capsys.readouterr().out
    )
    assert cli.main(["run", "--file-root", str(tmp_path / "none"), "-c", "config"]) == 2
    assert "--file-root: " in capsys.readouterr().err
