"""`devmem-tui serve` in a real browser: headless Chromium (the system's, e.g. Debian's
`chromium` package) driven by Playwright for Python. The page loads, the TUI draws its iomem
pane, a command typed in the browser gets its verdict, two tabs are two machines, and a tab
beyond --max-sessions gets the refusal page.

textual-serve's page draws the terminal with xterm.js on a canvas, so the text is not in the
DOM. The page's script keeps its xterm ``Terminal`` in a ``terminal`` property; an init script
catches that assignment and keeps the object on ``window.__term``, whose buffer is exactly the
text the canvas shows.

`pytest --snapshot-update` also writes the screenshot the docs show (docs/images/serve.png).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve_helpers import Served

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("textual_serve", reason="serve needs the 'web' extra")

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser")) if p is not None), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it when "
    "run as root); Playwright's own browser download is not used",
)

# Headless, and quiet: with no network, Chromium's calls home (updates, sync, safe browsing)
# are refused one by one and slow it down. Playwright gives every launch a fresh profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1120, "height": 660}
FONT_SIZE = 14  # ?fontsize= of the page: 1120x660 holds the TUI at about 133x44
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "images" / "serve.png"

KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    window.__term = value;
    Object.defineProperty(this, "terminal", {
      value, writable: true, configurable: true, enumerable: true,
    });
  },
});
"""
SCREEN = """() => {
  const term = window.__term;
  if (!term) return "";
  const buffer = term.buffer.active, rows = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""


def screen(page: Any) -> str:
    return str(page.evaluate(SCREEN))


def wait_screen(page: Any, text: str, timeout: float = 30) -> str:
    """The terminal's text once it shows text."""
    page.wait_for_function(f"want => ({SCREEN})().includes(want)", arg=text, timeout=timeout * 1000)
    return screen(page)


def wait_still(page: Any, quiet: float = 0.75, timeout: float = 20) -> None:
    """Until the screen has not changed for `quiet` seconds: the app has mounted and settled
    its focus, so keys typed now go where a user's would."""
    last, since, deadline = screen(page), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the screen never settled"
        time.sleep(0.1)
        now = screen(page)
        if now != last:
            last, since = now, time.monotonic()


def open_tab(context: Any, url: str) -> Any:
    """A new tab on the server, once its TUI is drawn and ready for keys."""
    page = context.new_page()
    page.add_init_script(KEEP_TERMINAL)
    response = page.goto(f"{url}?fontsize={FONT_SIZE}")
    assert response is not None and response.status == 200
    wait_screen(page, "─ iomem ─")
    wait_still(page)
    page.locator(".xterm-helper-textarea").focus()
    return page


def footer(page: Any) -> str:
    return screen(page).rstrip("\n").splitlines()[-1]


def run_in_bar(page: Any, line: str) -> None:
    """Type `:` LINE Enter as a student would, checking each step landed."""
    page.keyboard.type(":")
    page.wait_for_function(  # the bar has focus: the footer no longer offers the tree's keys
        f"() => !({SCREEN})().trimEnd().split('\\n').pop().includes('Plug')", timeout=10_000
    )
    page.keyboard.type(line)
    wait_screen(page, line, timeout=10)
    page.keyboard.press("Enter")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=VIEWPORT)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def classroom() -> Iterator[Served]:
    served = Served("--max-sessions", "2")
    try:
        yield served
    finally:
        assert served.stop() == 0


def test_a_tab_shows_the_tui_and_a_read_of_system_ram_is_denied(
    classroom: Served, context: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    page = open_tab(context, classroom.url)
    assert page.title() == "devmem-tui"
    text = screen(page)
    assert "System RAM" in text and "strict_devmem" in text
    run_in_bar(page, "read 0x100000")
    text = wait_screen(page, "✗ EPERM (page 0x100000 is denied")
    assert "> read 0x100000" in text
    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000  # a drawn terminal, not a blank page
    if request.config.getoption("--snapshot-update", default=False):
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    page.close()
    classroom.wait_for("tab closed")


def test_two_tabs_are_two_machines(classroom: Served, context: Any) -> None:
    first, second = open_tab(context, classroom.url), open_tab(context, classroom.url)
    assert len(classroom.tabs()) == 2  # two processes
    run_in_bar(first, "set strict_devmem off")
    wait_screen(first, "6.16.0 x86_64 · STRICT_DEVMEM off · iomem=default")  # the title
    run_in_bar(first, "read 0x100000")
    wait_screen(first, "✓ OK (returns 4096 bytes")
    run_in_bar(second, "read 0x100000")
    wait_screen(second, "✗ EPERM (page 0x100000 is denied")
    one, two = screen(first), screen(second)
    assert "6.16.0 x86_64 · STRICT_DEVMEM · iomem=default" in two  # the title: still on
    assert "6.16.0 x86_64 · STRICT_DEVMEM off · iomem=default" in one
    assert "set strict_devmem off" not in two


def test_a_tab_beyond_max_sessions_gets_the_refusal_page(context: Any) -> None:
    with Served("--max-sessions", "1") as served:
        first = open_tab(context, served.url)
        second = context.new_page()
        second.add_init_script(KEEP_TERMINAL)
        response = second.goto(served.url)
        assert response is not None and response.status == 503
        assert second.locator("h1").inner_text() == "The one session is in use"
        assert second.evaluate("() => window.__term === undefined")  # no terminal, no session
        first.keyboard.press("q")  # quit: the session ends, the page says so
        served.wait_for("tab closed")
        first.wait_for_selector("body.-closed .closed-dialog", state="visible")
        assert "This session has ended." in first.locator(".closed-dialog").inner_text()
        second.reload()
        wait_screen(second, "─ iomem ─")  # the freed session is this tab's now
        assert served.stop() == 0
