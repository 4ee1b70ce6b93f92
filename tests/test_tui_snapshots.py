"""SVG snapshots of the TUI on the default preset (pytest-textual-snapshot): three at 120x40,
one each at 80x24 and 160x48, and one at 80x24 under NO_COLOR.

snap_compare runs the app itself, so these are plain (sync) tests. Animations and the
command bar's cursor blink are off so the pictures are stable; the SVGs depend on the
Textual version (pinned <9). Refresh with `pytest tests/test_tui_snapshots.py
--snapshot-update` after a deliberate change, and look at the diff report first.
"""

from __future__ import annotations

import os
from typing import Any

os.environ["TEXTUAL_ANIMATIONS"] = "none"

from devmem_tui.commands.session import Session  # noqa: E402
from devmem_tui.frontends.tui.app import DevmemApp  # noqa: E402
from devmem_tui.frontends.tui.widgets.command_bar import CommandBar  # noqa: E402

SIZE = (120, 40)


def make_app() -> DevmemApp:
    return DevmemApp(Session.new(), keymap={})


async def steady(pilot: Any) -> None:
    pilot.app.query_one(CommandBar).cursor_blink = False
    await pilot.pause()


def test_snapshot_launch(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steady)


def test_snapshot_after_resize_and_goto(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await steady(pilot)
        app = pilot.app
        app.run_command("vmem resize vmem0 1088M")
        await pilot.pause()
        app.reveal(0x17FE00000)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_iomem_relaxed_details(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await steady(pilot)
        app = pilot.app
        app.reveal(0xFEB80000)
        await pilot.pause()
        app.run_command("set iomem relaxed")
        app.run_command("read 0xfeb80000")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_80x24_launch(snap_compare: Any) -> None:
    """80 columns: `? Help` and `q Quit` lead the footer, the block header keeps its hint,
    the tree shows sizes and names."""
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steady)


def test_snapshot_160x48_resize_and_blocks(snap_compare: Any) -> None:
    """160 columns: memory-block labels beside the rows, a folded trace under the resize,
    the blocks table unwrapped in the log."""

    async def run_before(pilot: Any) -> None:
        await steady(pilot)
        pilot.app.run_command("vmem resize vmem0 1G")
        pilot.app.run_command("blocks")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=run_before)


def test_snapshot_80x24_no_color(snap_compare: Any, monkeypatch: Any) -> None:
    """NO_COLOR: emphasis (bold, italic, underline) and glyphs instead of greyed colours."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()  # Textual reads (and removes) NO_COLOR when the app is made

    async def run_before(pilot: Any) -> None:
        await steady(pilot)
        pilot.app.run_command("set io_strict_devmem on; read 0xfec00000")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshot_policy_map_diff(snap_compare: Any) -> None:
    """The policy map (M) of mmap against io_strict_devmem=on, the cursor on the first
    change and its two traces shown."""

    async def run_before(pilot: Any) -> None:
        await steady(pilot)
        await pilot.press("M", "m", "d")
        pilot.app.focused.value = "io_strict_devmem=on"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("n", "enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
