"""The Textual front end: the app, its panes, keys and actions.

The app changes state ONLY through ``Session.execute(line)`` (``DevmemApp.run_command``):
keys build command lines (``p`` -> ``plug vmem0 0x... 2M``), the command bar submits lines,
the palette runs commands, scenario steps run their lines. So the TUI, the REPL and the
scenario player behave identically. After each command the app drains ``machine`` events
and redraws what changed; it reads everything it shows from ``session.machine``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Horizontal
from textual.driver import Driver
from textual.timer import Timer
from textual.widgets import Footer, Header, Static, Tree

from devmem_tui.commands.grammar import has_separator, split_commands
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session, load_all
from devmem_tui.engine.machine import Machine
from devmem_tui.files import write_atomic
from devmem_tui.frontends.autosave import Autosave
from devmem_tui.frontends.output import (
    EXIT_USAGE,
    LogEntry,
    LogLine,
    display,
    display_lines,
    log_entry,
)
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.bindings import APP_BINDINGS
from devmem_tui.frontends.tui.heap import settle_heap
from devmem_tui.frontends.tui.key_actions import KeyActions, KeyActionsHost
from devmem_tui.frontends.tui.keymap import keymap_path, load_keymap
from devmem_tui.frontends.tui.provider import DevmemCommands, GuardedCommandPalette
from devmem_tui.frontends.tui.restore import (
    confirm_then_run,
    end_autosave,
    input_safe,
    start_autosave,
)
from devmem_tui.frontends.tui.scenario_mode import ScenarioApp
from devmem_tui.frontends.tui.screens.policy_map import PolicyMapScreen
from devmem_tui.frontends.tui.stepper import Stepper
from devmem_tui.frontends.tui.styles import text_without_color
from devmem_tui.frontends.tui.widgets.block_map import BlockHead, BlockMap, legend_text
from devmem_tui.frontends.tui.widgets.command_bar import CommandBar, usage_hint
from devmem_tui.frontends.tui.widgets.config_panel import ConfigPanel
from devmem_tui.frontends.tui.widgets.iomem_tree import IomemTree
from devmem_tui.frontends.tui.widgets.log_view import MAX_ENTRIES, LogView
from devmem_tui.frontends.tui.widgets.panels import DetailsPanel, Pane, ScenarioPanel, details_text
from devmem_tui.frontends.tui.widgets.text_pane import TextPane
from devmem_tui.frontends.tui.widgets.wrapping import plain
from devmem_tui.scenario.player import StepGroup
from devmem_tui.scenario.script import Step, check_files

NARROW = 110  # below this width the config panel is shown only on `c`
SHORT = 32  # below this height the legends hide (they are in the help) and so does the hint
# Below this size the panes cannot sit side by side (the tree and the block map need 66
# columns together): the focused pane fills the screen, and Tab moves to the next one.
TINY_WIDTH, TINY_HEIGHT = 70, 20
PANES = ("#tree", "#blocks", "#details", "#log", "#config", "#bar")  # Tab's order
PANE_IDS = frozenset({"tree-pane", "block-pane", "details", "log", "config"})  # `z` zooms these


# The app keeps the last results and the log's lines as plain text (``transcript``, which
# tests and `export` read), bounded like the log itself, so a long session does not grow.
RESULTS_KEPT = 100
TRANSCRIPT_LINES = 10 * MAX_ENTRIES  # an entry is a few lines; its trace folded or not


def keep_last(items: list[Any], n: int) -> None:
    """Drop all but the last n items once there are twice as many (amortized O(1) each)."""
    if len(items) >= 2 * n:
        del items[:-n]


class DevmemApp(KeyActions, ScenarioApp):
    """Panes: iomem tree, block map, config, details, log; command bar; palette."""

    TITLE = "devmem-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {DevmemCommands}
    # A maximized pane keeps the title, the command bar, its hint, the scenario panel and
    # the footer around it.
    ALLOW_IN_MAXIMIZED_VIEW = "Header, Footer, CommandBar, #hint, ScenarioPanel"

    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        session: Session,
        scenario: str | None = None,
        keymap: dict[str, str] | None = None,
        keymap_file: Path | None = None,
        autoplay_delay: float | None = None,
        new_session: Callable[[], Session] | None = None,
        quiz: bool = False,
        autosave: Autosave | None = None,
    ) -> None:
        super().__init__()
        self.autosave = autosave
        self.clean_exit = False  # set by exit(): a crash leaves the autosave journal behind
        load_all()
        self.session = session
        # restart, step back and lessons start from a session like the first one
        self.new_session = new_session or Session.new
        self.quiz = quiz
        if autoplay_delay is not None:  # tests step faster than `set` allows
            session.settings.autoplay_delay = autoplay_delay
        self.transcript: list[str] = []
        self.results: list[Result] = []
        self.last_changes = model.Changes()
        self.sel_addr: int | None = None
        self.sel_entry: model.Entry | None = None
        self._reveal_addr: int | None = None
        self.details = ""
        self.stepper = Stepper.load(scenario, quiz=quiz) if scenario is not None else None
        self._auto: Timer | None = None
        self._zoomed = False  # `z` maximized a pane (a tiny terminal maximizes on its own)
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
            with Pane(id="tree-pane"):
                yield IomemTree(lambda: self.session.machine, id="tree")
                yield Static(self._colors(self._kind_legend()), id="tree-legend")
            with Pane(id="block-pane"):
                yield BlockHead(lambda: self.session.machine, id="block-head")
                yield BlockMap(lambda: self.session.machine, id="blocks")
                yield Static(self._colors(legend_text()), id="block-legend")
        yield ScenarioPanel(id="scenario")
        with Horizontal(id="bottom"):
            yield DetailsPanel(id="details")
            yield LogView(id="log")
            yield ConfigPanel(lambda: self.session.machine, id="config")
        yield CommandBar(lambda: self.session, id="bar")
        yield TextPane(usage_hint(""), id="hint")
        yield Footer()

    def _colors(self, text: Text) -> Text:
        """Text as this terminal shows it: without colour under NO_COLOR (styles.py)."""
        return text_without_color(text) if self.no_color else text

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
        self.query_one("#log").border_title = "log (t: traces · z: zoom)"
        self.query_one("#scenario").border_title = "scenario"
        self._apply_keymap()
        self.machine.drain_events()  # building the preset is not a change to show
        self._update_title()
        tree = self.query_one(IomemTree)
        tree.reload()
        self.query_one(BlockMap).reload()
        self.update_block_head()
        scenario_error = self.stepper.error if self.stepper is not None else None
        self.query_one(ScenarioPanel).display = bool(self.steps) or scenario_error is not None
        if scenario_error:
            self.note(f"✗ {scenario_error}", "bold red")
        self._update_scenario()
        for p in self.keymap_problems:
            self.note(f"✗ {p}", "bold red")
        if not self.transcript:
            self.note(f"{self.machine.name}: {model.config_words(self.machine.config)}", "bold")
            self.note(
                "? help · : command (; chains) · ctrl+p palette and lessons · tab next pane · "
                "z zoom",
                "dim",
            )
        # what building the machine from --snapshot found (assumptions, warnings)
        for line in self.session.start_notes:
            self.note(line, "yellow" if line.startswith(("assumed:", "warning:")) else "")
        self._layout_for(self.size.width)
        tree.focus()
        settle_heap(self.machine, replaced=False)
        node = tree.cursor_node
        if node is not None and node.data is not None:
            self._select(node.data.start, node.data)
        start_autosave(self)

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver; on Linux terminals one that survives bytes that are not UTF-8."""
        return input_safe(super().get_driver_class())

    def action_command_palette(self) -> None:
        """Textual's palette, guarded against a double Enter (``GuardedCommandPalette``)."""
        if self.use_command_palette and not CommandPalette.is_open(cast("App[object]", self)):
            self.push_screen(GuardedCommandPalette(id="--command-palette"))

    def exit(self, *args: Any, **kw: Any) -> None:
        """Every deliberate way out (q, ctrl+q, `exit`) ends here; a crash does not."""
        self.clean_exit = True
        super().exit(*args, **kw)

    def machine_replaced(self) -> None:
        """The session has a new machine (a command, a restore): settle the heap for it."""
        settle_heap(self.session.machine, replaced=True)

    def on_unmount(self) -> None:
        if self.session.export_svg == self.export_svg:
            self.session.export_svg = None

    def on_resize(self, event: Any) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int | None = None) -> None:
        height = height if height is not None else self.size.height
        short = height < SHORT
        tiny = width < TINY_WIDTH or height < TINY_HEIGHT
        self.set_class(width < NARROW, "narrow")
        self.set_class(short, "short")
        self.set_class(tiny, "tiny")
        self.query_one("#hint").display = not short or isinstance(self.focused, CommandBar)
        if tiny:
            self._zoom_to_focus()
        elif self.screen.maximized is not None and not self._zoomed:
            self.screen.minimize()  # the terminal grew: the panes fit side by side again
        self.update_block_head()

    def _pane_of(self, widget: Any) -> Any:
        """The bordered pane holding widget (the tree's or the block map's Pane, the
        details, the log, the config panel), or None (the command bar)."""
        node = widget
        while node is not None and node is not self.screen:
            if node.id in PANE_IDS:
                return node
            node = node.parent
        return None

    def _zoom_to_focus(self) -> None:
        """On a tiny terminal the focused pane fills the screen (the bar keeps the last)."""
        if self.screen is not self.screen_stack[0]:
            return  # a modal (help, find) is open
        pane = self._pane_of(self.focused) if self.focused is not None else None
        if pane is not None and self.screen.maximized is not pane:
            self.screen.maximize(pane, container=False)

    def on_descendant_focus(self, event: Any) -> None:
        if self.has_class("tiny"):
            self._zoom_to_focus()

    def action_maximize_pane(self) -> None:
        """`z`: the focused pane fills the screen; `z` (or esc) again restores the layout."""
        if self.has_class("tiny"):
            return  # already one pane at a time
        if self.screen.maximized is not None:
            self.screen.minimize()
            self._zoomed = False
            return
        pane = self._pane_of(self.focused) if self.focused is not None else None
        if pane is None:
            pane = self.query_one(LogView)
        self._zoomed = self.screen.maximize(pane, container=False)

    def action_focus_next(self) -> None:
        self._focus_pane(1)

    def action_focus_previous(self) -> None:
        self._focus_pane(-1)

    def _focus_pane(self, step: int) -> None:
        """Tab and shift+Tab move from pane to pane (tree, blocks, details, log, config,
        command bar), not from control to control: the config panel's controls are one
        stop (↑ ↓ move inside it). In a modal screen they move as Textual moves them."""
        if self.screen is not self.screen_stack[0]:
            if step > 0:
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
            return
        targets: list[Any] = []
        for sel in PANES:
            widget: Any = self.query_one(sel)
            if sel == "#config":
                controls = self.query_one(ConfigPanel).controls()
                widget = controls[0] if controls else None
                if widget is None or not self.query_one(ConfigPanel).display:
                    continue
                if self.has_class("narrow") and not self.has_class("show-config"):
                    continue
            targets.append(widget)
        pane = self._pane_of(self.focused) if self.focused is not None else self.focused
        current = next(
            (i for i, t in enumerate(targets) if t is self.focused or self._pane_of(t) is pane),
            -1,
        )
        if isinstance(self.focused, CommandBar):
            current = len(targets) - 1
        nxt = targets[(current + step) % len(targets)]
        if self.screen.maximized is not None and not self.has_class("tiny"):
            self.screen.minimize()
            self._zoomed = False
        nxt.focus()

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
        for cls in (IomemTree, BlockMap, CommandBar, PolicyMapScreen):
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
        since the previous command too: the lines of one scenario step). A typed line that
        chains commands with ';' runs them in turn (``grammar.split_commands``, the parser
        of every front end); the last result is returned."""
        if step is None and has_separator(line):
            result: Result | None = None
            for piece in split_commands(line):
                result = self.run_command(piece.strip()) or result
                if result is not None and result.data.get("exit"):
                    break
            return result
        machine = self.session.machine
        watched = set(machine.vmem)
        for dev in machine.vmem.values():  # each device logs which blocks flip: O(changes)
            dev.device.blocks.watch()
        if step is not None and self.stepper is not None:
            result = self.stepper.run_step(self.session, step)
        else:
            result = self.session.execute(line)
        if result is None:
            return None
        m = self.session.machine
        events = m.drain_events()
        blocks: dict[str, list[tuple[int, int]]] = {}
        if m is machine:  # the flipped blocks of each device (all of a new device's)
            for name, dev in m.vmem.items():
                runs = dev.device.blocks
                blocks[name] = runs.changed() if name in watched else runs.runs()
        for dev in machine.vmem.values():
            dev.device.blocks.unwatch()
        ch = model.changes_from(events, blocks)
        if m is not machine:
            ch.machine_replaced = True
            settle_heap(m, replaced=True)
        self.results.append(result)
        keep_last(self.results, RESULTS_KEPT)
        if self.autosave is not None:
            self.autosave.after(self.session, line, result, replaced=m is not machine)
        if step is not None and step.name == "say":
            entry = LogEntry(
                [LogLine(f"» {ln}", "italic") for ln in display_lines(result.message)], []
            )
        elif step is not None and step.name == "pause":
            entry = LogEntry([], [])
        else:
            entry = log_entry(line, result)
        # what changed comes right under the outcome, before the (foldable) trace
        entry.lines.extend(LogLine(display(f"  ⇒ {s}"), "cyan", hang=6) for s in ch.summary())
        self._write(entry)
        if merge:
            self.last_changes.merge(ch)
            ch = self.last_changes
        self.last_changes = ch
        self.refresh_views(ch)
        if result.ok and result.data.get("exit") and step is None:
            self.action_quit_app()
        if result.data.get("confirm") and step is None:
            confirm_then_run(self, str(result.data["question"]), str(result.data["confirm"]))
        return result

    def export_svg(self, path: str) -> None:
        """The hook `export svg FILE` calls (commands/cmd_session) while the TUI runs."""
        # through the file guard and an atomic write, like every file the tool writes
        write_atomic(str(Path(path).expanduser()), self.export_screenshot())

    def _write(self, entry: LogEntry) -> None:
        """Log an entry; ``transcript`` keeps every line of it, the whole trace included (the
        last TRANSCRIPT_LINES lines)."""
        if not entry.lines and not entry.trace:
            return
        log = self.query_one(LogView)
        log.set_trace_mode(self.session.settings.trace)
        self.transcript.extend(ln.text for ln in entry.lines)
        self.transcript.extend(f"    · {t}" for t in entry.trace)
        keep_last(self.transcript, TRANSCRIPT_LINES)
        log.write(entry)

    def note(self, text: str, style: str = "") -> None:
        """A line in the log that is not a command (a hint, a problem, a scenario event);
        data in it (a scenario line, a file name, an error quoting a name) is shown by the
        display rule."""
        self._write(LogEntry([LogLine(display(text), style)], []))

    def replace_session(self, session: Session) -> None:
        """Carry on with another session (a scenario restarted, a lesson opened): the
        screenshot hook moves to it and every pane shows its machine."""
        if self.session.export_svg == self.export_svg:
            self.session.export_svg = None
        self.session = session
        session.export_svg = self.export_svg
        if self.autosave is not None:  # the journal follows the session on screen
            self.autosave.begin(session)
        session.machine.drain_events()
        settle_heap(session.machine, replaced=True)
        self.last_changes = model.Changes(machine_replaced=True)
        self.refresh_views(self.last_changes)
        self.last_changes = model.Changes()

    def refresh_views(self, ch: model.Changes | None = None) -> None:
        ch = ch or model.Changes()
        self._update_title()
        tree = self.query_one(IomemTree)
        tree.refresh_badges()
        ids = model.changed_ids(ch)
        if ch.tree_changed or tree.highlight or ch.config:
            tree.reload(highlight=ids)
        bm = self.query_one(BlockMap)
        if ch.machine_replaced:
            bm.device_name = None
        bm.reload(changed=ch.blocks.get(bm.device_name or "", []))
        self.update_block_head()
        self.query_one(ConfigPanel).sync()
        self._show_details()

    def _update_title(self) -> None:
        self.sub_title = display(f"{self.machine.name} · {model.config_words(self.machine.config)}")

    def update_block_head(self) -> None:
        """The block map's heading: the device it shows (another one if that is gone)."""
        bm = self.query_one(BlockMap)
        bm.dev()  # picks a device if the current one is gone
        self.query_one(BlockHead).show(bm.device_name)

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
        content = details_text(self.machine, self.sel_addr, self.sel_entry)
        self.details = plain(content)  # what the pane shows, as plain text (tests, bench)
        panel.update(content)

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
        self.update_block_head()
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
        self.run_command(line)  # `;` chains commands, as in the REPL and `run`

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

    def reveal(self, addr: int, key: model.ResKey | None = None) -> None:
        """Select addr: the tree node of ``key`` when given (a resource found by name), else
        the deepest node holding addr (expanding its ancestors), the block there, and its
        details."""
        tree = self.query_one(IomemTree)
        self._reveal_addr = addr
        node = tree.reveal_key(key) if key is not None else None
        if node is None:
            node = tree.node_at(addr, reveal=True)
        self.query_one(BlockMap).goto_addr(addr)
        entry = node.data if node is not None else None
        self._select(addr, entry)
        tree.focus()


