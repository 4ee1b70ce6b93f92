"""Pilot tests of the TUI's verdict badges (`v`) and policy map (`M`, with its diff), and the
pure model behind them (frontends/tui/policy.py)."""

from __future__ import annotations

import os
import re

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from textual.widgets import Input, OptionList  # noqa: E402

from devmem_tui.commands.session import Session  # noqa: E402
from devmem_tui.commands.sweeps import parse_job  # noqa: E402
from devmem_tui.engine.devmem.sweep import sweep  # noqa: E402
from devmem_tui.engine.machine import Machine  # noqa: E402
from devmem_tui.frontends.tui import policy  # noqa: E402
from devmem_tui.frontends.tui.app import DevmemApp  # noqa: E402
from devmem_tui.frontends.tui.screens.policy_map import PolicyMapScreen  # noqa: E402
from devmem_tui.frontends.tui.widgets.iomem_tree import IomemTree  # noqa: E402


def make_app() -> DevmemApp:
    return DevmemApp(Session.new(), keymap={})


def label_of(tree: IomemTree, start: int) -> str:
    node = next(n for n in tree._walk_built() if n.data is not None and n.data.start == start)
    return str(node.label)


def badges_of(tree: IomemTree, start: int) -> str | None:
    """The node's badges ("r✗ m✗"), which sit between its size and its name; None if none."""
    found = re.search(r"  (r\S m\S)  ", label_of(tree, start))
    return found.group(1) if found else None


async def test_badges_toggle_follow_changes_and_expansion() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.query_one(IomemTree)
        assert badges_of(tree, 0x100000) is None
        await pilot.press("v")
        assert badges_of(tree, 0x100000) == "r✗ m✗"  # System RAM above 1 MiB
        assert label_of(tree, 0x100000).endswith("r✗ m✗  System RAM")  # before the name
        assert badges_of(tree, 0x1000) == "r0 m✓"  # low-MiB RAM: zeros / real mmap
        assert badges_of(tree, 0xC0000000) == "r± m±"  # the PCI window: mixed
        assert badges_of(tree, 0x140000000) == "r! m✗"  # virtio0 above high_memory
        pane = app.query_one("#tree-pane")
        assert pane.border_subtitle.startswith("r/m: ✓ OK 0 ZEROS ✗ EPERM")
        # expanding builds children with their badges
        app.reveal(0xFEB80000)
        await pilot.pause()
        assert badges_of(tree, 0xFEB80000) == "r✗ m✗"  # the e1000e BAR, exclusive
        # a command that changes nothing the verdicts read does not sweep again
        before = tree.badges
        app.run_command("config")
        app.run_command("vmem")
        assert tree.badges is before
        # after a change the sweep runs again
        app.run_command("set strict_devmem off")
        await pilot.pause()
        assert badges_of(tree, 0x100000) == "r✓ m✓"
        assert badges_of(tree, 0xFEB80000) == "r✓ m✓"
        await pilot.press("v")
        assert badges_of(tree, 0x100000) is None
        assert pane.border_subtitle == ""


async def test_policy_map_moves_range_by_range_and_shows_traces() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("M")
        screen = app.screen
        assert isinstance(screen, PolicyMapScreen)
        rows = sweep(app.machine, "read", 0, (1 << 46) - 1)
        assert [(ln.start, ln.end, ln.old.outcome) for ln in screen.lines] == [
            (r.start, r.end, r.outcome) for r in rows
        ]
        ol = screen.query_one(OptionList)
        assert ol.option_count == len(rows) and ol.highlighted == 0
        await pilot.press("down", "down", "down", "down")
        assert screen.lines[ol.highlighted or 0].start == 0x100000
        await pilot.press("enter")
        assert "read 0x100000: EPERM" in screen.trace
        assert "devmem_is_allowed(0x100): System RAM" in screen.trace
        # another access keeps the cursor on the same address
        await pilot.press("m")
        assert screen.op == "mmap" and len(screen.lines) == 14
        assert screen.lines[ol.highlighted or 0].start == 0x100000
        # the main screen's keys do not reach through (p would plug at the block cursor)
        before = app.machine.vmem["vmem0"].device.plugged_size
        await pilot.press("p", "u", "plus")
        assert app.machine.vmem["vmem0"].device.plugged_size == before
        await pilot.press("escape")
        assert not isinstance(app.screen, PolicyMapScreen)


