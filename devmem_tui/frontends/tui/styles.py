"""Styles under NO_COLOR: emphasis that stays readable when colour is gone.

With ``NO_COLOR`` set, Textual draws every colour as a grey of the same luminance (its
Monochrome filter), so a magenta busy-MMIO name becomes grey 237 on grey 234: there, but
unreadable. The panes therefore drop colour themselves and say the same thing with text
attributes: what was green (System RAM, a good outcome) is bold, red (exclusive, a refused
access) bold and underlined, magenta (busy MMIO) bold, cyan (driver-managed RAM, what a command
changed) italic, and dim text is italic instead of dim. Glyphs carry every kind and state as
well, so nothing depends on colour alone.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Span, Text

# colour name -> the attributes that stand in for it
EMPHASIS: dict[str, Style] = {
    "green": Style(bold=True),
    "bright_green": Style(bold=True),
    "red": Style(bold=True, underline=True),
    "bright_red": Style(bold=True, underline=True),
    "magenta": Style(bold=True),
    "cyan": Style(italic=True),
    "yellow": Style(),
    "blue": Style(),
}


def without_color(style: Style) -> Style:
    """The style with its colours replaced by emphasis (see the module docstring)."""
    if style.color is None and style.bgcolor is None and not style.dim:
        return style
    extra = EMPHASIS.get(style.color.name, Style()) if style.color is not None else Style()
    return Style(
        bold=bool(style.bold or extra.bold),
        italic=bool(style.italic or extra.italic or style.dim),
        underline=bool(style.underline or extra.underline),
        reverse=bool(style.reverse),
        strike=bool(style.strike),
    )


def _parse(style: str | Style) -> Style:
    return style if isinstance(style, Style) else Style.parse(style) if style else Style()


def text_without_color(text: Text) -> Text:
    """A copy of a Text whose every style has its colours replaced by emphasis."""
    out = Text(text.plain, style=without_color(_parse(text.style)), end=text.end)
    out.spans = [Span(s.start, s.end, without_color(_parse(s.style))) for s in text.spans]
    return out


def plain_style(style: str, no_color: bool) -> Style:
    """A style string as a Style, without colour when ``no_color``."""
    parsed = _parse(style)
    return without_color(parsed) if no_color else parsed
