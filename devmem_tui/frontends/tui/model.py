"""What the TUI shows, computed from the engine without any widget code: resource kinds and
tree entries, the block map's cells and geometry, and what a command changed.

Everything here is a pure function of a ``Machine`` (or of its events), so it can be tested
without Textual and reused by the benchmark. Nothing here changes engine state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devmem_tui.commands.render import eff_flags
from devmem_tui.engine.iomem.tree import F, Resource, flags_words
from devmem_tui.engine.units import merge_ranges

if TYPE_CHECKING:
    from devmem_tui.engine.config import KernelConfig
    from devmem_tui.engine.machine import Event, Machine
    from devmem_tui.engine.virtio_mem.blockruns import BlockRuns

# --------------------------------------------------------------------------- resource kinds
# kind -> (glyph, rich style, legend word). The glyph carries the kind on its own, so the
# tree stays readable under NO_COLOR: colour is never the only sign.
KINDS: dict[str, tuple[str, str, str]] = {
    "sysram": ("●", "green", "System RAM"),
    "driver_ram": ("◐", "cyan", "driver-managed RAM"),
    "reserved": ("▒", "yellow", "reserved"),
    "exclusive": ("■", "bold red", "exclusive"),
    "busy": ("◆", "magenta", "busy MMIO"),
    "container": ("□", "blue", "not busy (bus/window)"),
    "hole": ("·", "dim", "hole (no resource)"),
}


def resource_kind(res: Resource, cfg: KernelConfig | None = None) -> str:
    """The kind a resource is drawn as. Driver-managed RAM first (it is also System RAM),
    then EXCLUSIVE (the virtio-mem parent on 5.16+ is SYSTEM_RAM|EXCLUSIVE and not busy),
    then System RAM, firmware-reserved ranges, busy MMIO, and plain containers."""
    flags = eff_flags(res, cfg)
    if flags & F.SYSRAM_DRIVER_MANAGED:
        return "driver_ram"
    if flags & F.EXCLUSIVE:
        return "exclusive"
    if flags & (F.MEM | F.SYSRAM) == F.MEM | F.SYSRAM:
        return "sysram"
    if res.desc in ("reserved", "soft_reserved") or res.name.lower().startswith("reserved"):
        return "reserved"
    if flags & F.BUSY:
        return "busy"
    return "container"


ResKey = tuple[tuple[str, int], ...]


def res_key(res: Resource) -> ResKey:
    """A key that survives tree rebuilds: (name, start) of every resource in the chain.
    A merge that grows a resource keeps its start, so expansion state follows it."""
    return tuple((r.name, r.start) for r in res.chain())


@dataclass
class Entry:
    """One line of the iomem tree: a resource, or a synthetic hole between top-level ones."""

    start: int
    end: int
    kind: str
    key: ResKey
    resource: Resource | None = None

    @property
    def name(self) -> str:
        return self.resource.name if self.resource is not None else "(hole)"

    @property
    def has_children(self) -> bool:
        return bool(self.resource is not None and self.resource.children)


def entry_for(res: Resource, cfg: KernelConfig | None = None) -> Entry:
    return Entry(res.start, res.end, resource_kind(res, cfg), res_key(res), res)


def top_entries(machine: Machine) -> list[Entry]:
    """Top-level resources with the holes between them (and up to the physical address
    limit), as /proc/iomem would leave them out."""
    out: list[Entry] = []
    cursor = 0
    limit = (1 << machine.config.phys_bits) - 1
    for res in machine.tree.root.children:
        if res.start > cursor:
            out.append(Entry(cursor, res.start - 1, "hole", (("(hole)", cursor),)))
        out.append(entry_for(res, machine.config))
        cursor = res.end + 1
    if cursor <= limit:
        out.append(Entry(cursor, limit, "hole", (("(hole)", cursor),)))
    return out


def child_entries(res: Resource, cfg: KernelConfig | None = None) -> list[Entry]:
    return [entry_for(c, cfg) for c in res.children]


def fmt_range(start: int, end: int, digits: int = 8) -> str:
    """A range as /proc/iomem writes it: start and end each in hex, at least 8 digits
    (kernel/resource.c r_show(): ``%0*llx`` with width 8 for iomem), for resources and
    holes alike; the tree asks for more digits so that its rows line up."""
    return f"{start:0{digits}x}-{end:0{digits}x}"


def addr_digits(entries: list[Entry]) -> int:
    """Hex digits for every address of a map whose top-level rows are ``entries``: at least
    8, as /proc/iomem, and as many as the highest end needs (children lie inside)."""
    return max([8] + [len(f"{e.end:x}") for e in entries])


# --------------------------------------------------------------------------- block map
# Cell state -> (glyph, style, legend). Plugged states are solid, unplugged ones light.
CELLS: dict[str, tuple[str, str, str]] = {
    "online": ("█", "green", "plugged, online"),
    "offline": ("▓", "yellow", "plugged, added, offline"),
    "not_added": ("▒", "magenta", "plugged, not added"),
    "page_offline": ("░", "blue", "unplugged in an added block"),
    "unplugged": ("·", "bright_black", "unplugged"),
    "outside": ("-", "grey30", "beyond usable region"),
    "lost": ("!", "bold red", "unplugged under added memory"),
    "hwpoison": ("x", "bold red", "hwpoison"),
}


@dataclass
class Geometry:
    """How a device's blocks are laid out in rows: ``per_row`` cells, split into groups of
    ``per_group`` (one Linux memory block, or 8 cells when a device block is bigger than a
    memory block) with a separator column between groups."""

    nblocks: int
    block_size: int
    mb_size: int
    per_row: int
    per_group: int

    @property
    def rows(self) -> int:
        return -(-self.nblocks // self.per_row) if self.nblocks else 0

    @property
    def blocks_per_mb(self) -> int:
        return max(1, self.mb_size // self.block_size)

    def row_width(self) -> int:
        groups = -(-self.per_row // self.per_group)
        return self.per_row + groups - 1

    def cell_x(self, col: int) -> int:
        """Column offset of cell ``col`` inside the cell area (separators included)."""
        return col + col // self.per_group

    def col_at(self, x: int) -> int | None:
        """Cell column under cell-area offset x, None on a separator."""
        group, inner = divmod(x, self.per_group + 1)
        if inner == self.per_group:
            return None
        col = group * self.per_group + inner
        return col if col < self.per_row else None


def make_geometry(nblocks: int, block_size: int, mb_size: int, width: int) -> Geometry:
    """Fit rows into ``width`` cell columns. A row is a whole number of memory blocks when
    it fits, else a power-of-two part of one, so memory-block boundaries line up."""
    width = max(width, 4)
    if block_size < mb_size:
        bpm = mb_size // block_size
        best = Geometry(nblocks, block_size, mb_size, 1, bpm)
        k = 1
        while True:  # whole memory blocks per row
            g = Geometry(nblocks, block_size, mb_size, k * bpm, bpm)
            if g.row_width() > width or k > 16:
                break
            best, k = g, k * 2
        if best.per_row < bpm:  # not even one memory block fits: use a power-of-two part
            part = bpm
            while part > 1 and part > width:
                part //= 2
            best = Geometry(nblocks, block_size, mb_size, part, part)
        return best
    per = 1
    while per * 2 + (per * 2) // 8 <= width and per < 256:
        per *= 2
    return Geometry(nblocks, block_size, mb_size, per, 8 if per >= 8 else per)


def runs_to_flags(runs: Iterable[tuple[int, int]], first: int, count: int) -> list[bool]:
    flags = [False] * count
    for a, b in runs:
        for i in range(a - first, b - first):
            flags[i] = True
    return flags


def row_cells(machine: Machine, dev: Any, geo: Geometry, row: int) -> list[str]:
    """Cell states of one row, from BlockRuns queries only (never a per-block list of the
    whole device). The Linux side comes from ``machine.memory_state`` per cell (a dict
    lookup and a bit test), because raw plug/unplug requests can leave the device and the
    driver disagreeing inside one memory block."""
    device = dev.device
    first = row * geo.per_row
    count = max(0, min(geo.per_row, geo.nblocks - first))
    if count == 0:
        return []
    plugged = runs_to_flags(device.blocks.runs_in(first, count), first, count)
    usable_blocks = device.usable_region_size // device.block_size
    states: list[str] = []
    bs = device.block_size
    for i in range(count):
        idx = first + i
        try:
            st = machine.memory_state(device.addr + idx * bs)
        except Exception:  # a view must not die on an engine corner case
            st = "not_added"
        if plugged[i]:
            states.append(st if st in ("online", "offline", "hwpoison") else "not_added")
        elif st == "page_offline":
            states.append("page_offline")
        elif st in ("online", "offline"):
            states.append("lost")  # the device unplugged memory Linux still uses
        elif idx >= usable_blocks:
            states.append("outside")
        else:
            states.append("unplugged")
    return states


def mb_state_word(machine: Machine, dev: Any, mb_addr: int, mb_size: int) -> str:
    """A short word for the Linux memory block starting at mb_addr (row suffix)."""
    device = dev.device
    bs = device.block_size
    first = (mb_addr - device.addr) // bs
    count = max(1, mb_size // bs)
    n = device.blocks.count_in(first, count)
    if n:
        run = device.blocks.runs_in(first, count)[0]
        st = machine.memory_state(device.addr + run[0] * bs)
    else:
        st = machine.memory_state(mb_addr)
    word = {
        "online": "online",
        "offline": "offline",
        "page_offline": "added",
        "not_added": "-",
        "hwpoison": "hwpoison",
    }.get(st, st)
    if word == "-" and n:
        word = "not added"
    return word


def diff_runs(before: BlockRuns, after: BlockRuns) -> list[tuple[int, int]]:
    """Block index runs [a, b) whose plugged state differs (symmetric difference),
    computed on runs only."""
    points: set[int] = set()
    for a, b in before.runs():
        points.update((a, b))
    for a, b in after.runs():
        points.update((a, b))
    edges = sorted(points)
    return merge_runs(
        [
            (a, b)
            for a, b in zip(edges, edges[1:], strict=False)
            if before.is_set(a) != after.is_set(a)
        ]
    )


def merge_runs(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open block runs [a, b) in any order, sorted, with overlapping or touching runs
    merged: ``units.merge_ranges`` on the inclusive ranges they are."""
    merged = merge_ranges([(a, b - 1) for a, b in runs if a < b])
    return [(a, b + 1) for a, b in merged]


