"""The Textual front end: the app, its panes, keys and actions.

The app changes state ONLY through ``Session.execute(line)`` (``DevmemApp.run_command``):
keys build command lines (``p`` -> ``plug vmem0 0x... 2M``), the command bar submits lines,
the palette runs commands, scenario steps run their lines. So the TUI, the REPL and the
scenario player behave identically. After each command the app drains ``machine`` events
and redraws what changed; it reads everything it shows from ``session.machine``.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Select, Static, Switch, Tree

from devmem_tui.commands.numbers import parse_number
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session, load_all
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.units import fmt_size
from devmem_tui.engine.virtio_mem.blockruns import BlockRuns
from devmem_tui.frontends.output import EXIT_FAIL, EXIT_OK, EXIT_USAGE, log_lines
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.keymap import keymap_path, load_keymap
from devmem_tui.frontends.tui.provider import DevmemCommands
from devmem_tui.frontends.tui.screens.help import HelpScreen
from devmem_tui.frontends.tui.screens.prompt import FindScreen, GotoScreen
from devmem_tui.frontends.tui.stepper import Stepper
from devmem_tui.frontends.tui.widgets.block_map import BlockMap, header_text, legend_text
from devmem_tui.frontends.tui.widgets.command_bar import CommandBar, usage_hint
from devmem_tui.frontends.tui.widgets.config_panel import ConfigPanel
from devmem_tui.frontends.tui.widgets.iomem_tree import IomemTree
from devmem_tui.frontends.tui.widgets.panels import (
    AccessLog,
    DetailsPanel,
    ScenarioPanel,
    details_text,
)
from devmem_tui.frontends.tui.widgets.text_pane import TextPane
from devmem_tui.scenario.player import StepGroup
from devmem_tui.scenario.script import Step, check_files

NARROW = 110  # below this width the config panel is shown only on `c`
SHORT = 32  # below this height the legends hide (they are in the help) and so does the hint

# Navigation keys of the tree and block map, for the help screen (they live on the widgets).
NAV_ROWS = [
    ("↑ ↓ / j K", "move (k is kcore, so vim-up is K; rebind in keymap.toml)"),
    ("← → / h l", "tree: collapse/parent, expand; blocks: previous/next block"),
    ("space", "tree: expand or collapse (scenario mode: run the next step)"),
    ("enter", "tree: select and toggle (scenario mode: run the next step)"),
    ("pgup pgdn", "scroll a page"),
    ("home end", "first / last"),
    ("tab shift+tab", "next / previous pane"),
    ("click", "select a node, a block, or a switch"),
    ("ctrl+p", "command palette: every command and action"),
]


BIG_MAP = 5_000  # resources; below this a full garbage collection is cheap


def _settle_heap(machine: Machine, replaced: bool) -> None:
    """Keep a big machine out of the cyclic garbage collector's full collections.

    A 100k-resource map with a 1 TiB device is ~900,000 tracked objects; every generation-2
    collection walks them all (~1 s here) and lands on some keypress (docs/performance.md:
    2.7 s of a 14.6 s TUI benchmark, 0.23 s with this). ``gc.freeze()`` moves what is alive now
    to the permanent generation. When a machine is replaced, unfreeze and collect first, so the
    old machine's parent/child cycles are still reclaimed. Only GC timing changes. Whether the
    heap is frozen is the interpreter's own state (``gc.get_freeze_count()``), per process."""
    big = len(machine.tree) >= BIG_MAP
    if replaced and (big or gc.get_freeze_count()):
        gc.unfreeze()
        gc.collect()
    if big:
        gc.freeze()