async def test_policy_map_diff_marks_changed_ranges() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("M", "m", "d")
        inp = app.focused
        assert isinstance(inp, Input)
        inp.value = "io_strict_devmem=on"
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PolicyMapScreen) and screen.job is not None
        changed = [ln for ln in screen.lines if ln.changed]
        want = parse_job(app.machine, ["mmap", "--vs", "io_strict_devmem=on"], "t").diff
        assert [(c.start, c.end) for c in changed] == [(d.start, d.end) for d in want]
        assert {c.old.outcome.value + c.new.outcome.value for c in changed} == {"OKEPERM"}  # type: ignore[union-attr]
        ol = screen.query_one(OptionList)
        await pilot.press("n")
        assert screen.lines[ol.highlighted or 0].start == 0xFE000000
        await pilot.press("enter")
        assert "before: ✓ mmap 0xfe000000: OK" in screen.trace
        assert "after: ✗ mmap 0xfe000000: EPERM" in screen.trace
        await pilot.press("n")
        assert screen.lines[ol.highlighted or 0].start == 0xFEC00000
        # a bad setting is one line in the trace pane; the diff stays
        await pilot.press("d")
        bad = app.focused
        assert isinstance(bad, Input)
        bad.value = "kernel=99.1"
        await pilot.press("enter")
        await pilot.pause()
        assert screen.trace.startswith("✗ --vs kernel=99.1: kernel version")
        assert screen.settings == ["io_strict_devmem=on"]
        assert app.machine.config.io_strict_devmem is False  # the session is not changed
        await pilot.press("x")
        assert screen.settings == [] and not any(ln.changed for ln in screen.lines)


def test_glyphs_tell_outcomes_apart_without_colour() -> None:
    """Under NO_COLOR only the glyphs are left: each outcome has its own."""
    strips = [g for g, _ in policy.GLYPHS.values()]
    badges = [b for _, b in policy.GLYPHS.values()]
    distinct = {k for k in policy.GLYPHS if k != "DROPPED"}  # DROPPED is a write's ZEROS
    assert len({policy.GLYPHS[k][0] for k in distinct}) == len(distinct)
    assert len({policy.GLYPHS[k][1] for k in distinct}) == len(distinct)
    assert policy.MIXED not in badges and all(len(g) == 1 for g in strips + badges)
    m = Machine.from_preset("qemu-x86-virtio-mem")
    lines = policy.map_lines(parse_job(m, ["read"], "t"))
    plain = [policy.line_text(ln).plain for ln in lines]
    assert plain[1].startswith("▒▒▒▒▒▒ 0x0000000000001000-0x000000000009efff")  # ZEROS
    assert plain[4].startswith("╳╳╳╳╳╳ 0x0000000000100000")  # EPERM, 3 lines (~3 GiB)
    assert plain[4].count("\n") == 2
    assert "░░ EFAULT" in policy.legend(lines).plain


async def test_policy_map_under_no_color(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """NO_COLOR: the strip keeps its glyphs, the colours become emphasis."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()  # Textual reads NO_COLOR when the app is made
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("M")
        screen = app.screen
        assert isinstance(screen, PolicyMapScreen)
        ol = screen.query_one(OptionList)
        prompts = [ol.get_option_at_index(i).prompt for i in range(ol.option_count)]
        assert all(span.style.color is None for p in prompts for span in p.spans)  # type: ignore[union-attr]
        assert str(prompts[4]).startswith("╳╳╳╳╳╳ 0x0000000000100000")  # EPERM by its glyph
        assert str(prompts[0]).startswith("██████ 0x0000000000000000")  # OK