if TYPE_CHECKING:  # mypy checks here that the app has all that its key actions use

    def _key_actions_host(app: DevmemApp) -> KeyActionsHost:
        return app


def run_tui(
    session: Session,
    scenario: str | None = None,
    new_session: Callable[[], Session] | None = None,
    quiz: bool = False,
) -> int:
    """Open the TUI on session (optionally stepping a scenario, in quiz mode with ``quiz``;
    ``new_session`` builds the fresh sessions that restart, step back and lessons use).
    Returns the exit status: 1 if a scenario expect failed while stepping, 2 if the scenario
    cannot be played (its problems go to stderr, as `play` reports them), else 0."""
    if scenario is not None:
        problems = check_files([scenario])
        if problems:
            for p in problems:
                print(display(p), file=sys.stderr)
            return EXIT_USAGE
    # A session kept inside a folder (--file-root, every tab of `serve`) is not journaled:
    # the state directory is outside that folder, and the restore offer would hand one
    # visitor's session to the next.
    journal = Autosave() if session.file_root is None else None
    app = DevmemApp(
        session, scenario=scenario, new_session=new_session, quiz=quiz, autosave=journal
    )
    code = app.run()
    if journal is not None:
        end_autosave(journal, app.clean_exit)
    if app.return_code:  # the app stopped on an unhandled error (Textual printed it)
        return app.return_code
    return int(code or 0)
