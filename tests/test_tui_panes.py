"""The TUI read as a user reads it (Textual Pilot): the log and details panes (hanging indents,
tables that scroll instead of wrapping, folded traces, the trace setting, zoom), ';' in the
command bar, the palette and hint keeping [brackets], small terminals (80x24, 60x15), the
config panel's and the find dialog's keys, NO_COLOR emphasis, lessons from the palette with
step back / restart / speed, and the quiz.

Screens are read as text from the compositor (``screen_lines``), as a terminal shows them.
"""

from __future__ import annotations

import os
import re

import pytest

os.environ["TEXTUAL_ANIMATIONS"] = "none"

from rich.cells import cell_len  # noqa: E402
from rich.color import Color as RichColor  # noqa: E402
from rich.style import Style  # noqa: E402
from test_tui import type_command  # noqa: E402
from textual.color import Color  # noqa: E402
from textual.filter import monochrome_style  # noqa: E402
from textual.geometry import Region  # noqa: E402
from textual.widgets import Footer, Header, Input, OptionList, Select, Switch  # noqa: E402
from textual.widgets._select import SelectOverlay  # noqa: E402

from devmem_tui.commands.session import Session, all_specs  # noqa: E402
from devmem_tui.frontends.tui import model  # noqa: E402
from devmem_tui.frontends.tui.app import DevmemApp  # noqa: E402
from devmem_tui.frontends.tui.provider import DevmemCommands, palette_entries  # noqa: E402
from devmem_tui.frontends.tui.screens.help import HelpScreen, HelpText  # noqa: E402
from devmem_tui.frontends.tui.screens.prompt import FindScreen, QuizScreen  # noqa: E402
from devmem_tui.frontends.tui.widgets.block_map import BlockMap  # noqa: E402
from devmem_tui.frontends.tui.widgets.command_bar import CommandBar, usage_hint  # noqa: E402
from devmem_tui.frontends.tui.widgets.config_panel import ConfigPanel  # noqa: E402
from devmem_tui.frontends.tui.widgets.iomem_tree import IomemTree  # noqa: E402
from devmem_tui.frontends.tui.widgets.log_view import LogView  # noqa: E402
from devmem_tui.scenario.lessons import find_lesson  # noqa: E402


def make_app(**kw: object) -> DevmemApp:
    kw.setdefault("keymap", {})
    return DevmemApp(Session.new(), **kw)  # type: ignore[arg-type]