def runs_contain(runs: list[tuple[int, int]], i: int) -> bool:
    return any(a <= i < b for a, b in runs)


# --------------------------------------------------------------------------- title
def config_words(cfg: KernelConfig) -> str:
    """The config for the title bar, spelled out where ``KernelConfig.short()`` abbreviates
    (``S`` STRICT_DEVMEM, ``SI`` with IO_STRICT_DEVMEM, ``N`` not strict, ``X`` no /dev/mem):
    '6.16.0 x86_64 · STRICT_DEVMEM · iomem=default' (and the lockdown level in effect)."""
    if not cfg.devmem:
        mode = "no /dev/mem (DEVMEM=n)"
    elif not cfg.eff_strict_devmem:
        mode = "STRICT_DEVMEM off"
    elif cfg.eff_io_strict_devmem:
        mode = "STRICT_DEVMEM + IO_STRICT_DEVMEM"
    else:
        mode = "STRICT_DEVMEM"
    text = f"{cfg.kernel} {cfg.arch} · {mode} · iomem={cfg.iomem}"
    if cfg.eff_lockdown != "none":
        text += f" · lockdown={cfg.eff_lockdown}"
    if cfg.proposal != "none":
        text += f" · proposal {cfg.proposal} (counterfactual)"
    return text


# --------------------------------------------------------------------------- details
def page_floor(addr: int) -> int:
    return addr & ~0xFFF


