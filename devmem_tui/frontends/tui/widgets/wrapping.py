"""Wrapping for the TUI's text panes: prose wraps under a hanging indent, tables never wrap.

A pane's content is a list of ``Para``: one logical line each, with how its continuation
lines hang (``hang`` cells in; ``None``: under the line's own indent plus two) or ``NOWRAP``
(a table row, which the pane scrolls sideways instead). The details pane, the log and the
scenario panel all wrap with ``wrap_para``, so a verdict never breaks back to column 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from rich._wrap import divide_line  # rich's own word splitter, as Text.wrap uses it
from rich.cells import cell_len
from rich.text import Text

NOWRAP = -1


class Para(NamedTuple):
    text: Text
    hang: int | None = None  # continuation indent; None: the line's indent + 2; NOWRAP


def leading(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def paras(text: Text, hang: int | None = None) -> list[Para]:
    """A multi-line Text as one Para per line, each hanging as ``hang`` says."""
    return [Para(line, hang) for line in text.split("\n", allow_blank=True)]


def plain(content: Iterable[Para]) -> str:
    return "\n".join(p.text.plain for p in content)


def wrap_para(para: Para, width: int) -> list[Text]:
    """One Para as the lines a pane of ``width`` cells shows: unchanged when it fits or is
    NOWRAP; else broken at word boundaries (a word longer than a line is folded), with
    every continuation line indented by the hang."""
    text = para.text
    source = text.plain
    if para.hang == NOWRAP or width <= 0 or cell_len(source) <= width:
        return [text]
    hang = leading(source) + 2 if para.hang is None else para.hang
    hang = max(0, min(hang, width - 12))  # a narrow pane still gets 12 cells of text a line
    first = divide_line(source, width, fold=True)
    cut = first[0] if first else len(source)
    offsets = [cut] + [cut + off for off in divide_line(source[cut:], width - hang, fold=True)]
    out: list[Text] = []
    for i, part in enumerate(text.divide(offsets)):
        part.rstrip()
        if i:
            if not part.plain:
                continue
            part = Text(" " * hang).append_text(part)
        out.append(part)
    return out


def content_width(content: Iterable[Para]) -> int:
    """The widest NOWRAP line: how far a pane must scroll sideways."""
    return max((p.text.cell_len for p in content if p.hang == NOWRAP), default=0)