def screen_lines(app: DevmemApp) -> list[str]:
    """The screen as a terminal shows it, one string per row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def pane_lines(app: DevmemApp, selector: str) -> list[str]:
    """The rows of one pane (inside its border) as they are on screen."""
    region = app.query_one(selector).region
    rows = screen_lines(app)[region.y + 1 : region.bottom - 1]
    return [row[region.x + 1 : region.right - 1] for row in rows]


# ----------------------------------------------------------------------------- 1: the log
async def test_log_tables_scroll_prose_hangs_and_traces_fold() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await type_command(pilot, "vmem resize vmem0 1G")
        log = app.query_one(LogView)
        shown = pane_lines(app, "#log")
        # the command and its outcome stay in view above the folded 29-line trace
        assert any(row.strip() == "> vmem resize vmem0 1G" for row in shown)
        assert any("✓ vmem0: requested-size 0 -> 1G" in row for row in shown)
        assert any("▸ 28 more trace lines (t shows them)" in row for row in shown)
        assert log.folded == 1
        await type_command(pilot, "blocks")
        await pilot.pause()
        shown = pane_lines(app, "#log")
        # a table row is never broken: it runs off the pane and the log scrolls sideways
        row = next(r for r in shown if "0x0000000140000000-0x000000017fffffff" in r)
        assert "1G" in row and not row.rstrip().endswith("Movable")  # cut at the edge
        assert not any(r.strip().startswith("40-47") for r in shown)
        assert log.virtual_size.width > log.scrollable_content_region.width
        await type_command(pilot, "set strict_devmem off")
        shown = pane_lines(app, "#log")
        # prose wraps under a hanging indent, never back to column 1
        warn = next(i for i, r in enumerate(shown) if "warning: no virtio-mem driver" in r)
        assert shown[warn + 1].startswith("     ") and shown[warn + 1].strip()
        # t unfolds every trace, t again folds them
        app.query_one(IomemTree).focus()
        await pilot.press("t")
        assert log.folded == 0 and any("online_pages(memory47)" in ln for ln in log.lines)
        await pilot.press("t")
        assert log.folded == 1
        # the transcript keeps everything
        assert any("online_pages(memory47)" in ln for ln in app.transcript)


async def test_trace_setting_applies_to_the_log() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await type_command(pilot, "read 0x100000")
        log = app.query_one(LogView)
        assert sum("valid_phys_addr_range" in ln for ln in log.lines) == 1
        await type_command(pilot, "set trace short")
        assert log.trace_mode == "short"
        assert not any("valid_phys_addr_range" in ln for ln in log.lines)
        assert any("devmem_is_allowed(0x100)" in ln for ln in log.lines)
        await type_command(pilot, "set trace off")
        assert not any("devmem_is_allowed(0x100)" in ln for ln in log.lines)
        assert "trace" not in app.machine.config.to_dict()


async def test_log_says_each_thing_once() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await type_command(pilot, "kcore 0x100000")
        await type_command(pilot, "expect ERROR")
        t = app.transcript
        i = t.index("> kcore 0x100000")
        assert t[i + 1] == "✓ OK (returns 4096 bytes: System RAM contents)"
        assert t[-1] == "✗ expected ERROR, got OK (kcore 0x100000)"
        assert "> expect ERROR" not in t


async def test_details_verdicts_hang_under_their_text() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        shown = pane_lines(app, "#details")
        read = next(i for i, r in enumerate(shown) if r.lstrip().startswith("read  ✓ OK"))
        col = shown[read].index("returns")
        assert shown[read + 1][:col].strip() == ""  # the verdict goes on under itself
        assert shown[read + 1][col:].strip()


async def test_zoom_maximizes_the_focused_pane_and_restores_it() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await type_command(pilot, "blocks")
        await pilot.press("escape")
        app.query_one(LogView).focus()
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is app.query_one(LogView)
        assert app.query_one(LogView).region.width == 120
        assert any("Total online memory" in r for r in pane_lines(app, "#log"))
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is None


async def test_semicolons_in_the_command_bar() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await type_command(pilot, 'set io_strict_devmem on; read 0xfec00000; say "a; b"')
        t = app.transcript
        assert "> set io_strict_devmem on" in t and "> read 0xfec00000" in t
        assert t[t.index("> read 0xfec00000") + 1].startswith("✗ EPERM")
        assert '> say "a; b"' in t
        assert app.query_one(CommandBar).history[-1].startswith("set io_strict_devmem on;")


# ----------------------------------------------------------------------------- 5: brackets
async def test_palette_and_hint_keep_brackets() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        texts = [text for text, _, _ in palette_entries(app)]
        assert "read ADDR [LEN]" in texts and "blocks [DEV] [--all]" in texts
        provider = DevmemCommands(app.screen)
        hits = [hit async for hit in provider.search("read ADDR")]
        shown = [str(hit.match_display.plain) for hit in hits]  # type: ignore[union-attr]
        assert "read ADDR [LEN]" in shown
        # the hint narrows to the form being typed, brackets and all
        assert usage_hint("vmem add ").plain.startswith("vmem add DEV ADDR SIZE [block=SIZE]")
        assert "vmem resize" not in usage_hint("vmem add ").plain
        assert usage_hint("read 1; vmem res").plain.startswith("vmem resize DEV SIZE")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        body = app.screen.query_one(HelpText).plain
        assert "plug DEV ADDR SIZE" in body and "plug DEV ADDR BLOCK" not in body
        assert "SI STRICT_DEVMEM and IO_STRICT_DEVMEM" in body


def test_each_form_of_a_command_has_its_own_line() -> None:
    """The hint narrows to the form being typed and says what that form does, not the
    summary of the whole command; every command with several forms has a line per form."""
    hint = usage_hint("vmem res").plain
    assert hint.startswith("vmem resize DEV SIZE  — set a device's requested-size")
    assert "list virtio-mem devices" not in hint and "hot-add" not in hint
    assert usage_hint("machine arm").plain.endswith("— start a fresh machine from PRESET")
    for spec in all_specs():
        if len(spec.usages) > 1:
            assert len(spec.forms) == len(spec.usages), spec.name
            assert len(set(spec.forms)) == len(spec.forms), spec.name
            for usage, form in zip(spec.usages, spec.forms, strict=True):
                assert spec.form_summary(usage) == form


async def test_help_rows_hang_under_their_text_at_80x24() -> None:
    """A help row that wraps continues under its text (keys) or under its usage's line
    (commands at 80 columns, their summaries on lines of their own), never at column 1."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        pane = app.screen.query_one(HelpText)
        starts = {p.text.plain for p in pane.content if not p.text.plain.startswith(" ")}
        lines = [strip.text for strip in pane._strips]
        stray = [ln for ln in lines if ln.strip() and not ln.startswith(" ")]
        stray = [ln for ln in stray if not any(s.startswith(ln.rstrip()) for s in starts)]
        assert not stray
        plug = next(i for i, ln in enumerate(lines) if "Plug: plug DEV ADDR SIZE" in ln)
        assert lines[plug + 1].startswith(" " * 17) and lines[plug + 1].strip()
        read = next(i for i, ln in enumerate(lines) if ln.strip() == "read ADDR [LEN]")
        assert lines[read + 1].startswith("      read() /dev/mem")


