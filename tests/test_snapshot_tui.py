"""The TUI on `devmem-tui --snapshot FILE`: the log says what the snapshot held and what had
to be assumed, and each config key's label says where its value came from."""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from test_snapshot_machines import snapshot_text  # noqa: E402
from textual.widgets import Label  # noqa: E402

from devmem_tui.commands import snapshots  # noqa: E402
from devmem_tui.commands.session import Session  # noqa: E402
from devmem_tui.engine.snapshot import format as fmt  # noqa: E402
from devmem_tui.frontends.tui.app import DevmemApp  # noqa: E402


async def test_the_tui_shows_the_snapshot_notes_and_sources() -> None:
    session = Session.new()
    snap = fmt.parse(snapshot_text("qemu-debian61", log=False), "guest.snap")
    result = snapshots.load(session, snap, "opened")
    session.start_notes = result.message.splitlines()
    app = DevmemApp(session)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assumed = [ln for ln in app.transcript if ln.startswith("assumed: ")]
        assert assumed == [
            "assumed: MTRRs default WB; 0xa0000-0xfffff UC, 0x80000000-0xffffffff UC (inferred "
            "from the map); vmem0: device block size 2M, requested size 256M (its added memory)"
        ]
        assert any(
            ln.startswith("opened guest.snap: a snapshot of debian-guest") for ln in app.transcript
        )
        label = app.query_one("#cfgkey-strict_devmem", Label)
        assert str(label.tooltip) == (
            "from: snapshot guest.snap: kernel config /boot/config-6.1.0-18-amd64: "
            "CONFIG_STRICT_DEVMEM=y"
        )
        await pilot.press("colon", *"set strict_devmem off", "enter")
        await pilot.pause()
        assert str(label.tooltip) == "from: set command"