class DevmemApp(App[int]):
    """Panes: iomem tree, block map, config, details, log; command bar; palette."""

    TITLE = "devmem-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {DevmemCommands}

    BINDINGS = [
        Binding(
            "colon",
            "focus_bar",
            "Command",
            key_display=":",
            id="command_bar",
            tooltip="type any command (Tab completes)",
        ),
        Binding("p", "plug", "Plug", id="plug", tooltip="plug DEV ADDR BLOCK at the block cursor"),
        Binding(
            "u",
            "unplug",
            "Unplug",
            id="unplug",
            tooltip="unplug DEV ADDR BLOCK at the block cursor",
        ),
        Binding("r", "read", "Read", id="read", tooltip="read the selected address (4 KiB)"),
        Binding("m", "mmap", "Mmap", id="mmap", tooltip="mmap 4 KiB at the selected address"),
        Binding(
            "k",
            "kcore",
            "Kcore",
            id="kcore",
            tooltip="read the selected address through /proc/kcore",
        ),
        Binding("c", "config", "Config", id="config", tooltip="show and focus the config panel"),
        Binding(
            "slash",
            "find",
            "Find",
            key_display="/",
            id="find",
            tooltip="find a resource by name or address",
        ),
        Binding("g", "goto", "Go to", id="goto", tooltip="go to an address"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("q", "quit_app", "Quit", id="quit"),
        Binding(
            "space,enter",
            "step",
            "Step",
            key_display="space",
            id="step",
            priority=True,
            tooltip="run the next scenario step",
        ),
        Binding("a", "autoplay", "Auto-play", id="autoplay", tooltip="play steps on a timer"),
        Binding(
            "plus",
            "resize(1)",
            "+128M",
            key_display="+",
            id="grow",
            show=False,
            tooltip="vmem resize: request one memory block more",
        ),
        Binding(
            "minus",
            "resize(-1)",
            "-128M",
            key_display="-",
            id="shrink",
            show=False,
            tooltip="vmem resize: request one memory block less",
        ),
        Binding("n", "next_device", "Next device", id="next_device", show=False),
        Binding(
            "w",
            "write",
            "Write",
            id="write",
            show=False,
            tooltip="write 4 KiB at the selected address",
        ),
        Binding(
            "escape",
            "focus_tree",
            "Tree",
            id="focus_tree",
            show=False,
            tooltip="back to the iomem tree",
        ),
    ]

    def __init__(
        self,
        session: Session,
        scenario: str | None = None,
        keymap: dict[str, str] | None = None,
        keymap_file: Path | None = None,
        autoplay_delay: float = 1.5,
    ) -> None:
        super().__init__()
        load_all()
        self.session = session
        self.transcript: list[str] = []
        self.results: list[Result] = []
        self.last_changes = model.Changes()
        self.sel_addr: int | None = None
        self.sel_entry: model.Entry | None = None
        self._reveal_addr: int | None = None
        self.details = ""
        self.stepper = Stepper.load(scenario) if scenario is not None else None
        self.autoplay_delay = autoplay_delay
        self._auto: Timer | None = None
        self._user_keymap = keymap
        self._keymap_file = keymap_file
        self.keymap_problems: list[str] = []

    # ------------------------------------------------------------------ layout
    @property
    def machine(self) -> Machine:
        return self.session.machine

    @property
    def steps(self) -> list[StepGroup]:
        return self.stepper.steps if self.stepper is not None else []

    @property
    def step_index(self) -> int:
        return self.stepper.index if self.stepper is not None else 0

    @property
    def expect_failures(self) -> int:
        return self.stepper.failures if self.stepper is not None else 0

    @property
    def expect_passes(self) -> int:
        return self.stepper.passes if self.stepper is not None else 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="tree-pane"):
                yield IomemTree(lambda: self.session.machine, id="tree")
                yield Static(self._kind_legend(), id="tree-legend")
            with Vertical(id="block-pane"):
                yield TextPane(id="block-head")
                yield BlockMap(lambda: self.session.machine, id="blocks")
                yield Static(legend_text(), id="block-legend")
        yield ScenarioPanel(id="scenario")
        with Horizontal(id="bottom"):
            yield DetailsPanel(id="details")
            yield AccessLog(id="log")
            yield ConfigPanel(lambda: self.session.machine, id="config")
        yield CommandBar(lambda: self.session, id="bar")
        yield TextPane(usage_hint(""), id="hint")
        yield Footer()

    @staticmethod
    def _kind_legend() -> Text:
        t = Text()
        for i, (glyph, style, word) in enumerate(model.KINDS.values()):
            if i:
                t.append("  ")
            t.append(glyph, style=style)
            t.append(f" {word}")
        return t

    def on_mount(self) -> None:
        self.session.export_svg = self.export_svg
        self.query_one("#tree-pane").border_title = "iomem"
        self.query_one("#block-pane").border_title = "virtio-mem blocks"
        self.query_one("#config").border_title = "config (c)"
        self.query_one("#details").border_title = "details"
        self.query_one("#log").border_title = "log"
        self.query_one("#scenario").border_title = "scenario"
        self._apply_keymap()
        self.machine.drain_events()  # building the preset is not a change to show
        self._update_title()
        tree = self.query_one(IomemTree)
        tree.reload()
        self.query_one(BlockMap).reload()
        self._update_block_head()
        scenario_error = self.stepper.error if self.stepper is not None else None
        self.query_one(ScenarioPanel).display = bool(self.steps) or scenario_error is not None
        if scenario_error:
            self._log_lines([(f"✗ {scenario_error}", "bold red")])
        self._update_scenario()
        for p in self.keymap_problems:
            self._log_lines([(f"✗ {p}", "bold red")])
        if not self.transcript:
            self._log_lines(
                [
                    (f"{self.machine.name}: {self.machine.config.short()}", "bold"),
                    ("? help · : command · ctrl+p palette · tab next pane", "dim"),
                ]
            )
        self._layout_for(self.size.width)
        tree.focus()
        _settle_heap(self.machine, replaced=False)
        node = tree.cursor_node
        if node is not None and node.data is not None:
            self._select(node.data.start, node.data)

    def on_unmount(self) -> None:
        if self.session.export_svg == self.export_svg:
            self.session.export_svg = None

    def on_resize(self, event: Any) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int | None = None) -> None:
        short = (height if height is not None else self.size.height) < SHORT
        self.set_class(width < NARROW, "narrow")
        self.set_class(short, "short")
        self.query_one("#hint").display = not short or isinstance(self.focused, CommandBar)

    def _apply_keymap(self) -> None:
        ids = {b.id for b in self._all_bindings() if b.id}
        problems: list[str] = []
        if self._user_keymap is not None:
            keymap = dict(self._user_keymap)
        else:
            keymap, problems = load_keymap(self._keymap_file or keymap_path(), ids)
        self.keymap_problems = problems
        if keymap:
            self.set_keymap(keymap)

    def _all_bindings(self) -> list[Binding]:
        out = [b for b in self.BINDINGS if isinstance(b, Binding)]
        for cls in (IomemTree, BlockMap, CommandBar):
            out += [b for b in cls.BINDINGS if isinstance(b, Binding)]
        return out

    def action_entries(self) -> list[tuple[str, str, str, str]]:
        """(keys, action, title, help) for the app's key actions, keymap applied."""
        out = []
        for b in self.BINDINGS:
            if not isinstance(b, Binding):
                continue
            keys = self._keymap.get(b.id, b.key) if b.id else b.key
            shown = b.key_display if b.key_display and keys == b.key else keys
            out.append((shown, b.action, b.description, b.tooltip))
        return out

    # ------------------------------------------------------------------ the one way in
    def run_command(
        self, line: str, step: Step | None = None, merge: bool = False
    ) -> Result | None:
        """Run one command line through the session (a scenario ``step`` through the
        player's ``run_step``), log it, and redraw what changed (with ``merge``, what changed
        since the previous command too: the lines of one scenario step)."""
        machine = self.session.machine
        before = {name: dev.device.blocks.copy() for name, dev in machine.vmem.items()}
        if step is not None and self.stepper is not None:
            result: Result | None = self.stepper.run_step(self.session, step)
        else:
            result = self.session.execute(line)
        if result is None:
            return None
        m = self.session.machine
        events = m.drain_events()
        blocks: dict[str, list[tuple[int, int]]] = {}
        if m is machine:
            for name, dev in m.vmem.items():
                blocks[name] = model.diff_runs(before.get(name, BlockRuns()), dev.device.blocks)
        ch = model.changes_from(events, blocks)
        if m is not machine:
            ch.machine_replaced = True
            _settle_heap(m, replaced=True)
        self.results.append(result)
        if step is not None and step.name == "say":
            lines = [(f"» {result.message}", "italic")]
        else:
            lines = log_lines(line, result)
        lines += [(f"  ⇒ {s}", "cyan") for s in ch.summary()]
        self._log_lines(lines)
        if merge:
            self.last_changes.merge(ch)
            ch = self.last_changes
        self.last_changes = ch
        self.refresh_views(ch)
        if result.ok and result.data.get("exit") and step is None:
            self.action_quit_app()
        return result

    def export_svg(self, path: str) -> None:
        """The hook `export svg FILE` calls (commands/cmd_session) while the TUI runs."""
        target = Path(path).expanduser()
        try:
            self.save_screenshot(filename=target.name, path=str(target.parent))
        except OSError as e:
            raise DevmemError(f"cannot write {path}: {e.strerror or e}") from None

    def _log_lines(self, lines: list[tuple[str, str]]) -> None:
        log = self.query_one(AccessLog)
        for text, style in lines:
            self.transcript.append(text)
            log.write(Text(text, style=style))

    def refresh_views(self, ch: model.Changes | None = None) -> None:
        ch = ch or model.Changes()
        self._update_title()
        tree = self.query_one(IomemTree)
        ids = model.changed_ids(ch)
        if ch.tree_changed or tree.highlight or ch.config:
            tree.reload(highlight=ids)
        bm = self.query_one(BlockMap)
        if ch.machine_replaced:
            bm.device_name = None
        bm.reload(changed=ch.blocks.get(bm.device_name or "", []))
        self._update_block_head()
        self.query_one(ConfigPanel).sync()
        self._show_details()

    def _update_title(self) -> None:
        self.sub_title = f"{self.machine.name} · {self.machine.config.short()}"

    def _update_block_head(self) -> None:
        bm = self.query_one(BlockMap)
        bm.dev()  # picks a device if the current one is gone
        self.query_one("#block-head", TextPane).update(header_text(self.machine, bm.device_name))

    # ------------------------------------------------------------------ selection
    def _select(self, addr: int, entry: model.Entry | None = None) -> None:
        self.sel_addr = addr
        self.sel_entry = entry
        self._show_details()

    def _show_details(self) -> None:
        if self.sel_addr is None:
            return
        panel = self.query_one(DetailsPanel)
        panel.border_title = f"details {self.sel_addr:#x}"
        text = details_text(self.machine, self.sel_addr, self.sel_entry)
        self.details = text.plain  # what the pane shows, as plain text (tests, bench)
        panel.update(text)

    @on(Tree.NodeHighlighted)
    def tree_highlighted(self, event: Tree.NodeHighlighted[model.Entry]) -> None:
        entry = event.node.data
        if entry is None:
            return
        addr = entry.start
        pending, self._reveal_addr = self._reveal_addr, None
        if pending is not None and entry.start <= pending <= entry.end:
            addr = pending  # `g`/`/` asked for this address inside the node
        self._select(addr, entry)
        if model.device_at(self.machine, addr) is not None:
            self.query_one(BlockMap).goto_addr(addr)

    @on(BlockMap.CursorMoved)
    def block_moved(self, event: BlockMap.CursorMoved) -> None:
        self._update_block_head()
        dev = self.machine.vmem.get(event.device)
        if dev is None:
            return
        bs = dev.device.block_size
        if self.sel_addr is not None and event.addr <= self.sel_addr < event.addr + bs:
            return  # the tree already selected an address inside this block
        self._select(event.addr, None)

    @on(ConfigPanel.SetRequested)
    def config_set(self, event: ConfigPanel.SetRequested) -> None:
        self.run_command(f"set {event.key} {event.value}")

    @on(CommandBar.Submitted)
    def bar_submitted(self, event: CommandBar.Submitted) -> None:
        event.stop()
        if not isinstance(event.input, CommandBar):
            return
        line = event.value.strip().lstrip(":").strip()  # ":read ..." as vim users type it
        bar = event.input
        bar.value = ""
        if not line:
            return
        bar.remember(line)
        self.run_command(line)

    @on(CommandBar.Hint)
    def bar_hint(self, event: CommandBar.Hint) -> None:
        self.query_one("#hint", TextPane).update(event.text)

    @on(CommandBar.Focused)
    def bar_focused(self, event: CommandBar.Focused) -> None:
        # On short screens the hint line shows only while typing. Toggle the one widget:
        # a class on the App would restyle every widget on each focus change.
        if self.has_class("short"):
            self.query_one("#hint").display = event.focused

    @on(CommandBar.Leave)
    def bar_leave(self) -> None:
        self.query_one(IomemTree).focus()

    def prefill(self, text: str) -> None:
        bar = self.query_one(CommandBar)
        bar.value = text
        bar.cursor_position = len(text)
        bar.focus()

    # ------------------------------------------------------------------ key actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("step", "autoplay"):
            if not self.steps:
                return False
            if action == "step":
                if isinstance(self.focused, Input | Select | Switch):
                    return False  # their own enter/space
            return True
        if action in ("plug", "unplug", "resize", "next_device"):
            if not self.machine.vmem:
                return None  # dimmed: nothing to act on
            if action == "next_device" and len(self.machine.vmem) < 2:
                return False
        return True

    def action_focus_tree(self) -> None:
        if self.has_class("show-config"):
            self.remove_class("show-config")
        self.query_one(IomemTree).focus()

    def action_focus_bar(self) -> None:
        self.query_one(CommandBar).focus()

    def _block_line(self, verb: str) -> str | None:
        bm = self.query_one(BlockMap)
        dev = bm.dev()
        addr = bm.cursor_addr()
        if dev is None or addr is None or bm.device_name is None:
            self._log_lines([("✗ no virtio-mem device to act on", "bold red")])
            return None
        return f"{verb} {bm.device_name} {addr:#x} {fmt_size(dev.device.block_size)}"

    def action_plug(self) -> None:
        line = self._block_line("plug")
        if line:
            self.run_command(line)

    def action_unplug(self) -> None:
        line = self._block_line("unplug")
        if line:
            self.run_command(line)

    def _addr_command(self, fmt: str, page: bool = False) -> None:
        if self.sel_addr is None:
            self._log_lines([("✗ nothing selected: pick a node or a block first", "bold red")])
            return
        addr = model.page_floor(self.sel_addr) if page else self.sel_addr
        self.run_command(fmt.format(addr=f"{addr:#x}"))

    def action_read(self) -> None:
        self._addr_command("read {addr}")

    def action_write(self) -> None:
        self._addr_command("write {addr}")

    def action_mmap(self) -> None:
        self._addr_command("mmap {addr} 4K", page=True)

    def action_kcore(self) -> None:
        self._addr_command("kcore {addr}")

    def action_resize(self, direction: int) -> None:
        bm = self.query_one(BlockMap)
        dev = bm.dev()
        if dev is None or bm.device_name is None:
            return
        d = dev.device
        step = max(self.machine.memory_block_size, d.block_size)
        size = max(0, min(d.region_size, d.requested_size + direction * step))
        self.run_command(f"vmem resize {bm.device_name} {fmt_size(size) if size else '0'}")

    def action_next_device(self) -> None:
        bm = self.query_one(BlockMap)
        names = list(self.machine.vmem)
        if not names:
            return
        i = names.index(bm.device_name) if bm.device_name in names else -1
        bm.set_device(names[(i + 1) % len(names)])
        self._update_block_head()

    def action_config(self) -> None:
        panel = self.query_one(ConfigPanel)
        if self.has_class("narrow"):
            if self.has_class("show-config") and panel.has_focus_within:
                self.remove_class("show-config")
                self.query_one(IomemTree).focus()
                return
            self.add_class("show-config")
        first = next(iter(panel.query("Switch, Select, Input")), None)
        if first is not None:
            first.focus()

    def action_find(self) -> None:
        tree = self.query_one(IomemTree)

        def done(addr: int | None) -> None:
            if addr is not None:
                self.reveal(addr)

        self.push_screen(FindScreen(tree.find_name), done)

    def action_goto(self) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            try:
                addr = parse_number(text, "address")
            except DevmemError as e:
                self._log_lines([(f"✗ go to: {e}", "bold red")])
                return
            self.reveal(addr)

        self.push_screen(GotoScreen(), done)

    def reveal(self, addr: int) -> None:
        """Select addr: the deepest tree node holding it (expanding its ancestors), the
        block there, and its details."""
        tree = self.query_one(IomemTree)
        self._reveal_addr = addr
        node = tree.node_at(addr, reveal=True)
        self.query_one(BlockMap).goto_addr(addr)
        entry = node.data if node is not None else None
        self._select(addr, entry)
        tree.focus()

    def action_help(self) -> None:
        rows = [
            (k, f"{title}: {tip}" if tip else title) for k, _, title, tip in self.action_entries()
        ]
        self.push_screen(HelpScreen(rows, NAV_ROWS))

    def action_quit_app(self) -> None:
        self.exit(EXIT_FAIL if self.expect_failures else EXIT_OK)

    # ------------------------------------------------------------------ scenarios
    def action_step(self) -> None:
        """Run the next scenario step: its narration, its command, then its expects."""
        st = self.stepper
        if st is None or st.done:
            self._stop_autoplay()
            self._update_scenario()
            return
        group = st.start_group()
        for n, item in enumerate(group.items):
            result = self.run_command(item.text, step=item, merge=n > 0)
            if result is not None and item.name == "expect" and st.check(item, result):
                self._stop_autoplay()
        self._update_scenario()

    def action_autoplay(self) -> None:
        if self._auto is not None:
            self._stop_autoplay()
        else:
            self._auto = self.set_interval(self.autoplay_delay, self._auto_tick)
        self._update_scenario()

    def _stop_autoplay(self) -> None:
        if self._auto is not None:
            self._auto.stop()
            self._auto = None

    def _auto_tick(self) -> None:
        if self.stepper is None or self.stepper.done:
            self._stop_autoplay()
            self._update_scenario()
            return
        if self.steps[self.step_index].stop and self.step_index > 0 and self._auto is not None:
            self.steps[self.step_index].stop = False  # stop once; space continues
            self._stop_autoplay()
            self._update_scenario()
            return
        self.action_step()

    def _update_scenario(self) -> None:
        if self.stepper is None or not self.stepper.steps:
            return
        changes = self.last_changes.summary()
        text = self.stepper.panel_text(self._auto is not None, changes)
        self.query_one(ScenarioPanel).update(text)


def run_tui(session: Session, scenario: str | None = None) -> int:
    """Open the TUI on session (optionally stepping a scenario). Returns the exit status:
    1 if a scenario expect failed while stepping, 2 if the scenario cannot be played (its
    problems go to stderr, as `play` reports them), else 0."""
    if scenario is not None:
        problems = check_files([scenario])
        if problems:
            for p in problems:
                print(p, file=sys.stderr)
            return EXIT_USAGE
    app = DevmemApp(session, scenario=scenario)
    code = app.run()
    if app.return_code:  # the app stopped on an unhandled error (Textual printed it)
        return app.return_code
    return int(code or 0)
