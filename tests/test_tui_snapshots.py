"""SVG snapshots of the TUI at 120x40 on the default preset (pytest-textual-snapshot).

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