def flags_text(res: Resource, cfg: KernelConfig | None = None) -> str:
    words = flags_words(eff_flags(res, cfg))
    if res.desc != "none":
        words.append(f"desc={res.desc}")
    return " ".join(words) or "-"


def device_at(machine: Machine, addr: int) -> tuple[str, Any] | None:
    for name, dev in machine.vmem.items():
        d = dev.device
        if d.addr <= addr < d.addr + d.region_size:
            return name, dev
    return None


# --------------------------------------------------------------------------- changes
@dataclass
class Changes:
    """What one command changed, for highlighting and the scenario panel."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    mappings: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)
    blocks: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    machine_replaced: bool = False

    def merge(self, other: Changes) -> None:
        """Add a later command's changes (a scenario step runs several lines)."""
        self.added += other.added
        self.removed += other.removed
        self.changed += other.changed
        self.revoked += other.revoked
        self.mappings += other.mappings
        for c in other.config:
            key = c.split("=", 1)[0] + "="
            self.config = [x for x in self.config if not x.startswith(key)] + [c]
        for dev, runs in other.blocks.items():
            self.blocks[dev] = merge_runs(self.blocks.get(dev, []) + runs)
        self.machine_replaced |= other.machine_replaced

    @property
    def tree_changed(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.machine_replaced)

    def summary(self) -> list[str]:
        lines = []
        if self.machine_replaced:
            lines.append("new machine")
        lines += [f"+ {w}" for w in self.added]
        lines += [f"- {w}" for w in self.removed]
        lines += [f"~ {w}" for w in self.changed]
        for dev, runs in self.blocks.items():
            n = sum(b - a for a, b in runs)
            first = runs[0][0]
            lines.append(f"{dev}: {n} block{'s' if n != 1 else ''} changed (from block {first})")
        lines += [f"revoked {w}" for w in self.revoked]
        lines += self.mappings
        lines += [f"config {w}" for w in self.config]
        return lines