# ----------------------------------------------------------------------------- 6: small screens
async def test_80x24_keeps_help_quit_hints_and_sizes() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        rows = screen_lines(app)
        assert rows[-1].lstrip().startswith("? Help  q Quit")
        head = pane_lines(app, "#block-pane")[:3]
        assert head[2].startswith("+/-")  # the resize hint is on screen
        tree = pane_lines(app, "#tree-pane")
        assert any("635K  System RAM" in r for r in tree)  # size and name, not "63"


async def test_60x15_shows_one_pane_at_a_time_and_tab_moves_on() -> None:
    app = make_app()
    async with app.run_test(size=(60, 15)) as pilot:
        await pilot.pause()
        assert app.has_class("tiny")
        assert app.screen.maximized is app.query_one("#tree-pane")
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is app.query_one(BlockMap)
        assert app.screen.maximized is app.query_one("#block-pane")
        assert any("140000000" in r for r in screen_lines(app))
        await pilot.press("tab")
        await pilot.pause()
        assert app.screen.maximized is app.query_one("#details")
        await pilot.press("tab")
        await pilot.pause()
        assert app.screen.maximized is app.query_one("#log")
        await pilot.press("shift+tab")
        await pilot.pause()
        assert app.screen.maximized is app.query_one("#details")


async def test_160_block_rows_carry_a_memory_block_label() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        app.run_command("vmem resize vmem0 1G")
        await pilot.pause()
        rows = pane_lines(app, "#block-pane")
        assert any(r.rstrip().endswith("m40 on") for r in rows)
        assert any(r.rstrip().endswith("m48 -") for r in rows)


def test_tree_rows_line_up_and_ranges_pad_alike() -> None:
    assert model.fmt_range(0x5C0000000, 0x3FFFFFFFFFFF) == "5c0000000-3fffffffffff"
    assert model.fmt_range(0x1000, 0x9FBFF) == "00001000-0009fbff"
    assert model.fmt_range(0x1000, 0x9FBFF, 12) == "000000001000-00000009fbff"


async def test_leaves_are_indented_like_expandable_rows() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        rows = pane_lines(app, "#tree-pane")
        leaf = next(r for r in rows if "Reserved" in r and "000000000000-" in r)
        node = next(r for r in rows if "000000100000-" in r)
        assert leaf.index("000000000000-") == node.index("000000100000-")


