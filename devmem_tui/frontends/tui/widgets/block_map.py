"""The virtio-mem block map: one cell per device block, a line-API ScrollView.

Only the rows on screen are rendered, each from ``BlockRuns.runs_in`` queries on that row's
blocks (model.row_cells), so a 1 TiB device of 2 MiB blocks (524,288 cells) scrolls as fast
as a 16 GiB one. The widget reads the device through a getter and never changes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from devmem_tui.engine.units import fmt_size
from devmem_tui.frontends.output import display
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.styles import plain_style
from devmem_tui.frontends.tui.widgets.text_pane import TextPane

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine

SUFFIX_WIDTH = 15  # " m40 online"
# The compact memory-block label, for panes that fit a memory block's cells but not the full
# label (a 160-column terminal): " m40 on". Three letters at most; the help screen lists them.
COMPACT_WORDS = {
    "online": "on",
    "offline": "off",
    "added": "add",
    "not added": "plg",
    "hwpoison": "hwp",
}


class BlockMap(ScrollView, can_focus=True):
    """Cells for the blocks of one virtio-mem device; ``cursor`` is a block index."""

    BINDINGS = [
        Binding("up", "move(0,-1)", "Up", show=False, id="blocks.up"),
        Binding("down", "move(0,1)", "Down", show=False, id="blocks.down"),
        Binding("left", "move(-1,0)", "Left", show=False, id="blocks.left"),
        Binding("right", "move(1,0)", "Right", show=False, id="blocks.right"),
        Binding("j", "move(0,1)", "Down", show=False, id="blocks.vim_down"),
        Binding("K", "move(0,-1)", "Up", show=False, id="blocks.vim_up"),
        Binding("h", "move(-1,0)", "Left", show=False, id="blocks.vim_left"),
        Binding("l", "move(1,0)", "Right", show=False, id="blocks.vim_right"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="blocks.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="blocks.page_down"),
        Binding("home", "jump(0)", "First block", show=False, id="blocks.home"),
        Binding("end", "jump(-1)", "Last block", show=False, id="blocks.end"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class CursorMoved(Message):
        """The block cursor moved: device name, block index and its address."""

        def __init__(self, device: str, index: int, addr: int) -> None:
            super().__init__()
            self.device = device
            self.index = index
            self.addr = addr

    def __init__(self, machine: Callable[[], Machine], **kw: Any) -> None:
        super().__init__(**kw)
        self._machine = machine
        self.device_name: str | None = None
        self.changed: list[tuple[int, int]] = []
        self.geo: model.Geometry | None = None
        self._label_width = 11
        self._suffix_width = SUFFIX_WIDTH
        self._compact = False
        self._cache: dict[int, Strip] = {}

    # ------------------------------------------------------------------ data
    @property
    def machine(self) -> Machine:
        return self._machine()

    def dev(self) -> Any | None:
        vm = self.machine.vmem
        if self.device_name not in vm:
            self.device_name = next(iter(vm), None)
        return vm.get(self.device_name) if self.device_name else None

    def set_device(self, name: str | None) -> None:
        self.device_name = name
        self.cursor = 0
        self.reload()

    def reload(self, changed: list[tuple[int, int]] | None = None) -> None:
        """Re-read the device (after a command); keep the cursor where it was."""
        if changed is not None:
            self.changed = changed
        self._cache.clear()
        self._layout()
        self.refresh()

    def _layout(self) -> None:
        dev = self.dev()
        if dev is None:
            self.geo = None
            self.virtual_size = Size(0, 0)
            return
        d = dev.device
        self._label_width = len(f"{d.addr + d.region_size:x}") + 2
        width = self.scrollable_content_region.width or self.size.width or 80
        cells = max(8, width - self._label_width - 1)
        # The memory-block label only when a whole memory block (up to 64 cells) still fits
        # beside it: in full (" m40 online") if it can, else compact (" m40 on").
        bpm = self.machine.memory_block_size // d.block_size
        last_mb = (d.addr + d.region_size - 1) // self.machine.memory_block_size
        compact = len(f" m{last_mb} off")
        need = min(bpm, 64)
        self._compact = cells - SUFFIX_WIDTH < need <= cells - compact
        self._suffix_width = (
            SUFFIX_WIDTH if cells - SUFFIX_WIDTH >= need else compact if self._compact else 0
        )
        cells -= self._suffix_width
        nblocks = d.region_size // d.block_size
        self.geo = model.make_geometry(nblocks, d.block_size, self.machine.memory_block_size, cells)
        self.virtual_size = Size(
            self._label_width + self.geo.row_width() + self._suffix_width, self.geo.rows
        )
        if self.cursor >= nblocks:
            self.cursor = max(0, nblocks - 1)

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self._layout()
        self.scroll_to_cursor()

    # ------------------------------------------------------------------ rendering
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = y + scroll_y
        width = self.scrollable_content_region.width
        strip = self._cache.get(row)
        if strip is None:
            strip = self._render_row(row)
            self._cache[row] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _render_row(self, row: int) -> Strip:
        dev = self.dev()
        geo = self.geo
        base = self.rich_style
        if dev is None or geo is None or row >= geo.rows:
            return Strip([Segment("", base)], 0)
        d = dev.device
        first = row * geo.per_row
        addr = d.addr + first * d.block_size
        dim = base + self._style("dim")
        segs = [
            Segment(f"{addr:>{self._label_width - 2}x}", dim),
            Segment(self._marker(geo, addr, d.block_size), dim),
        ]
        states = model.row_cells(self.machine, dev, geo, row)
        for col, st in enumerate(states):
            if col and col % geo.per_group == 0:
                segs.append(Segment("│", dim))
            glyph, color, _ = model.CELLS[st]
            style = base + self._style(color)
            idx = first + col
            if self.changed and model.runs_contain(self.changed, idx):
                style += Style(bold=True, underline=True)
            if idx == self.cursor:
                style += Style(reverse=True, bold=True)
            segs.append(Segment(glyph, style))
        segs.append(Segment(" " * (geo.row_width() - geo.cell_x(len(states) - 1) - 1), base))
        segs.append(Segment(self._suffix(dev, geo, row, addr), dim))
        return Strip(segs)

    def _style(self, style: str) -> Style:
        return plain_style(style, self.app.no_color)

    def _marker(self, geo: model.Geometry, addr: int, bs: int) -> str:
        """Memory-block boundary marker when one memory block spans several rows:
        ┌ first row, │ middle, └ last."""
        mb = self.machine.memory_block_size
        if bs >= mb or geo.per_row >= geo.blocks_per_mb:
            return " "
        if addr % mb == 0:
            return "┌"
        if (addr + geo.per_row * bs) % mb == 0:
            return "└"
        return "│"

    def _suffix(self, dev: Any, geo: model.Geometry, row: int, addr: int) -> str:
        mb = self.machine.memory_block_size
        bs = dev.device.block_size
        if bs >= mb or not self._suffix_width:
            return ""
        width = self._suffix_width
        if addr % mb:  # a later row of the same memory block
            return " " * width
        first_mb = addr // mb
        n_mb = max(1, geo.per_row // geo.blocks_per_mb)
        if n_mb > 1:
            return f" m{first_mb}-{first_mb + n_mb - 1}".ljust(width)[:width]
        word = model.mb_state_word(self.machine, dev, addr, mb)
        if self._compact:
            word = COMPACT_WORDS.get(word, word[:3])
        return f" m{first_mb} {word}".ljust(width)[:width]

    # ------------------------------------------------------------------ cursor
    def cursor_addr(self) -> int | None:
        dev = self.dev()
        if dev is None:
            return None
        return int(dev.device.addr + self.cursor * dev.device.block_size)

    def watch_cursor(self, old: int, new: int) -> None:
        geo = self.geo
        if geo is not None:
            self._cache.pop(old // geo.per_row, None)
            self._cache.pop(new // geo.per_row, None)
        self.refresh()
        self.scroll_to_cursor()
        addr = self.cursor_addr()
        if self.device_name is not None and addr is not None:
            self.post_message(self.CursorMoved(self.device_name, new, addr))

    def scroll_to_cursor(self) -> None:
        geo = self.geo
        if geo is None:
            return
        row, col = divmod(self.cursor, geo.per_row)
        x = self._label_width + geo.cell_x(col)
        self.scroll_to_region(Region(x, row, 1, 1), animate=False, immediate=True)

    def move_to(self, index: int) -> None:
        geo = self.geo
        if geo is None or geo.nblocks == 0:
            return
        self.cursor = max(0, min(geo.nblocks - 1, index))

    def goto_addr(self, addr: int) -> bool:
        """Move the cursor to the block holding addr, switching device if needed."""
        hit = model.device_at(self.machine, addr)
        if hit is None:
            return False
        name, dev = hit
        if name != self.device_name:
            self.device_name = name
            self.reload()
        self.move_to((addr - dev.device.addr) // dev.device.block_size)
        return True

    def action_move(self, dx: int, dy: int) -> None:
        geo = self.geo
        if geo is None:
            return
        self.move_to(self.cursor + dx + dy * geo.per_row)

    def action_page(self, direction: int) -> None:
        geo = self.geo
        if geo is None:
            return
        rows = max(1, self.scrollable_content_region.height - 1)
        self.move_to(self.cursor + direction * rows * geo.per_row)

    def action_jump(self, where: int) -> None:
        geo = self.geo
        if geo is None:
            return
        self.move_to(0 if where == 0 else geo.nblocks - 1)

    def on_click(self, event: events.Click) -> None:
        geo = self.geo
        if geo is None:
            return
        scroll_x, scroll_y = self.scroll_offset
        row = event.y + scroll_y
        col = geo.col_at(event.x + scroll_x - self._label_width)
        if col is None or col < 0 or row >= geo.rows:
            return
        self.move_to(row * geo.per_row + col)
        self.focus()


class BlockHead(TextPane):
    """The device summary above the map: ``header_text`` for the pane's own width, rebuilt
    when the pane is resized; its height follows the number of lines."""

    def __init__(self, machine: Callable[[], Machine], **kw: Any) -> None:
        super().__init__(**kw)
        self._machine = machine
        self.device_name: str | None = None

    def show(self, device_name: str | None) -> None:
        self.device_name = device_name
        width = self.size.width or 80
        text = header_text(self._machine(), device_name, width)
        lines = text.plain.count("\n") + 1
        if self.styles.height is None or self.styles.height.value != lines:
            self.styles.height = lines  # 2 lines when the summary fits one, else 3
        self.update(text)

    def on_resize(self, event: events.Resize) -> None:
        self.show(self.device_name)


def header_text(machine: Machine, name: str | None, width: int = 200) -> Text:
    """Device summary (QEMU info memory-devices fields) and the keys that act on it, in as
    few lines of at most ``width`` cells as it takes (two when the summary fits one, else
    three, each in a shorter form when the long one does not fit): the hint line is never
    wrapped out of the pane."""
    if name is None or name not in machine.vmem:
        return Text("no virtio-mem device (vmem add DEV ADDR SIZE adds one)", style="dim")
    vm = machine.vmem[name]
    d = vm.device
    shown = display(name)
    others = [display(n) for n in machine.vmem if n != name]
    mode = f"  {vm.mode}" if hasattr(vm, "mode") else ""
    size, bs = fmt_size(d.region_size), fmt_size(d.block_size)
    req, plg, use = (
        fmt_size(d.requested_size),
        fmt_size(d.plugged_size),
        fmt_size(d.usable_region_size),
    )

    def fit(*forms: str) -> str:
        return next((f for f in forms if len(f) <= width), forms[-1])

    ident = fit(
        f"{shown} {d.addr:#x} {size} block {bs}{mode}",
        f"{shown} {d.addr:#x} {size}/{bs}{mode}",
        f"{shown} {d.addr:#x} {size}/{bs}",
    )
    sizes = fit(f"requested {req}  plugged {plg}  usable {use}", f"req {req} plg {plg} use {use}")
    nxt = f" · n next device ({', '.join(others)})" if others else ""
    hint = fit(
        "+/- ask the host for 128M more/less · p/u raw plug/unplug at the cursor" + nxt,
        "+/- request ±128M · p/u plug/unplug" + nxt,
        "+/- ±128M · p/u plug/unplug" + (" · n next" if others else ""),
    )
    t = Text()
    t.append(ident[: len(shown)], style="bold")
    one = f"{ident}  {sizes}"
    t.append(one[len(shown) :] if len(one) <= width else f"{ident[len(shown) :]}\n{sizes}")
    t.append(f"\n{hint}", style="dim")
    return t


def legend_text() -> Text:
    """The cells' glyphs and what they mean."""
    t = Text()
    for i, (glyph, color, word) in enumerate(model.CELLS.values()):
        if word == "hwpoison":
            continue
        if i:
            t.append("  ")
        t.append(glyph, style=color)
        t.append(f" {word}")
    return t