def changes_from(events: list[Event], blocks: dict[str, list[tuple[int, int]]]) -> Changes:
    ch = Changes(blocks={k: v for k, v in blocks.items() if v})
    for ev in events:
        if ev.kind == "resource-added":
            ch.added.append(ev.what)
        elif ev.kind == "resource-removed":
            ch.removed.append(ev.what)
        elif ev.kind == "resource-changed":
            ch.changed.append(ev.what)
        elif ev.kind == "mapping-revoked":
            lo, hi = ev.data.get("start"), ev.data.get("end")
            where = f" {lo:#x}-{hi:#x}" if isinstance(lo, int) and isinstance(hi, int) else ""
            ch.revoked.append(f"{ev.what}{where}")
        elif ev.kind in ("mapping-added", "mapping-removed"):
            ch.mappings.append(f"{ev.kind.split('-')[1]} {ev.what}")
        elif ev.kind == "config":
            value = ev.data.get("value", "")
            text = f"{ev.what}={value:#x}" if isinstance(value, int) else f"{ev.what}={value}"
            # one entry per key, the last value (a resize raises high_memory per block)
            ch.config = [c for c in ch.config if not c.startswith(f"{ev.what}=")] + [text]
        elif ev.kind == "machine":
            ch.machine_replaced = True
    # A resource that was removed and re-added under the same label (a merge) is a change.
    same = set(ch.added) & set(ch.removed)
    if same:
        ch.added = [w for w in ch.added if w not in same]
        ch.removed = [w for w in ch.removed if w not in same]
    return ch


ResId = tuple[int, str]


def changed_ids(ch: Changes) -> set[ResId]:
    """(start, name) of added or changed resources (event labels are 'start-end : name')."""
    out: set[ResId] = set()
    for label in ch.added + ch.changed:
        rng, sep, name = label.partition(" : ")
        try:
            out.add((int(rng.split("-", 1)[0], 16), name))
        except ValueError:
            continue
    return out
