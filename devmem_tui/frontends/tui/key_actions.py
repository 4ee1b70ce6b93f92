"""The app's key actions: what ``p``, ``u``, ``r``, ``w``, ``m``, ``k``, ``+`` / ``-``, ``n``,
``c``, ``/``, ``g``, ``M``, ``v``, ``t``, ``?``, ``q`` and escape do (bindings.py binds them,
with the ids a keymap file uses), and which of them apply now (``check_action``).

``KeyActions`` is a mixin of ``DevmemApp``; its methods see the app through ``KeyActionsHost``,
the part of it they use, so this module does not import app.py. Like every other way in, an
action that changes state builds a command line and hands it to ``run_command``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, OptionList, Select, Switch

from devmem_tui.commands.numbers import parse_number
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.units import fmt_size
from devmem_tui.frontends.output import EXIT_FAIL, EXIT_OK
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.bindings import NAV_ROWS
from devmem_tui.frontends.tui.screens.help import HelpScreen
from devmem_tui.frontends.tui.screens.policy_map import PolicyMapScreen
from devmem_tui.frontends.tui.screens.prompt import FindScreen, GotoScreen
from devmem_tui.frontends.tui.widgets.block_map import BlockMap
from devmem_tui.frontends.tui.widgets.command_bar import CommandBar
from devmem_tui.frontends.tui.widgets.config_panel import ConfigPanel
from devmem_tui.frontends.tui.widgets.iomem_tree import IomemTree
from devmem_tui.frontends.tui.widgets.log_view import LogView

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine
    from devmem_tui.scenario.player import StepGroup

W = TypeVar("W", bound=Widget)

# Actions that step a scenario: offered only while one is loaded.
SCENARIO_ACTIONS = ("step", "autoplay", "step_back", "restart", "speed")
# Actions on a virtio-mem device: dimmed while the machine has none.
DEVICE_ACTIONS = ("plug", "unplug", "resize", "next_device")


class KeyActionsHost(Protocol):
    """What the key actions use of ``DevmemApp``."""

    session: Session
    sel_addr: int | None

    @property
    def machine(self) -> Machine: ...

    @property
    def steps(self) -> list[StepGroup]: ...

    @property
    def expect_failures(self) -> int: ...

    @property
    def focused(self) -> Widget | None: ...

    def query_one(self, selector: type[W]) -> W: ...

    def has_class(self, *class_names: str) -> bool: ...

    def add_class(self, *class_names: str) -> object: ...

    def remove_class(self, *class_names: str) -> object: ...

    def push_screen(
        self, screen: Screen[Any], callback: Callable[[Any], None] | None = None
    ) -> object: ...

    def exit(self, result: int) -> None: ...

    def run_command(self, line: str) -> Result | None: ...

    def note(self, text: str, style: str = "") -> None: ...

    def reveal(self, addr: int, key: model.ResKey | None = None) -> None: ...

    def update_block_head(self) -> None: ...

    def action_entries(self) -> list[tuple[str, str, str, str]]: ...


def block_line(app: KeyActionsHost, verb: str) -> str | None:
    """``VERB DEV ADDR SIZE`` for the device block under the block map's cursor, or None
    (with a note in the log) when there is no device."""
    bm = app.query_one(BlockMap)
    dev = bm.dev()
    addr = bm.cursor_addr()
    if dev is None or addr is None or bm.device_name is None:
        app.note("✗ no virtio-mem device to act on", "bold red")
        return None
    return f"{verb} {bm.device_name} {addr:#x} {fmt_size(dev.device.block_size)}"


def addr_command(app: KeyActionsHost, fmt: str, page: bool = False) -> None:
    """Run fmt with ``{addr}`` the selected address (its page with ``page``)."""
    if app.sel_addr is None:
        app.note("✗ nothing selected: pick a node or a block first", "bold red")
        return
    addr = model.page_floor(app.sel_addr) if page else app.sel_addr
    app.run_command(fmt.format(addr=f"{addr:#x}"))


class KeyActions:
    """The key actions of ``DevmemApp`` (see the module docstring)."""

    def check_action(
        self: KeyActionsHost, action: str, parameters: tuple[object, ...]
    ) -> bool | None:
        if action in SCENARIO_ACTIONS:
            if not self.steps:
                return False
            if action == "step":
                if isinstance(self.focused, Input | Select | Switch | OptionList):
                    return False  # their own enter/space
            return True
        if action in DEVICE_ACTIONS:
            if not self.machine.vmem:
                return None  # dimmed: nothing to act on
            if action == "next_device" and len(self.machine.vmem) < 2:
                return False
        return True

    def action_config_move(self: KeyActionsHost, step: int) -> None:
        self.query_one(ConfigPanel).move(step)

    def action_focus_tree(self: KeyActionsHost) -> None:
        if self.has_class("show-config"):
            self.remove_class("show-config")
        self.query_one(IomemTree).focus()

    def action_focus_bar(self: KeyActionsHost) -> None:
        self.query_one(CommandBar).focus()

    def action_plug(self: KeyActionsHost) -> None:
        line = block_line(self, "plug")
        if line:
            self.run_command(line)

    def action_unplug(self: KeyActionsHost) -> None:
        line = block_line(self, "unplug")
        if line:
            self.run_command(line)

    def action_read(self: KeyActionsHost) -> None:
        addr_command(self, "read {addr}")

    def action_write(self: KeyActionsHost) -> None:
        addr_command(self, "write {addr}")

    def action_mmap(self: KeyActionsHost) -> None:
        addr_command(self, "mmap {addr} 4K", page=True)

    def action_kcore(self: KeyActionsHost) -> None:
        addr_command(self, "kcore {addr}")

    def action_resize(self: KeyActionsHost, direction: int) -> None:
        bm = self.query_one(BlockMap)
        dev = bm.dev()
        if dev is None or bm.device_name is None:
            return
        d = dev.device
        step = max(self.machine.memory_block_size, d.block_size)
        size = max(0, min(d.region_size, d.requested_size + direction * step))
        self.run_command(f"vmem resize {bm.device_name} {fmt_size(size) if size else '0'}")

    def action_next_device(self: KeyActionsHost) -> None:
        bm = self.query_one(BlockMap)
        names = list(self.machine.vmem)
        if not names:
            return
        i = names.index(bm.device_name) if bm.device_name in names else -1
        bm.set_device(names[(i + 1) % len(names)])
        self.update_block_head()

    def action_config(self: KeyActionsHost) -> None:
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

    def action_find(self: KeyActionsHost) -> None:
        tree = self.query_one(IomemTree)

        def done(hit: model.Entry | int | None) -> None:
            if isinstance(hit, model.Entry):
                self.reveal(hit.start, hit.key)
            elif hit is not None:
                self.reveal(hit)

        self.push_screen(FindScreen(tree.find_name), done)

    def action_goto(self: KeyActionsHost) -> None:
        def done(text: str | None) -> None:
            if not text:
                return
            try:
                addr = parse_number(text, "address")
            except DevmemError as e:
                self.note(f"✗ go to: {e}", "bold red")
                return
            self.reveal(addr)

        self.push_screen(GotoScreen(), done)

    def action_policy_map(self: KeyActionsHost) -> None:
        self.push_screen(PolicyMapScreen(lambda: self.session.machine))

    def action_badges(self: KeyActionsHost) -> None:
        self.query_one(IomemTree).toggle_badges()

    def action_toggle_traces(self: KeyActionsHost) -> None:
        self.query_one(LogView).action_toggle_traces()

    def action_help(self: KeyActionsHost) -> None:
        rows = [
            (k, f"{title}: {tip}" if tip else title) for k, _, title, tip in self.action_entries()
        ]
        self.push_screen(HelpScreen(rows, NAV_ROWS))

    def action_quit_app(self: KeyActionsHost) -> None:
        self.exit(EXIT_FAIL if self.expect_failures else EXIT_OK)
