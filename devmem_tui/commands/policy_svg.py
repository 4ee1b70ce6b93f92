"""``export policy-map FILE.svg``: a sweep as a standalone SVG picture for a slide.

The physical address space runs top to bottom as a strip of boxes, one per sweep row, coloured
by outcome and labelled with the range, its size, the outcome and the deciding check; a legend
and the config (in the title) go with it. A diff puts the two configurations side by side,
before on the left, after on the right, cut where either changes, and marks the pieces whose
outcome changed.

The scale is per range, not per byte (a 4 KiB page next to 60 TiB of nothing must be seen):
``sweeps.box_lines``, as in the TUI's policy map.

Written with the standard library's ElementTree, which escapes the names that come from a
user's /proc/iomem; an SVG library would add a dependency for a few rectangles and lines of
text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from devmem_tui.commands.sweeps import SweepJob, box_lines
from devmem_tui.engine.devmem.sweep import overlay
from devmem_tui.engine.iomem.text import escape_controls
from devmem_tui.engine.iomem.tree import ResourceTree
from devmem_tui.engine.units import fmt_size_approx

SVG_NS = "http://www.w3.org/2000/svg"
FONT = 12  # px, monospace: a character is ~0.6 em wide
CHAR_W = FONT * 0.6
LINE = 18  # px per text line
MARGIN = 16
STRIP_W = 56
HEAD_SCALE = (FONT + 3) / FONT  # the title and changed ranges are set larger

# Outcome -> fill colour (colour-blind-safe Okabe-Ito hues where possible; the word is always
# written next to the box too).
COLOURS: dict[str, str] = {
    "OK": "#009e73",
    "ZEROS": "#f0e442",
    "DROPPED": "#e6c229",
    "SHORT": "#e69f00",
    "EPERM": "#d55e00",
    "EFAULT": "#8c2d04",
    "EINVAL": "#cc79a7",
    "EAGAIN": "#56b4e9",
    "ENXIO": "#999999",
    "ENOSYS": "#bbbbbb",
}
OTHER = "#666666"


def range_label(start: int, end: int) -> str:
    """How the picture names a range (tests look for exactly this)."""
    return f"{start:#x}-{end:#x}"


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    e = ET.SubElement(
        parent, tag, {k.rstrip("_").replace("_", "-"): str(v) for k, v in attrs.items()}
    )
    if text is not None:
        # names from a user's /proc/iomem: controls are not even allowed in XML 1.0 text
        e.text = escape_controls(text)
    return e


def _box(parent: ET.Element, x: float, y: float, h: float, outcome: str, changed: bool) -> None:
    _el(
        parent,
        "rect",
        x=x,
        y=y + 1,
        width=STRIP_W,
        height=h - 2,
        fill=COLOURS.get(outcome, OTHER),
        stroke="#000000" if changed else "#ffffff",
        stroke_width=3 if changed else 1,
    )
    _el(parent, "text", outcome, x=x + STRIP_W / 2, y=y + h / 2 + FONT / 3, class_="word")


def _legend(parent: ET.Element, y: float, outcomes: list[str]) -> float:
    x: float = MARGIN
    for word in outcomes:
        _el(parent, "rect", x=x, y=y, width=14, height=14, fill=COLOURS.get(word, OTHER))
        _el(parent, "text", word, x=x + 20, y=y + 12)
        x += 20 + CHAR_W * (len(word) + 3)
    return y + LINE + 6


def _finish(root: ET.Element, width: float, height: float) -> str:
    root.set("width", str(int(width)))
    root.set("height", str(int(height)))
    root.set("viewBox", f"0 0 {int(width)} {int(height)}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _start(title: str) -> tuple[ET.Element, ET.Element]:
    root = ET.Element("svg", {"xmlns": SVG_NS, "version": "1.1"})
    _el(root, "title", title)
    _el(
        root,
        "style",
        f"text {{ font-family: monospace; font-size: {FONT}px; fill: #111111 }} "
        f".word {{ text-anchor: middle; font-size: {FONT - 2}px; font-weight: bold }} "
        f".head {{ font-size: {FONT * HEAD_SCALE:g}px; font-weight: bold }} "
        ".dim { fill: #555555 }",
    )
    _el(root, "rect", x=0, y=0, width="100%", height="100%", fill="#ffffff")
    body = _el(root, "g")
    _el(body, "text", title, x=MARGIN, y=MARGIN + FONT, class_="head")
    return root, body


def _title(job: SweepJob) -> str:
    what = "/proc/kcore" if job.op == "kcore" else f"/dev/mem {job.op}"
    title = f"{what} policy map: {job.base.name}, {job.base.config.short()}"
    return f"{title} vs {job.other_label}" if job.other is not None else title


MAX_NAMES = 3


def top_names(tree: ResourceTree, lo: int, hi: int) -> str:
    """The names of the top-level resources over [lo, hi] (the first three, then how many
    more), or "no resource": a label for every range, found by bisection, not a scan."""
    kids = tree.root.children
    i = max(tree.root.child_index_at(lo), 0)
    names: list[str] = []
    more = 0
    while i < len(kids) and kids[i].start <= hi:
        if kids[i].end >= lo:
            if len(names) < MAX_NAMES:
                names.append(kids[i].name)
            else:
                more += 1
                if more > 99:  # "+100 more" is as good as the exact count
                    break
        i += 1
    if not names:
        return "no resource"
    text = ", ".join(escape_controls(n) for n in dict.fromkeys(names))
    return f"{text}, +{more}{'+' if more > 99 else ''} more" if more else text


def sweep_svg(job: SweepJob) -> str:
    """The picture of ``job``: one strip for a sweep, two side by side for a diff."""
    return _diff_svg(job) if job.other is not None else _sweep_svg(job)


def _sweep_svg(job: SweepJob) -> str:
    title = _title(job)
    root, body = _start(title)
    rows = job.rows
    y = _legend(body, MARGIN + LINE + 8, list(dict.fromkeys(r.outcome.value for r in rows)))
    x_text = MARGIN + STRIP_W + 10
    widest = int(len(title) * HEAD_SCALE)
    for r in rows:
        h = box_lines(r.size) * LINE
        _box(body, MARGIN, y, h, r.outcome.value, False)
        label = f"{range_label(r.start, r.end)}  {fmt_size_approx(r.size)}  {r.outcome.value}"
        label += f"  [{top_names(job.base.tree, r.start, r.end)}]"  # what is there
        # the deciding check on a line of its own where the box is tall enough
        texts = [label, r.decided_by] if h > LINE else [f"{label}  {r.decided_by}"]
        _texts(body, x_text, y, texts, bold_first=False)
        widest = max(widest, *(len(t) for t in texts))
        y += h
    return _finish(root, x_text + CHAR_W * widest + MARGIN, y + MARGIN)


def _texts(parent: ET.Element, x: float, y: float, texts: list[str], bold_first: bool) -> None:
    """Lines of text beside a box: the first plain (bold for a change), the rest dimmer."""
    for k, text in enumerate(texts):
        attrs: dict[str, object] = {"x": x, "y": y + FONT + 2 + k * LINE}
        if k:
            attrs["class_"] = "dim"
        elif bold_first:
            attrs["class_"] = "head"
        _el(parent, "text", text, **attrs)


def _diff_svg(job: SweepJob) -> str:
    """Before and after side by side, cut at the edges of both sweeps; changed pieces get a
    thick outline and their two deciding checks."""
    assert job.other is not None
    title = _title(job)
    root, body = _start(title)
    old, new = job.rows, job.other_rows
    y: float = MARGIN + LINE + 4
    _el(
        body,
        "text",
        f"left: this session ({job.base.config.short()}); right: {job.other_label} "
        f"({job.other.config.short()})",
        x=MARGIN,
        y=y + FONT,
        class_="dim",
    )
    y += LINE + 4
    y = _legend(body, y, list(dict.fromkeys([r.outcome.value for r in old + new])))
    x_old, x_new = MARGIN, MARGIN + STRIP_W + 6
    x_text = x_new + STRIP_W + 10
    for x, word in ((x_old, "before"), (x_new, "after")):
        _el(body, "text", word, x=x + STRIP_W / 2, y=y + FONT, class_="word")
    y += LINE
    widest = int(len(title) * HEAD_SCALE)
    for lo, hi, a, b in overlay(old, new):
        changed = a.outcome != b.outcome
        lines = max(box_lines(hi - lo + 1), 3 if changed else 1)
        h = lines * LINE
        _box(body, x_old, y, h, a.outcome.value, changed)
        _box(body, x_new, y, h, b.outcome.value, changed)
        change = f"{a.outcome.value} -> {b.outcome.value}" if changed else a.outcome.value
        label = f"{range_label(lo, hi)}  {fmt_size_approx(hi - lo + 1)}  {change}"
        label += f"  [{top_names(job.base.tree, lo, hi)}]"
        texts = [label]
        if changed:
            texts += [f"before: {a.decided_by}", f"after:  {b.decided_by}"]
        _texts(body, x_text, y, texts, bold_first=changed)
        widest = max(widest, int(len(texts[0]) * HEAD_SCALE), *(len(t) for t in texts))
        y += h
    return _finish(root, x_text + CHAR_W * widest + MARGIN, y + MARGIN)
