"""A scrollable rich-Text pane that updates without a screen layout.

``Static.update`` asks for a layout of the whole screen on every call (its size may depend on
its content), which costs a full reflow per keypress when the details, the block header or
the command hint change. This line-API pane keeps its own size: it re-wraps its content to
its width and repaints, and only touches its scrollbars when the content's size changes.

Content is a Text or a list of ``wrapping.Para``: prose wraps under a hanging indent, table
lines (``NOWRAP``) keep their width and the pane scrolls sideways to show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from devmem_tui.frontends.tui.styles import without_color
from devmem_tui.frontends.tui.widgets.wrapping import Para, paras, plain, wrap_para


def render_strips(
    console: Console, content: Iterable[Para], width: int, base: Style, no_color: bool = False
) -> list[Strip]:
    """Content wrapped to ``width`` as strips in the pane's base style; with ``no_color``
    colours become emphasis (``styles.without_color``)."""
    strips = []
    for para in content:
        for line in wrap_para(para, width):
            segs = []
            for seg in line.render(console, end=""):
                style = seg.style
                if style and no_color:
                    style = without_color(style)
                segs.append(Segment(seg.text, base + style if style else base))
            strips.append(Strip(segs))
    return strips


def visible_line(widget: ScrollView, strips: list[Strip], y: int, base: Style) -> Strip:
    """Row y of a scrolled pane of strips: cropped to the pane, scrolled both ways."""
    width = widget.scrollable_content_region.width
    row = y + int(widget.scroll_y)
    x = int(widget.scroll_x)
    if 0 <= row < len(strips):
        return strips[row].crop_extend(x, x + width, base)
    return Strip.blank(width, base)


class TextPane(ScrollView, can_focus=False):
    DEFAULT_CSS = """
    TextPane {
        overflow-x: auto;
        overflow-y: auto;
    }
    """

    def __init__(self, text: Text | list[Para] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._content: list[Para] = self._as_paras(text or Text())
        self._strips: list[Strip] = []
        self._wrapped_for = -1
        self._base: Any = None

    @staticmethod
    def _as_paras(text: Text | list[Para]) -> list[Para]:
        return paras(text) if isinstance(text, Text) else list(text)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._wrapped_for = -1  # re-wrap with the new base style

    @property
    def content(self) -> list[Para]:
        return self._content

    @property
    def plain(self) -> str:
        return plain(self._content)

    def update(self, text: Text | list[Para]) -> None:
        self._content = self._as_paras(text)
        self._wrap()
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._wrap()

    def _wrap(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or not self.is_attached:
            self._wrapped_for = -1
            return
        base = self._base = self.rich_style
        strips = render_strips(self.app.console, self._content, width, base, self.app.no_color)
        self._strips = strips
        self._wrapped_for = width
        size = Size(max([width, *(s.cell_length for s in strips)]), len(strips))
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
        if self._wrapped_for != self.scrollable_content_region.width:
            self._wrap()
        return visible_line(self, self._strips, y, self._base)
