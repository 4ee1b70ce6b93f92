"""The access log: every command with its outcome, what it changed, and its kernel trace.

A line-API ScrollView over ``output.LogEntry``s. Prose wraps under a hanging indent; table
lines (``blocks``, ``iomem``, ...) never wrap, and the log scrolls sideways to show them.
How much trace each entry shows follows the session's ``trace`` setting; with ``trace on``
a trace longer than ``FOLD_AFTER`` lines is folded to its deciding check and a
``▸ N more trace lines`` line, and ``t`` unfolds every trace (and folds them again). Each
entry is wrapped once per width and trace mode, so a new command costs its own lines only.

After a new entry the log scrolls to it: to its end when it fits on screen, else to its
first line, so the command and its outcome stay in view above a long listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from devmem_tui.frontends.output import LogEntry, LogLine
from devmem_tui.frontends.tui.widgets.text_pane import render_strips, visible_line
from devmem_tui.frontends.tui.widgets.wrapping import NOWRAP, Para

FOLD_AFTER = 4  # trace lines shown unfolded; a longer trace folds to its deciding check
MAX_ENTRIES = 1000  # entries the log keeps (each with its wrapped strips): memory stays flat


@dataclass
class _Item:
    entry: LogEntry
    strips: list[Strip] = field(default_factory=list)
    width: int = 0  # the widest strip (how far the log scrolls sideways)
    key: tuple[Any, ...] = ()  # what the strips were wrapped for


class LogView(ScrollView, can_focus=True):
    """The log. ``write(entry)`` appends; ``lines`` is what it shows, as plain text."""

    ALLOW_MAXIMIZE = True
    BINDINGS = [
        Binding("t", "toggle_traces", "Traces", show=False, id="log.traces"),
        Binding("up", "scroll_up", "Up", show=False),
        Binding("down", "scroll_down", "Down", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "End", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._items: list[_Item] = []
        self._strips: list[Strip] = []
        self.trace_mode = "on"
        self.expanded = False  # long traces unfolded (t)
        self._wrapped_for = -1

    # ------------------------------------------------------------------ content
    def write(self, entry: LogEntry) -> None:
        self._items.append(_Item(entry))
        if len(self._items) > MAX_ENTRIES:
            del self._items[: len(self._items) - MAX_ENTRIES]
        self._rebuild(scroll_to=self._items[-1])

    def clear(self) -> None:
        self._items.clear()
        self._rebuild()

    def set_trace_mode(self, mode: str) -> None:
        if mode != self.trace_mode:
            self.trace_mode = mode
            self._rebuild(keep_bottom=True)

    def action_toggle_traces(self) -> None:
        self.expanded = not self.expanded
        self._rebuild(keep_bottom=True)

    @property
    def folded(self) -> int:
        """How many entries have a folded trace now."""
        if self.trace_mode != "on" or self.expanded:
            return 0
        return sum(1 for it in self._items if len(it.entry.trace) > FOLD_AFTER)

    def entry_lines(self, item: _Item) -> list[Para]:
        """The paras one entry shows: its lines, then its trace as the mode says."""
        out = [_para(ln) for ln in item.entry.lines]
        trace = item.entry.trace
        if self.trace_mode == "off" or not trace:
            return out
        if self.trace_mode == "short":
            shown = [item.entry.decider or trace[-1]]
        elif len(trace) > FOLD_AFTER and not self.expanded:
            shown = [item.entry.decider or trace[-1]]
            hidden = len(trace) - 1
            out += [_trace_para(t) for t in shown]
            out.append(
                Para(Text(f"    ▸ {hidden} more trace lines (t shows them)", style="dim italic"))
            )
            return out
        else:
            shown = trace
        return out + [_trace_para(t) for t in shown]

    @property
    def lines(self) -> list[str]:
        """Every line the log shows, unwrapped, as plain text."""
        return [p.text.plain for it in self._items for p in self.entry_lines(it)]

    # ------------------------------------------------------------------ rendering
    def _item_strips(self, item: _Item, key: tuple[Any, ...]) -> list[Strip]:
        """An entry's strips, wrapped again only when ``key`` (the width, the trace mode, the
        folding and the pane's style: computed once per rebuild, reading the style walks the
        CSS) has changed since."""
        if item.key != key:
            width, base = key[0], key[-1]
            item.strips = render_strips(
                self.app.console, self.entry_lines(item), width, base, self.app.no_color
            )
            item.width = max((s.cell_length for s in item.strips), default=0)
            item.key = key
        return item.strips

    def _rebuild(self, scroll_to: _Item | None = None, keep_bottom: bool = False) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or not self.is_attached:
            self._wrapped_for = -1
            return
        at_bottom = self.scroll_y >= self.max_scroll_y
        key = (width, self.trace_mode, self.expanded, self.rich_style)
        strips: list[Strip] = []
        start = 0
        for it in self._items:
            if it is scroll_to:
                start = len(strips)
            strips.extend(self._item_strips(it, key))
        self._strips = strips
        self._wrapped_for = width
        size = Size(max([width, *(it.width for it in self._items)]), len(strips))
        if size != self.virtual_size:
            self.virtual_size = size
        if scroll_to is not None:
            # after the refresh: a new sideways scrollbar may take a row of the pane
            self.call_after_refresh(self._show_entry, start)
        elif keep_bottom and at_bottom:
            self.call_after_refresh(self._show_entry, None)
        self.refresh()

    def _show_entry(self, start: int | None) -> None:
        """Scroll to the entry starting at line ``start`` (None: the end): its end when the
        rest of the log from it fits the pane, else its first line at the top."""
        height = self.scrollable_content_region.height
        bottom = max(0, len(self._strips) - height)
        y = bottom if start is None or len(self._strips) - start <= height else start
        self.scroll_to(x=0, y=y, animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        last = self._items[-1] if self._items else None
        self._rebuild(scroll_to=last)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._wrapped_for = -1

    def render_line(self, y: int) -> Strip:
        if self._wrapped_for != self.scrollable_content_region.width:
            self._rebuild()
        return visible_line(self, self._strips, y, self.rich_style)


def _para(line: LogLine) -> Para:
    return Para(Text(line.text, style=line.style), line.hang if line.wrap else NOWRAP)


def _trace_para(text: str) -> Para:
    return Para(Text(f"    · {text}", style=Style(dim=True)), 6)
