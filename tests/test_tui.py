"""Pilot tests of the Textual TUI (devmem_tui/frontends/tui): every key binding, the command
bar, config changes, plug/unplug, the palette, the keymap, scenario stepping, sizes and mouse.

They assert on the app's own state (``app.transcript``, ``app.details``, widget state), not on
what RichLog shows: RichLog holds writes back until it is sized."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from textual.widgets import Input, Select, Static, Switch  # noqa: E402

from devmem_tui.commands.session import Session, all_specs  # noqa: E402
from devmem_tui.engine.config import KEYS  # noqa: E402
from devmem_tui.engine.virtio_mem.blockruns import BlockRuns  # noqa: E402
from devmem_tui.frontends.tui import model  # noqa: E402
from devmem_tui.frontends.tui.app import DevmemApp  # noqa: E402
from devmem_tui.frontends.tui.keymap import load_keymap  # noqa: E402
from devmem_tui.frontends.tui.provider import palette_entries  # noqa: E402
from devmem_tui.frontends.tui.screens.help import HelpScreen, HelpText  # noqa: E402
from devmem_tui.frontends.tui.widgets.block_map import BlockMap  # noqa: E402
from devmem_tui.frontends.tui.widgets.command_bar import CommandBar  # noqa: E402
from devmem_tui.frontends.tui.widgets.config_panel import ConfigPanel  # noqa: E402
from devmem_tui.frontends.tui.widgets.iomem_tree import IomemTree  # noqa: E402

VMEM = 0x140000000
E1000E = 0xFEB80000  # [busy exclusive] BAR in the default preset


def make_app(**kw: object) -> DevmemApp:
    kw.setdefault("keymap", {})  # never read the developer's own keymap file
    return DevmemApp(Session.new(), **kw)  # type: ignore[arg-type]


def since(app: DevmemApp, line: str) -> list[str]:
    """Transcript lines from the last time `line` was run."""
    t = app.transcript
    i = len(t) - 1 - t[::-1].index(f"> {line}")
    return t[i:]


async def type_command(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """`:` then the line, then Enter. The line is put in the bar whole (typing it key by
    key is tested once, in test_launch_and_command_bar, and costs a repaint per key)."""
    await pilot.press("colon")
    bar = pilot.app.query_one(CommandBar)
    bar.value = text
    bar.cursor_position = len(text)
    await pilot.press("enter")
    await pilot.pause()


async def fill_and_enter(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """Put text in the focused Input of a prompt and press Enter."""
    inp = pilot.app.focused
    assert isinstance(inp, Input)
    inp.value = text
    await pilot.press("enter")
    await pilot.pause()


def geo(bm: BlockMap) -> model.Geometry:
    assert bm.geo is not None
    return bm.geo


def cells(app: DevmemApp, row: int = 0) -> list[str]:
    """Cell states of one block-map row, as the widget draws them."""
    bm = app.query_one(BlockMap)
    return model.row_cells(app.machine, bm.dev(), geo(bm), row)


def entry(node: object) -> model.Entry:
    data = getattr(node, "data", None)
    assert isinstance(data, model.Entry)
    return data


def outcome_line(app: DevmemApp, line: str, glyph: str, word: str) -> bool:
    """The log line under ``> line`` starts with the glyph and names the outcome."""
    out = since(app, line)[1]
    return out.startswith(glyph + " ") and word in out


def node_names(tree: IomemTree) -> list[str]:
    return [n.data.name for n in tree.root.children if n.data is not None]


# ----------------------------------------------------------------------------- launch, bar
async def test_launch_and_command_bar() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        # the panes show the default preset
        tree = app.query_one(IomemTree)
        names = node_names(tree)
        assert "virtio0" in names and "System RAM" in names and "(hole)" in names
        kinds = [n.data.kind for n in tree.root.children if n.data is not None]
        assert "hole" in kinds and kinds.count("hole") < len(kinds)  # holes between resources
        bm = app.query_one(BlockMap)
        assert bm.device_name == "vmem0"
        assert bm.geo is not None and geo(bm).nblocks == 16 * 1024 // 2
        panel = app.query_one(ConfigPanel)
        for key in KEYS:
            assert panel.query_one(f"#cfg-{key}") is not None
        assert isinstance(panel.query_one("#cfg-strict_devmem"), Switch)
        assert isinstance(panel.query_one("#cfg-iomem"), Select)
        assert app.details.startswith("0x0")
        assert "qemu-x86-virtio-mem" in app.sub_title

        # `:` focuses the bar; a right command, typed key by key
        await pilot.press("colon")
        assert isinstance(app.focused, CommandBar)
        await pilot.press(*"read 0x1000", "enter")
        await pilot.pause()
        out = since(app, "read 0x1000")
        assert out[1].startswith("~ ZEROS")
        assert any("devmem_is_allowed" in ln for ln in out)
        bar = app.query_one(CommandBar)
        assert bar.value == ""
        await pilot.press("up")  # history
        assert bar.value == "read 0x1000"
        await pilot.press("down")
        assert bar.value == ""

        # a wrong command: one error line, nothing changes
        before = app.machine.config.to_dict()
        await type_command(pilot, "frobnicate 0x1000")
        out = since(app, "frobnicate 0x1000")
        assert len(out) == 2 and out[1].startswith("✗ error: unknown command 'frobnicate'")
        await type_command(pilot, ":set iomem sideways")  # a leading ':' is fine
        out = since(app, "set iomem sideways")
        assert len(out) == 2 and out[1].startswith("✗ error:")
        assert app.machine.config.to_dict() == before

        # Tab completes with the REPL's completer; Esc leaves the bar
        await pilot.press(*"unplug-a", "tab")
        assert bar.value == "unplug-all "
        await pilot.press("tab")
        assert bar.value == "unplug-all vmem0 "
        await pilot.press("escape")
        assert isinstance(app.focused, IomemTree)


# ----------------------------------------------------------------------------- address keys
async def test_address_keys_find_goto_and_details() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        m = app.machine
        # the details predictions change nothing
        before = (dict(m.mappings), m.next_mapping, len(m.events), m.tree.generation)
        for addr in (0x1000, E1000E, VMEM, 0xFFFFF000, 0x100000):
            app.reveal(addr)
            await pilot.pause()
            assert all(op in app.details for op in ("read", "mmap", "kcore"))
        assert (dict(m.mappings), m.next_mapping, len(m.events), m.tree.generation) == before
        assert app.sel_addr == 0x100000

        # r, m, k, w act on the selected address
        await pilot.press("r")
        assert since(app, "read 0x100000")[1].startswith("✗ EPERM")
        await pilot.press("m")
        assert since(app, "mmap 0x100000 4K")[1].startswith("✗ EPERM")
        await pilot.press("k")
        assert since(app, "kcore 0x100000")[1].startswith("✓ OK")
        await pilot.press("w")
        assert "> write 0x100000" in app.transcript
        assert m.mappings == {}
        app.reveal(0x1234)
        await pilot.pause()
        await pilot.press("m")  # mmap offsets are page aligned
        assert "> mmap 0x1000 4K" in app.transcript and list(m.mappings) == ["m1"]

        # / finds by name ...
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"e1000e")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        tree = app.query_one(IomemTree)
        assert tree.cursor_node is not None and entry(tree.cursor_node).name == "e1000e"
        assert app.sel_addr == E1000E
        # ... or by address
        await pilot.press("slash")
        await pilot.pause()
        await fill_and_enter(pilot, "0xfed00010")
        assert app.sel_addr == 0xFED00010

        # g goes to an address: tree node, block and details follow
        app.run_command("vmem resize vmem0 1G")
        await pilot.press("g")
        await pilot.pause()
        await fill_and_enter(pilot, "0x17fe00000")
        assert app.sel_addr == 0x17FE00000
        assert app.query_one(BlockMap).cursor == (0x17FE00000 - VMEM) // (2 << 20)
        node = tree.cursor_node
        assert entry(node).name == "System RAM (virtio_mem)"
        assert "vmem0 block 511 (plugged), memory47" in app.details
        await pilot.press("g")
        await pilot.pause()
        await fill_and_enter(pilot, "0xnope")
        assert app.transcript[-1].startswith("✗ go to: bad address")


# ----------------------------------------------------------------------------- block keys
async def test_plug_unplug_resize_and_block_map_keys() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        bm = app.query_one(BlockMap)
        tree = app.query_one(IomemTree)
        # nothing requested, no usable region: a raw PLUG is ERROR and nothing changes
        await pilot.press("p")
        assert outcome_line(app, "plug vmem0 0x140000000 2M", "✗", "ERROR")
        assert bm.changed == []
        # + asks the host for one memory block more: tree and block map both change
        await pilot.press("plus")
        await pilot.pause()
        assert "> vmem resize vmem0 128M" in app.transcript
        virtio = tree.find_key((("virtio0", VMEM),))
        assert virtio is not None and virtio.is_expanded  # expanded to show the change
        kids = [(entry(c).name, entry(c).start, entry(c).end) for c in virtio.children]
        assert kids == [("System RAM (virtio_mem)", VMEM, VMEM + (128 << 20) - 1)]
        assert tree.highlight == {(VMEM, "System RAM (virtio_mem)")}
        assert bm.changed == [(0, 64)]
        assert set(cells(app)) == {"online"}
        # - shrinks again: the driver removes the memory block
        await pilot.press("minus")
        await pilot.pause()
        assert "> vmem resize vmem0 0" in app.transcript
        virtio = tree.find_key((("virtio0", VMEM),))
        assert virtio is not None and list(virtio.children) == []
        assert bm.changed == [(0, 64)]
        assert "online" not in cells(app)
        # p: a raw PLUG fits when the driver could not follow the host (migration)
        for line in ("set migration on", "vmem resize vmem0 128M", "set migration off"):
            app.run_command(line)
        await pilot.pause()
        bm.move_to(5)
        await pilot.press("p")
        await pilot.pause()
        assert outcome_line(app, "plug vmem0 0x140a00000 2M", "✓", "ACK")
        assert bm.changed == [(5, 6)]
        assert cells(app)[5] == "not_added"
        await pilot.press("u")
        await pilot.pause()
        assert outcome_line(app, "unplug vmem0 0x140a00000 2M", "✓", "ACK")
        assert cells(app)[5] == "unplugged"
        # u under online memory: the device ACKs, and the cell shows memory Linux lost
        app.run_command("wait 50s")  # the retry timer: the driver plugs and adds 128M
        await pilot.pause()
        assert set(cells(app)) == {"online"}
        bm.move_to(0)
        await pilot.press("u")
        await pilot.pause()
        assert outcome_line(app, "unplug vmem0 0x140000000 2M", "✓", "ACK")
        assert bm.changed == [(0, 1)] and tree.highlight == set()
        assert cells(app)[0] == "lost"

        # block map keys (vim aliases: j down, K up, h left, l right)
        bm.focus()
        bm.move_to(0)
        await pilot.press("l", "l")
        assert bm.cursor == 2
        await pilot.press("h")
        assert bm.cursor == 1
        await pilot.press("j")
        assert bm.cursor == 1 + geo(bm).per_row
        await pilot.press("K")
        assert bm.cursor == 1
        await pilot.press("pagedown")
        assert bm.cursor > geo(bm).per_row * 5
        await pilot.press("pageup")
        assert bm.cursor == 1
        await pilot.press("end")
        assert bm.cursor == geo(bm).nblocks - 1
        assert app.sel_addr == VMEM + (geo(bm).nblocks - 1) * (2 << 20)
        await pilot.press("home")
        assert bm.cursor == 0

        # mouse: a click on a cell moves the cursor there
        assert await pilot.click(BlockMap, offset=(bm._label_width + 2, 1))
        await pilot.pause()
        assert bm.cursor == geo(bm).per_row + 2 and app.focused is bm

        # n: next device (hidden with one device)
        assert app.check_action("next_device", ()) is False
        app.run_command("vmem add vmem1 0x600000000 1G")
        await pilot.pause()
        await pilot.press("n")
        assert bm.device_name == "vmem1" and geo(bm).nblocks == 512
        await pilot.press("n")
        assert bm.device_name == "vmem0"


# ----------------------------------------------------------------------------- tree keys
async def test_tree_keys_mouse_and_reload() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.query_one(IomemTree)
        tree.focus()
        start = tree.cursor_line
        await pilot.press("j", "j")
        assert tree.cursor_line == start + 2
        await pilot.press("K")
        assert tree.cursor_line == start + 1
        node = tree.node_at(0xF0000, reveal=False)  # "Reserved" with "System ROM" inside
        assert node is not None
        tree.move_cursor(node)
        await pilot.press("l")
        await pilot.pause()
        assert node.is_expanded and entry(node.children[0]).name == "System ROM"
        await pilot.press("h")
        assert not node.is_expanded
        await pilot.press("space")  # no scenario: space is the tree's own toggle
        await pilot.pause()
        assert node.is_expanded and app.check_action("step", ()) is False
        await pilot.press("left")  # collapse; again: to the parent
        assert not node.is_expanded
        await pilot.press("right")
        assert node.is_expanded
        # esc brings focus back to the tree from anywhere
        app.query_one(BlockMap).focus()
        await pilot.press("escape")
        assert app.focused is tree
        # mouse
        assert await pilot.click(IomemTree, offset=(8, 2))
        await pilot.pause()
        assert tree.cursor_line == 2 and app.sel_addr == entry(tree.cursor_node).start
        # expansion and cursor survive a change to the map
        app.reveal(0x1C000000)  # Kernel code inside System RAM
        await pilot.pause()
        assert entry(tree.cursor_node).name == "Kernel code"
        app.run_command("vmem resize vmem0 256M")
        await pilot.pause()
        assert entry(tree.cursor_node).name == "Kernel code"
        assert tree.find_key(((("Reserved", 0xF0000)),)).is_expanded


# ----------------------------------------------------------------------------- config panel
async def test_config_panel_changes_update_verdicts_and_warnings() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        app.reveal(E1000E)
        await pilot.pause()
        read_line = next(ln for ln in app.details.splitlines() if ln.strip().startswith("read"))
        assert "EPERM" in read_line
        sel = app.query_one("#cfg-iomem", Select)
        sel.value = "relaxed"
        await pilot.pause()
        assert "> set iomem relaxed" in app.transcript
        assert app.machine.config.iomem == "relaxed"
        read_line = next(ln for ln in app.details.splitlines() if ln.strip().startswith("read"))
        assert "OK" in read_line and "EPERM" not in read_line
        assert "iomem=relaxed" in app.sub_title
        # a Switch, by mouse, and the Kconfig warning it causes
        assert await pilot.click("#cfg-devmem")
        await pilot.pause()
        assert "> set devmem off" in app.transcript and app.machine.config.devmem is False
        warn = str(app.query_one("#cfg-warnings", Static).render())
        assert "STRICT_DEVMEM depends on DEVMEM" in warn
        assert str(app.query_one("#cfgword-devmem").render()) == "off"
        # a change from the command bar moves the switch back, and no stale event undoes it
        await type_command(pilot, "set devmem on")
        await pilot.pause()
        assert app.query_one("#cfg-devmem", Switch).value is True
        assert app.machine.config.devmem is True
        assert "no Kconfig conflicts" in str(app.query_one("#cfg-warnings", Static).render())


async def test_narrow_layout_config_key() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.has_class("narrow") and app.has_class("short")
        panel = app.query_one(ConfigPanel)
        assert panel.region.width == 0
        await pilot.press("c")
        await pilot.pause()
        assert app.has_class("show-config") and panel.has_focus_within
        assert panel.region.width > 0
        await pilot.press("c")
        await pilot.pause()
        assert not app.has_class("show-config")
        app.run_command("vmem resize vmem0 1G")
        await pilot.pause()
        svg = app.export_screenshot()
        assert "virtio" in svg and "█" in svg


async def test_wide_no_color_keeps_glyphs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        assert app.no_color and not app.has_class("narrow")
        app.run_command("vmem resize vmem0 128M")
        await pilot.pause()
        svg = app.export_screenshot()
        for glyph in ("●", "◐", "■", "█", "·", "m40"):
            assert glyph in svg


# ----------------------------------------------------------------------------- help, quit
async def test_help_key_lists_keys_and_every_command_then_quit() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        body = app.screen.query_one(HelpText).plain
        for spec in all_specs():
            assert spec.usages[0] in body
        assert "kcore" in body and "Moving around" in body
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


# ----------------------------------------------------------------------------- palette, keymap
async def test_palette_lists_every_command_and_action_and_runs_them() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        texts = [t for t, _, _ in palette_entries(app)]
        for spec in all_specs():
            assert spec.usages[0] in texts
        assert "action: Kcore (k)" in texts
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"maps")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert "> maps" in app.transcript
        # a command that needs arguments lands in the bar to finish
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"whatis")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(CommandBar).value == "whatis "


async def test_keymap_file_rebinds_keys(tmp_path: Path) -> None:
    km = tmp_path / "keymap.toml"
    km.write_text('[keymap]\nkcore = "x"\n"blocks.vim_up" = "k"\nnosuch = "z"\n')
    app = DevmemApp(Session.new(), keymap_file=km)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert any("unknown binding id 'nosuch'" in ln for ln in app.transcript)
        app.reveal(0x1000)
        await pilot.pause()
        await pilot.press("x")
        assert "> kcore 0x1000" in app.transcript
        bm = app.query_one(BlockMap)
        bm.focus()
        await pilot.press("j", "k")
        assert bm.cursor == 0
        assert not any(ln.startswith("> kcore 0x140000000") for ln in app.transcript)


def test_load_keymap_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("kcore = \n")
    keymap, problems = load_keymap(bad, {"kcore"})
    assert keymap == {} and len(problems) == 1 and "using the default keys" in problems[0]
    assert load_keymap(tmp_path / "missing.toml", {"kcore"}) == ({}, [])


# ----------------------------------------------------------------------------- export, record
async def test_export_svg_record_and_exit_from_the_bar(tmp_path: Path) -> None:
    app = make_app()
    svg = tmp_path / "shot.svg"
    rec = tmp_path / "rec.scenario"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await type_command(pilot, f"export svg {svg}")
        assert svg.read_text().lstrip().startswith("<svg")
        await type_command(pilot, f"record {rec}")
        await type_command(pilot, "read 0x1000")
        await type_command(pilot, "record stop")
        # a claim under IO_STRICT_DEVMEM revokes a live mapping: the log and details say so
        for line in (
            "set io_strict_devmem on",
            "mmap 0xfebd0000 4K",
            "claim 0xfebd0000-0xfebd0fff vga",
        ):
            app.run_command(line)
        assert "  ⇒ revoked m1 0xfebd0000-0xfebd0fff" in app.transcript
        assert (0xFEBD0000, "vga") in app.query_one(IomemTree).highlight
        app.reveal(0xFEBD0000)
        await pilot.pause()
        assert "mapping m1 0xfebd0000-0xfebd0fff, revoked 0xfebd0000-0xfebd0fff" in app.details
        await type_command(pilot, "quit")
    assert app.return_value == 0
    text = rec.read_text()
    assert "read 0x1000" in text and "expect ZEROS" in text


# ----------------------------------------------------------------------------- scenarios
SCENARIO = """\
say First, low memory.
read 0x1000
expect ZEROS
say The host asks for 128 MiB.
vmem resize vmem0 128M
expect DONE
iomem 0x140000000-0x53fffffff
expect output System RAM (virtio_mem)
pause
say This expect is wrong on purpose.
read 0x100000
expect OK
"""


async def test_scenario_stepping_highlights_and_expects(tmp_path: Path) -> None:
    path = tmp_path / "demo.scenario"
    path.write_text(SCENARIO)
    app = make_app(scenario=str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert len(app.steps) == 4
        assert app.steps[0].say == ["First, low memory."]
        panel = str(app.query_one("#scenario", Static).render())
        assert "First, low memory." in panel and "next: read 0x1000" in panel
        await pilot.press("space")
        await pilot.pause()
        assert app.step_index == 1 and app.expect_passes == 1
        assert "» First, low memory." in app.transcript
        await pilot.press("enter")
        await pilot.pause()
        assert app.step_index == 2
        # what changed stays highlighted through the step's expect
        assert (VMEM, "System RAM (virtio_mem)") in app.query_one(IomemTree).highlight
        assert app.query_one(BlockMap).changed == [(0, 64)]
        panel = str(app.query_one("#scenario", Static).render())
        assert "changed: + 140000000-147ffffff : System RAM (virtio_mem)" in panel
        await pilot.press("space")  # the iomem step
        await pilot.pause()
        assert app.expect_failures == 0 and app.expect_passes == 3
        await pilot.press("space")
        await pilot.pause()
        assert app.expect_failures == 1
        panel = str(app.query_one("#scenario", Static).render())
        assert "demo.scenario:12: expected OK, got EPERM" in panel
        assert "1 expect(s) FAILED" in panel
        await pilot.press("q")
    assert app.return_value == 1


async def test_scenario_autoplay_stops_at_pause(tmp_path: Path) -> None:
    path = tmp_path / "demo.scenario"
    path.write_text(SCENARIO)
    app = make_app(scenario=str(path), autoplay_delay=0.02)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("a")
        deadline = time.monotonic() + 10
        while app._auto is not None and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert app.step_index == 3  # stopped before the step after `pause`
        await pilot.press("space")
        await pilot.pause()
        assert app.step_index == 4


# ----------------------------------------------------------------------------- model
def test_big_device_rows_come_from_runs_only() -> None:
    """A 1 TiB device of 2 MiB blocks: a row renders from runs_in, fast, at any offset."""
    session = Session.new()
    r = session.execute("vmem add big 0x10000000000 1T")
    assert r is not None and r.ok, r.message if r else ""
    dev = session.machine.vmem["big"]
    dev.device.blocks.set_range(1000, 300_000)  # straight into the bitmap: a view test only
    geo = model.make_geometry(
        dev.device.region_size // dev.device.block_size,
        dev.device.block_size,
        session.machine.memory_block_size,
        70,
    )
    assert geo.nblocks == 524_288 and geo.per_row == 64
    t = time.perf_counter()
    for row in (0, 15, 16, 4000, geo.rows - 1):
        cells = model.row_cells(session.machine, dev, geo, row)
        assert len(cells) == 64
    assert time.perf_counter() - t < 0.5
    assert model.row_cells(session.machine, dev, geo, 15)[39] == "outside"  # nothing usable
    assert model.row_cells(session.machine, dev, geo, 15)[40] == "not_added"


def test_model_geometry_and_diff() -> None:
    g = model.make_geometry(8192, 2 << 20, 128 << 20, 200)
    assert g.per_row == 128 and g.per_group == 64 and g.row_width() == 129
    assert g.col_at(64) is None and g.col_at(65) == 64 and g.cell_x(64) == 65
    g = model.make_geometry(8192, 2 << 20, 128 << 20, 40)
    assert g.per_row == 32 and g.rows == 256
    g = model.make_geometry(16, 1 << 30, 128 << 20, 40)  # BBM-sized blocks
    assert g.per_row == 32 and g.per_group == 8 and g.rows == 1
    a, b = BlockRuns([(0, 10), (20, 30)]), BlockRuns([(5, 25)])
    assert model.diff_runs(a, b) == [(0, 5), (10, 20), (25, 30)]
    assert model.diff_runs(a, a.copy()) == []


def test_group_steps() -> None:
    from devmem_tui.scenario.player import group_steps
    from devmem_tui.scenario.script import parse_scenario

    steps = group_steps(parse_scenario(SCENARIO, "x").steps)
    assert [s.command.text if s.command else None for s in steps] == [
        "read 0x1000",
        "vmem resize vmem0 128M",
        "iomem 0x140000000-0x53fffffff",
        "read 0x100000",
    ]
    assert [s.stop for s in steps] == [False, False, False, True]
    assert [len(s.expects) for s in steps] == [1, 1, 1, 1]


def test_glyphs_are_distinct() -> None:
    """State is carried by the glyph as well as the color (NO_COLOR)."""
    assert len({g for g, _, _ in model.KINDS.values()}) == len(model.KINDS)
    assert len({g for g, _, _ in model.CELLS.values()}) == len(model.CELLS)


async def test_label_width_matches_rendered_label() -> None:
    """IomemTree.get_label_width skips rendering; it must equal Textual's rendered width for
    every node, expanded or not, or the tree's horizontal extent would be wrong."""
    from textual.widgets import Tree

    app = DevmemApp(Session.new(), keymap={})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        tree = app.query_one(IomemTree)
        for node in list(tree.root.children):
            if node.allow_expand:
                tree.expand_node(node)
        await pilot.pause()
        stack = list(tree.root.children)
        checked = 0
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            assert tree.get_label_width(node) == Tree.get_label_width(tree, node), node.label
            checked += 1
        assert checked > 30


async def test_a_second_enter_while_the_palette_closes_is_ignored() -> None:
    """Two Enters in a row on a palette entry: the second arrives while the palette is being
    dismissed. Textual 8.2's own palette dismisses it again and the app dies with
    ScreenStackError; ours runs the entry once and carries on (found by the pty key fuzz)."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"maps")
        await pilot.pause(0.3)
        palette = app.screen
        # both Enters handled before the dismissal has run (a pty delivers them in one read)
        palette.post_message(Input.Submitted(palette.query_one(Input), "maps"))
        palette.post_message(Input.Submitted(palette.query_one(Input), "maps"))
        await pilot.pause()
        await pilot.pause()
        assert app.is_running
        assert app.transcript.count("> maps") == 1
        app.run_command("say still-running")
        await pilot.pause()
    assert app.return_code in (None, 0)
