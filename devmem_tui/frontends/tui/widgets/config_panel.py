"""The config panel: a Switch or Select for every key of engine/config.KEYS.

The panel never changes the config itself: a user's change is posted as ``SetRequested``
and the app runs ``set KEY VALUE`` through the session, like any other command. After every
command the app calls ``sync`` so the controls show the real config (a rejected change
snaps back). A Switch's position is color only, so each one has an on/off word beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch

from devmem_tui.commands.render import DRIVER_UNBUILDABLE, driver_unbuildable
from devmem_tui.engine.config import ERA_VERSIONS, KEYS, ON_OFF
from devmem_tui.frontends.tui.styles import text_without_color

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine


def config_warnings(machine: Machine) -> list[str]:
    """config.warnings() plus the one `config` adds for a driver running under a config
    that cannot build it (commands.render.config_text)."""
    out = list(machine.config.warnings())
    if driver_unbuildable(machine):
        out.append(DRIVER_UNBUILDABLE)
    return out


class ConfigSelect(Select[str]):
    """A Select whose Up and Down move to the previous and next control, as in a form:
    Enter or Space opens the list (Textual's Select opens it on Up and Down too)."""

    BINDINGS = [
        Binding("enter,space", "show_overlay", "Show menu", show=False),
        Binding("up", "app.config_move(-1)", "Previous", show=False),
        Binding("down", "app.config_move(1)", "Next", show=False),
    ]


class ConfigPanel(VerticalScroll, can_focus=False):
    """One row per config key; Kconfig warnings below. Not focusable itself: ``c`` (or
    Tab, which moves from pane to pane) lands on its first control, Up and Down move
    between its controls, Tab goes on to the next pane."""

    ALLOW_MAXIMIZE = True
    BINDINGS = [
        Binding("up", "app.config_move(-1)", "Previous", show=False),
        Binding("down", "app.config_move(1)", "Next", show=False),
    ]

    class SetRequested(Message):
        def __init__(self, key: str, value: str) -> None:
            super().__init__()
            self.key = key
            self.value = value

    def __init__(self, machine: Callable[[], Machine], **kw: Any) -> None:
        super().__init__(**kw)
        self._machine = machine
        self._warnings_shown = ""

    @property
    def machine(self) -> Machine:
        return self._machine()

    def compose(self) -> ComposeResult:
        cfg = self.machine.config
        for key, (allowed, help_text) in KEYS.items():
            with Horizontal(classes="cfg-row"):
                yield Label(Text(key), id=f"cfgkey-{key}", classes="cfg-key")
                current = cfg.get(key)
                if allowed == ON_OFF:
                    sw = Switch(value=current == "on", id=f"cfg-{key}", animate=False)
                    sw.tooltip = help_text
                    yield sw
                    yield Label(Text(current), id=f"cfgword-{key}", classes="cfg-word")
                elif allowed is not None:
                    sel: Select[str] = ConfigSelect(
                        [(v, v) for v in allowed],
                        value=current,
                        allow_blank=False,
                        compact=True,
                        id=f"cfg-{key}",
                    )
                    sel.tooltip = help_text
                    yield sel
                elif key == "kernel":
                    values = list(dict.fromkeys([*ERA_VERSIONS, current]))
                    ksel: Select[str] = ConfigSelect(
                        [(v, v) for v in values],
                        value=current,
                        allow_blank=False,
                        compact=True,
                        id=f"cfg-{key}",
                    )
                    ksel.tooltip = help_text + " (any other: set kernel X.Y.Z)"
                    yield ksel
                else:
                    inp = Input(current, id=f"cfg-{key}", compact=True, type="integer")
                    inp.tooltip = help_text + " (enter to apply)"
                    yield inp
        yield Static(id="cfg-warnings")

    def on_mount(self) -> None:
        self.sync()

    def controls(self) -> list[Widget]:
        return list(self.query("Switch, Select, Input"))

    def move(self, step: int) -> None:
        """Focus the previous or next control (Up, Down), staying inside the panel."""
        controls = self.controls()
        focused = self.app.focused
        i = controls.index(focused) if focused in controls else -1
        j = max(0, min(len(controls) - 1, i + step))
        controls[j].focus()

    # ------------------------------------------------------------------ user changes
    def _request(self, key: str, value: str) -> None:
        if value != self.machine.config.get(key):
            self.post_message(self.SetRequested(key, value))

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        key = (event.switch.id or "")[4:]
        self._request(key, "on" if event.value else "off")

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.NULL:
            return
        key = (event.select.id or "")[4:]
        self._request(key, str(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        key = (event.input.id or "")[4:]
        self._request(key, event.value.strip())

    # ------------------------------------------------------------------ redraw
    def sync(self) -> None:
        """Show the machine's real config and its Kconfig warnings."""
        cfg = self.machine.config
        for key in KEYS:
            current = cfg.get(key)
            try:
                widget = self.query_one(f"#cfg-{key}")
            except Exception:
                continue
            # the key's label says where the value came from (snapshot, option, set, default)
            self.query_one(f"#cfgkey-{key}", Label).tooltip = f"from: {cfg.source(key)}"
            # prevent(): a programmatic change must not come back as a user's `set`
            # (it would arrive after later commands and undo them)
            if isinstance(widget, Switch):
                if widget.value != (current == "on"):
                    with widget.prevent(Switch.Changed):
                        widget.value = current == "on"
                self.query_one(f"#cfgword-{key}", Label).update(Text(current))
            elif isinstance(widget, Select):
                with widget.prevent(Select.Changed):
                    if key == "kernel" and current not in ERA_VERSIONS:
                        options = dict.fromkeys([*ERA_VERSIONS, current])
                        widget.set_options([(v, v) for v in options])
                    if widget.value != current:
                        widget.value = current
            elif isinstance(widget, Input) and not widget.has_focus:
                with widget.prevent(Input.Changed):
                    widget.value = current
        warnings = config_warnings(self.machine)
        text = Text()
        for w in warnings:
            text.append("⚠ ", style="bold yellow")
            text.append(w + "\n", style="yellow")
        if not warnings:
            text.append("✓ no Kconfig conflicts", style="dim")
        if self.app.no_color:
            text = text_without_color(text)
        box = self.query_one("#cfg-warnings", Static)
        if text.plain != self._warnings_shown:
            self._warnings_shown = text.plain
            box.update(text)
            if warnings:  # a new warning: scroll it into view (a short panel cuts it off)
                self.call_after_refresh(self.scroll_to_widget, box, animate=False)