TREE_ROW = re.compile(r"([0-9a-f]+)-([0-9a-f]+) +(\S+)  ")


async def test_tree_columns_line_up_at_every_depth() -> None:
    """One address width for the whole map (the last hole needs 12 digits), one
    right-aligned size column for top-level and child rows alike, and sizes in units
    (the kernel's data section is 3320.1875K, which fmt_size alone writes in hex)."""
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        tree = app.query_one(IomemTree)
        tree.focus()
        await pilot.press("z")
        for addr in (0xF0000, 0x1DC00000):
            tree.node_at(addr)
        await pilot.pause()
        rows = [TREE_ROW.search(r) for r in pane_lines(app, "#tree-pane")]
        found = [m for m in rows if m is not None]
        assert len(found) >= 28
        assert {len(m.group(1)) for m in found} == {len(m.group(2)) for m in found} == {12}
        assert len({m.end(3) for m in found}) == 1  # sizes end in one column
        sizes = {m.group(3) for m in found}
        assert {"3320.1875K", "16396K", "3070.875M", "64K"} <= sizes
        assert not any(s.startswith("0x") for s in sizes)
        child = next(m for m in found if m.group(1) == "0000000f0000" and m.start(1) > 4)
        top = next(m for m in found if m.group(1) == "0000000f0000" and m is not child)
        assert child.start(1) == top.start(1) + tree.guide_depth  # a child is indented


# ----------------------------------------------------------------------------- 9: config, find
async def test_config_panel_arrows_move_and_tab_leaves() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        panel = app.query_one(ConfigPanel)
        first = panel.controls()[0]
        assert app.focused is first and isinstance(first, Select)
        await pilot.press("down")
        await pilot.pause()
        assert app.focused is panel.controls()[1] and not first.expanded  # no dropdown
        await pilot.press("down", "down")
        assert isinstance(app.focused, Switch)
        await pilot.press("up")
        assert app.focused is panel.controls()[2]
        await pilot.press("tab")
        assert isinstance(app.focused, CommandBar)  # the next pane, not the next control
        await pilot.press("escape", "c")
        sel = panel.query_one("#cfg-proposal", Select)
        sel.focus()
        await pilot.press("enter")
        await pilot.pause()
        overlay = sel.query_one(SelectOverlay)
        assert sel.expanded and overlay.region.right <= panel.region.right - 1  # inside


async def test_kconfig_warning_is_shown_whole() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await type_command(pilot, "set strict_devmem off")
        await pilot.pause()
        text = " ".join(r.strip() for r in pane_lines(app, "#config"))
        assert "no virtio-mem driver" in text and "STRICT_DEVMEM" in text.split("needs")[-1]


async def test_find_down_enters_results_and_parent_child_differ() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.run_command("vmem resize vmem0 128M")
        await pilot.press("escape", "slash")
        await pilot.pause()
        assert isinstance(app.screen, FindScreen)
        app.screen.query_one(Input).value = "virtio"
        await pilot.pause()
        await pilot.press("down")
        assert isinstance(app.screen.focused, OptionList)
        hits = [e.name for e in app.screen.hits]
        parent = hits.index("virtio0")
        assert hits[parent + 1] == "System RAM (virtio_mem)"
        ol = app.screen.query_one(OptionList)
        assert ol.highlighted == 0
        ol.highlighted = parent + 1  # the child, which starts where its parent does
        await pilot.press("enter")
        await pilot.pause()
        tree = app.query_one(IomemTree)
        assert tree.cursor_node is not None and tree.cursor_node.data is not None
        assert tree.cursor_node.data.name == "System RAM (virtio_mem)"
        await pilot.press("slash")
        await pilot.pause()
        app.screen.query_one(Input).value = "virtio"
        await pilot.pause()
        await pilot.press("down")
        app.screen.query_one(OptionList).highlighted = parent
        await pilot.press("enter")
        await pilot.pause()
        assert tree.cursor_node.data.name == "virtio0"


