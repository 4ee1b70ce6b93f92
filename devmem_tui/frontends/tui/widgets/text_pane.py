"""A scrollable rich-Text pane that updates without a screen layout.

``Static.update`` asks for a layout of the whole screen on every call (its size may depend on
its content), which costs a full reflow per keypress when the details, the block header or
the command hint change. This line-API pane keeps its own size: it re-wraps the Text to its
width and repaints, and only touches its scrollbars when the line count changes.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget


class TextPane(ScrollView, can_focus=False):
    DEFAULT_CSS = """
    TextPane {
        overflow-x: hidden;
        overflow-y: auto;
    }
    """

    def __init__(self, text: Text | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._text = text or Text()
        self._strips: list[Strip] = []
        self._wrapped_for = -1
        self._base: Any = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._wrapped_for = -1  # re-wrap with the new base style

    @property
    def text(self) -> Text:
        return self._text

    @property
    def plain(self) -> str:
        return self._text.plain

    def update(self, text: Text) -> None:
        self._text = text
        self._wrap()
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._wrap()

    def _wrap(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or not self.is_attached:
            self._wrapped_for = -1
            return
        console = self.app.console
        lines = self._text.wrap(console, width, overflow="fold")
        base = self._base = self.rich_style
        strips = []
        for line in lines:
            segs = [
                Segment(s.text, base + s.style if s.style else base)
                for s in line.render(console, end="")
            ]
            strips.append(Strip(segs))
        self._strips = strips
        self._wrapped_for = width
        size = Size(width, len(strips))
        if size != self.virtual_size:
            # as Widget._size_updated does without a layout: the pane's own size is fixed
            # by CSS, only its scrollable area changes
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
            self.scroll_to(
                y=min(self.scroll_y, max(0, len(strips) - self.size.height)),
                animate=False,
                immediate=True,
            )

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if self._wrapped_for != width:
            self._wrap()
        row = y + int(self.scroll_y)
        if 0 <= row < len(self._strips):
            return self._strips[row].crop_extend(0, width, self._base)
        return Strip.blank(width, self._base)
