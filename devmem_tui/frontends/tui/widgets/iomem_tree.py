"""The iomem tree: lazy (children are built when a node is expanded), holes between
top-level resources as synthetic nodes, kind by glyph and color, and expansion plus cursor
kept across reloads (harlequin's ``_reload`` pattern)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from devmem_tui.engine.units import fmt_size
from devmem_tui.frontends.output import display
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.policy import Badges, badge_legend, state_key
from devmem_tui.frontends.tui.styles import text_without_color

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine

Node = TreeNode[model.Entry]
# Pane width (cells) below which labels drop the range end, for 8-digit addresses; each
# digit more costs two cells (start and end), so wider addresses go compact sooner.
COMPACT_BELOW = 48


def size_text(entry: model.Entry) -> str:
    """The exact size, in units even where ``fmt_size`` would write hex: the tree's sizes
    are a column, read down."""
    return fmt_size(entry.end - entry.start + 1, decimal=True)


def entry_label(
    entry: model.Entry,
    changed: bool = False,
    size_width: int = 0,
    compact: bool = False,
    badges: Badges | None = None,
    digits: int = 8,
) -> Text:
    """Glyph, range (each address in ``digits`` hex digits), size (exact, right-aligned in
    ``size_width``; before the name, so a narrow pane cuts the name, not the size), the
    read/mmap verdict badges while they show, name. The tree picks ``digits`` and
    ``size_width`` so that every row's columns line up. ``compact`` (a narrow pane) gives
    the start address only: the details pane has the whole range. Names come from a user's
    /proc/iomem, so this is a rich Text, never markup (Textual parses a str label as
    markup), and shown through ``display`` (no escape sequence or line break of a name
    reaches the terminal)."""
    glyph, style, _ = model.KINDS[entry.kind]
    hole = entry.kind == "hole"
    t = Text()
    t.append(glyph, style=style)
    t.append(" ")
    where = (
        f"{entry.start:0{digits}x}" if compact else model.fmt_range(entry.start, entry.end, digits)
    )
    t.append(where, style="dim" if hole else "")
    t.append(f" {size_text(entry):>{size_width}}  ", style="dim")
    if badges is not None:
        t.append_text(badges.text(entry.start, entry.end))
        t.append("  ")
    t.append(display(entry.name), style=style if not hole else "dim italic")
    if changed:
        t.append(" ✚", style="bold")
        t.stylize("bold underline")
    return t


def node_depth(node: Node) -> int:
    """0 for a top-level node (the root is hidden), 1 for its children, and so on."""
    depth = -1
    parent = node.parent
    while parent is not None:
        depth += 1
        parent = parent.parent
    return depth


class IomemTree(Tree[model.Entry]):
    """Tree of ``model.Entry``; ``highlight`` holds (start, name) of changed resources."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="tree.vim_down"),
        Binding("K", "cursor_up", "Up", show=False, id="tree.vim_up"),
        Binding("l", "expand_cursor", "Expand", show=False, id="tree.vim_expand"),
        Binding("h", "collapse_or_parent", "Collapse", show=False, id="tree.vim_collapse"),
        Binding("right", "expand_cursor", "Expand", show=False, id="tree.expand"),
        Binding("left", "collapse_or_parent", "Collapse", show=False, id="tree.collapse"),
    ]

    LEAF_ICON = "  "  # as wide as ICON_NODE ("▶ "), for leaves

    def __init__(self, machine: Callable[[], Machine], **kw: Any) -> None:
        super().__init__("iomem", **kw)
        self._machine = machine
        self.show_root = False
        self.guide_depth = 2
        self.highlight: set[model.ResId] = set()
        self.compact = False  # labels without the range end, for a narrow pane
        self.badges: Badges | None = None  # the read/mmap verdicts, while they show (`v`)
        self.digits = 8  # hex digits of every address shown (see "building" below)
        self.size_edge = 0

    def compact_at(self, width: int) -> bool:
        """Whether a pane this wide shows start addresses only (see COMPACT_BELOW)."""
        return width < COMPACT_BELOW + 2 * (self.digits - 8)

    def on_resize(self, event: events.Resize) -> None:
        compact = self.compact_at(event.size.width)
        if compact != self.compact:
            self.compact = compact
            self.reload()

    @property
    def machine(self) -> Machine:
        return self._machine()

    def get_label_width(self, node: Node) -> int:
        """Width of a node's label without rendering it. Tree._build() asks this for every
        visible node on each expand/collapse; the default renders every label (Text.assemble),
        ~70 ms per expand on a 100k map. Our labels are plain Text, so the width is the label's
        cell length plus the expand icon (Textual's docs invite this override)."""
        icon = self.LEAF_ICON
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        label = node.label
        width = label.cell_len if isinstance(label, Text) else cell_len(label)
        return width + cell_len(icon)

    def render_label(self, node: Node, base_style: Style, style: Style) -> Text:
        """Textual's label, with leaves indented as far as the expand icon, so rows line up
        whether or not they can expand; under NO_COLOR the label's colours become emphasis."""
        text = super().render_label(node, base_style, style)
        if not node.allow_expand:
            text = Text(self.LEAF_ICON, style=base_style).append_text(text)
        return text_without_color(text) if self.app.no_color else text

    # ------------------------------------------------------------------ building
    # Every row's columns line up, whatever its depth: one address width for the whole map
    # (``digits``), and the size column ends ``size_edge`` cells after a top-level label's
    # start, so a row ``depth`` levels down (indented by guide_depth cells each) pads its
    # size to ``size_edge - guide_depth * depth``. Children are built lazily, so the column
    # widens (and every built row is relabelled) when an expanded node needs more room.
    def _size_width(self, depth: int) -> int:
        return self.size_edge - self.guide_depth * depth

    def _label(self, entry: model.Entry, depth: int) -> Text:
        changed = (entry.start, entry.name) in self.highlight and entry.resource is not None
        return entry_label(
            entry, changed, self._size_width(depth), self.compact, self.badges, self.digits
        )

    def _add(self, parent: Node, entry: model.Entry, depth: int) -> Node:
        label = self._label(entry, depth)
        if entry.has_children:
            node = parent.add(label, data=entry, allow_expand=True)
        else:
            node = parent.add_leaf(label, data=entry)
        return node

    def _add_all(self, parent: Node, entries: list[model.Entry]) -> None:
        """Children of ``parent``, the size column widened for them first if need be."""
        depth = node_depth(parent) + 1
        need = max((self.guide_depth * depth + len(size_text(e)) for e in entries), default=0)
        if need > self.size_edge:
            self.size_edge = need
            self._relabel()
        for e in entries:
            self._add(parent, e, depth)

    # ------------------------------------------------------------------ verdict badges
    def toggle_badges(self) -> bool:
        """Show or hide each node's read/mmap verdicts (one sweep per op); True if shown."""
        self.badges = None if self.badges is not None else Badges(self.machine)
        self._relabel()
        return self.badges is not None

    def refresh_badges(self) -> None:
        """Sweep again after a change that can move a verdict (only while the badges show;
        a command that changed none of what read and mmap depend on costs nothing)."""
        if self.badges is not None and self.badges.key != state_key(self.machine):
            self.badges = Badges(self.machine)
            self._relabel()

    def _relabel(self) -> None:
        """New labels for every node built so far."""
        stack: list[tuple[Node, int]] = [(self.root, -1)]
        while stack:
            parent, depth = stack.pop()
            for n in parent.children:
                if n.data is not None:
                    n.set_label(self._label(n.data, depth + 1))
                    stack.append((n, depth + 1))
        pane = self.parent
        if isinstance(pane, Widget):  # the pane says what the badges mean
            pane.border_subtitle = badge_legend() if self.badges is not None else ""

    def ensure_children(self, node: Node) -> None:
        """Build a node's children the first time it is expanded (lazy)."""
        entry = node.data
        if entry is None or entry.resource is None or node.children:
            return
        self._add_all(node, model.child_entries(entry.resource, self.machine.config))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[model.Entry]) -> None:
        self.ensure_children(event.node)

    def expand_node(self, node: Node) -> None:
        self.ensure_children(node)
        node.expand()

    def reload(self, highlight: set[model.ResId] | None = None) -> None:
        """Rebuild from the machine, keeping expanded nodes and the cursor (by key; else
        the deepest node that contains the old cursor's address). Changed resources are
        highlighted and their ancestors expanded so the change is in view."""
        if highlight is not None:
            self.highlight = highlight
        expanded: set[model.ResKey] = set()
        stack = list(self.root.children)
        while stack:
            n = stack.pop()
            if n.is_expanded and n.data is not None:
                expanded.add(n.data.key)
                stack.extend(n.children)
        cur = self.cursor_node
        cur_key = cur.data.key if cur is not None and cur.data is not None else None
        cur_addr = cur.data.start if cur is not None and cur.data is not None else None
        self.clear()
        top = model.top_entries(self.machine)
        self.digits = model.addr_digits(top)
        if self.size.width:  # a map with wider addresses than before may need compact rows
            self.compact = self.compact_at(self.size.width)
        self.size_edge = 0
        self._add_all(self.root, top)
        for start, name in self.highlight:
            chain = self.machine.tree.chain_at(start)
            for i, res in enumerate(chain):
                if res.start == start and res.name == name:
                    expanded.update(model.res_key(r) for r in chain[:i])
                    break
        self._reexpand(self.root, expanded)
        first_changed = next(
            (
                n
                for n in self._walk_built()
                if n.data is not None and (n.data.start, n.data.name) in self.highlight
            ),
            None,
        )
        target = self.find_key(cur_key) if cur_key else None
        if target is None and cur_addr is not None:
            target = self.node_at(cur_addr, reveal=False)
        if target is None and self.root.children:
            target = self.root.children[0]
        if target is not None:
            _ = self.last_line  # lines are built lazily; node.line needs them
            self.move_cursor(target)
        if first_changed is not None:  # bring what changed into view; the cursor stays
            self.call_after_refresh(self.scroll_to_node, first_changed, animate=False)

    def _walk_built(self) -> list[Node]:
        """Nodes built so far, in display order."""
        out: list[Node] = []
        stack = list(reversed(self.root.children))
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed(n.children))
        return out

    def _reexpand(self, node: Node, expanded: set[model.ResKey]) -> None:
        for child in node.children:
            if child.data is not None and child.data.key in expanded:
                self.expand_node(child)
                self._reexpand(child, expanded)

    def find_key(self, key: model.ResKey) -> Node | None:
        node: Node = self.root
        for depth in range(1, len(key) + 1):
            nxt = next(
                (c for c in node.children if c.data is not None and c.data.key == key[:depth]), None
            )
            if nxt is None:
                return None
            node = nxt
        return node

    def reveal_key(self, key: model.ResKey) -> Node | None:
        """The node of one resource (by its key), its ancestors expanded and the cursor
        on it; None when the map has no such resource."""
        node: Node = self.root
        for depth in range(1, len(key) + 1):
            if node is not self.root:
                self.expand_node(node)
            nxt = next(
                (c for c in node.children if c.data is not None and c.data.key == key[:depth]),
                None,
            )
            if nxt is None:
                return None
            node = nxt
        _ = self.last_line  # lines are built lazily; node.line needs them
        self.move_cursor(node)
        return node

    def node_at(self, addr: int, reveal: bool = True) -> Node | None:
        """The deepest node containing addr; with ``reveal`` expand its ancestors (building
        children as needed) and move the cursor there."""
        node: Node = self.root
        found: Node | None = None
        while True:
            if node is not self.root and reveal:
                self.ensure_children(node)
            nxt = next(
                (
                    c
                    for c in node.children
                    if c.data is not None and c.data.start <= addr <= c.data.end
                ),
                None,
            )
            if nxt is None:
                break
            found = nxt
            if not nxt.allow_expand or (not reveal and not nxt.is_expanded):
                break
            if reveal:
                self.expand_node(nxt)
            node = nxt
        if reveal and found is not None:
            _ = self.last_line
            self.move_cursor(found)
        return found

    def find_name(self, text: str) -> list[model.Entry]:
        """Resources whose name contains text (case-insensitive), in iomem order."""
        needle = text.lower()
        return [
            model.entry_for(r, self.machine.config)
            for _, r in self.machine.tree.walk()
            if needle in r.name.lower()
        ]

    # ------------------------------------------------------------------ actions
    def action_expand_cursor(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            self.expand_node(node)
        elif node.children:
            self.move_cursor(node.children[0])

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)