# ----------------------------------------------------------------------------- 3: NO_COLOR
COLOURS = {"green", "red", "magenta", "cyan", "yellow", "blue", "bright_black", "grey30"}


async def test_no_color_draws_emphasis_not_grey(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under NO_COLOR Textual greys every colour by luminance (magenta busy MMIO became grey
    237 on 234); the panes drop colour and use bold, italic and underline instead."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.no_color
        tree = app.query_one(IomemTree)
        node = next(n for n in tree.root.children if n.data and n.data.name == "IOAPIC 0")
        label = tree.render_label(node, tree.rich_style, tree.rich_style)
        named = [sp.style for sp in label.spans if label.plain[sp.start : sp.end] == "IOAPIC 0"]
        assert named and all(s.color is None and s.bold for s in named)  # type: ignore[union-attr]
        app.reveal(0xFEC00000)
        app.run_command("vmem resize vmem0 128M; read 0xfec00000")
        await pilot.pause()
        strips = [app.query_one("#details").render_line(y) for y in range(8)]
        strips += [app.query_one(BlockMap).render_line(0)]
        strips += [app.query_one(LogView).render_line(y) for y in range(8)]
        used = {seg.style.color.name for s in strips for seg in s if seg.style and seg.style.color}
        assert not used & COLOURS, used
        assert any(seg.style and seg.style.bold for s in strips for seg in s)


def region_styles(app: DevmemApp, region: Region) -> list[tuple[str, Style]]:
    """(text, style as a NO_COLOR terminal gets it) of every visible non-blank segment in a
    region of the screen (Textual's Monochrome filter applied, as under NO_COLOR)."""
    out = []
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        if not region.y <= y < region.bottom:
            continue
        x = 0
        for seg in strip:
            width = cell_len(seg.text)
            if seg.text.strip() and seg.style and x < region.right and x + width > region.x:
                out.append((seg.text, monochrome_style(seg.style)))
            x += width
    return out


async def test_no_color_muted_text_is_in_the_normal_foreground(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Muted colours (the footer's keys, the legends, the config keys, the subtitle, pane
    titles) grey to dark grey on dark grey under NO_COLOR; there they are in the normal
    foreground, keys and the focused pane's title reversed instead."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        normal = RichColor.parse(app.get_css_variables()["foreground"])
        normal = Color.from_rich_color(normal).monochrome.rich_color
        footer = app.query_one(Footer).region
        header = app.query_one(Header).region
        legend = app.query_one("#tree-legend").region
        keys = [w.region for w in app.query(".cfg-key")]
        pane = app.query_one("#details").region
        parts = {
            "footer": region_styles(app, footer),
            "subtitle": [p for p in region_styles(app, header) if "qemu" in p[0]],
            "legend": region_styles(app, legend),
            "config keys": [p for r in keys for p in region_styles(app, r)],
            "pane title": region_styles(app, Region(pane.x, pane.y, pane.width, 1)),
        }
        for what, styles in parts.items():
            assert styles, what
            for text, style in styles:
                if set(text) <= set("─╭╮▏"):  # border lines
                    continue
                assert style.color == normal and not style.dim, (what, text, style)
        key = next(st for text, st in parts["footer"] if text.strip() == "?")
        assert key.bold and key.reverse
        app.query_one(IomemTree).focus()
        await pilot.pause()
        tree_pane = app.query_one("#tree-pane").region
        title = [st for text, st in region_styles(app, tree_pane) if text.strip() == "iomem"]
        assert title and title[0].reverse


# ----------------------------------------------------------------------------- 12, 13: lessons
@pytest.mark.parametrize("size", [(120, 40), (160, 48)])
async def test_a_lesson_is_named_alike_however_it_opens(size: tuple[int, int]) -> None:
    """`play --tui --lesson 2` and the palette's "lesson 6" both title the panel with the
    lesson's number and title (not the file name); progress and keys fit on one row."""
    lesson = find_lesson("2")
    app = make_app(scenario=lesson.path, quiz=True)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        panel = app.query_one("#scenario")
        two = f"lesson 2: {lesson.title}"
        assert two == "lesson 2: CONFIG_STRICT_DEVMEM and System RAM"
        assert panel.border_title == two
        top = screen_lines(app)[panel.region.y]
        assert f"─ {two} ─" in top and ".scenario" not in top
        rows = pane_lines(app, "#scenario")
        assert rows[0].strip().startswith("▶ step 0/")
        assert rows[0].rstrip().endswith("[ ] speed")  # on one row, not wrapped
        six = find_lesson("6")
        entry = next(e for e in palette_entries(app) if e[0].startswith("lesson 6:"))
        assert entry[0] == f"lesson 6: {six.title}"
        entry[2]()
        await pilot.pause()
        assert panel.border_title == entry[0]
        assert pane_lines(app, "#scenario")[0].rstrip().endswith("[ ] speed")


async def test_palette_opens_a_lesson_with_back_restart_and_speed() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.run_command("set kernel 4.10")  # a changed session: the lesson starts afresh
        entry = next(e for e in palette_entries(app) if e[0].startswith("lesson 3:"))
        entry[2]()
        await pilot.pause()
        assert app.stepper is not None and app.stepper.index == 0
        assert app.machine.config.kernel == "6.16.0"
        assert app.query_one("#scenario").display
        await pilot.press("space", "space", "space")
        await pilot.pause()
        assert app.step_index == 3
        ids_before = app.stepper.passes
        await pilot.press("b")
        await pilot.pause()
        assert app.step_index == 2 and app.stepper.passes < ids_before
        assert any(ln.startswith("◀ back to step 3") for ln in app.transcript)
        await pilot.press("R")
        await pilot.pause()
        assert app.step_index == 0 and app.stepper.passes == 0
        delay = app.session.settings.autoplay_delay
        await pilot.press("right_square_bracket")
        assert app.session.settings.autoplay_delay < delay
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.session.settings.autoplay_delay > delay


async def test_tui_quiz_asks_then_shows_and_scores() -> None:
    path = find_lesson("3").path
    app = make_app(scenario=path, quiz=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, QuizScreen)
        assert app.screen.command == "read 0x1000"
        assert "> read 0x1000" not in app.transcript  # nothing runs before the answer
        inp = app.screen.query_one(Input)
        inp.value = "zer"
        await pilot.press("tab")  # completes the outcome word
        assert inp.value == "ZEROS"
        await pilot.press("enter")
        await pilot.pause()
        assert "> read 0x1000" in app.transcript
        assert app.stepper is not None and (app.stepper.right, app.stepper.asked) == (1, 1)
        assert "? you said ZEROS: right" in app.transcript
        await pilot.press("space")
        await pilot.pause()
        await pilot.press("escape")  # no answer: the step still plays
        await pilot.pause()
        assert (app.stepper.right, app.stepper.asked) == (1, 2)
        assert "quiz 1/2" in app.query_one("#scenario").render().plain  # type: ignore[attr-defined]


async def test_a_long_question_wraps_inside_its_box() -> None:
    """The restore offer (and every one-key question) wraps instead of being cut off."""
    from textual.widgets import Static

    from devmem_tui.frontends.tui.screens.prompt import ChoiceScreen

    app = make_app()
    question = "devmem-tui did not exit cleanly: " + "a long explanation " * 12 + "THE END."
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ChoiceScreen(question, [("y", "yes", "yes"), ("n", "no", "no")]))
        await pilot.pause()
        box = app.screen.query_one(".prompt-box")
        text = app.screen.query_one(".choice-question", Static)
        assert text.region.height > 1 and text.region.right <= box.region.right
        # every line of it lies inside the box: the last words are drawn, not cut
        lines = [strip.text for strip in text.render_lines(text.region.reset_offset)]
        assert "THE END." in " ".join(line.strip() for line in lines)
        await pilot.press("n")
