"""The text views of virtio-mem devices: the lsmem-style ``blocks`` table with its sub-block
strips and summary lines, the system's memory totals under it, and HMP's
``info memory-devices`` entry.

Presentation only: the rows come from the driver (``VirtioMem.block_row``, ``sub_blocks``,
``summary``) as data (virtio_mem/report.py); this module lays them out.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from devmem_tui.engine.iomem.resource import SYSTEM_RAM
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.units import fmt_size
from devmem_tui.engine.virtio_mem.driver import VirtioMem
from devmem_tui.engine.virtio_mem.report import SubBlock

GLYPH_PLUGGED = "#"
GLYPH_UNPLUGGED = "."
GLYPH_PINNED = "!"
GLYPH_MISMATCH = "?"
_GLYPH_OF = {
    SubBlock.PLUGGED: GLYPH_PLUGGED,
    SubBlock.UNPLUGGED: GLYPH_UNPLUGGED,
    SubBlock.PINNED: GLYPH_PINNED,
    SubBlock.MISMATCH: GLYPH_MISMATCH,
}
_GLYPHS = "".join(_GLYPH_OF[s] for s in SubBlock)  # indexed by the value (a 1 TiB strip: 0.5M)


def sub_block_strip(vm: VirtioMem, mb: int) -> str:
    """One glyph per sub-block of memory block mb: '#' plugged, '.' unplugged (PG_offline),
    '!' plugged with pinned pages, '?' where the device disagrees with the driver (raw
    requests). BBM: one glyph for the whole block."""
    glyphs = _GLYPHS
    return "".join([glyphs[s] for s in vm.blockmode.sub_blocks(mb)])


def _block_rows(vm: VirtioMem, all: bool) -> tuple[list[list[Any]], list[str]]:
    """The ``blocks`` rows [first_mb, last_mb, (state, zones, driver, plugged)]: neighbouring
    blocks that match in every column merged (``all``: one row per block), and the sub-block
    strips of partially plugged blocks (every block with ``all``)."""
    dev = vm.device
    first = -(-dev.addr // vm.mbs)
    last = dev.end // vm.mbs - 1
    rows: list[list[Any]] = []
    strips: list[str] = []
    show_strips = vm.probed and not vm.kdump
    # Blocks of a segment have the same row (VirtioMem.block_segments): one row per segment,
    # or per block with --all; strips are per block (each block's sub-blocks differ).
    for a, b in vm.block_segments(first, last + 1):
        row = vm.block_row(a)
        key = row.key
        if all:
            rows.extend([mb, mb, key] for mb in range(a, b))
        elif rows and rows[-1][2] == key and rows[-1][1] == a - 1:
            rows[-1][1] = b - 1
        else:
            rows.append([a, b - 1, key])
        if show_strips and (all and row.strip or row.partial):
            strips.extend(f"memory{mb:<5} {sub_block_strip(vm, mb)}" for mb in range(a, b))
    return rows, strips


def _plugged_bytes(plugged: str, mbs: int) -> int | None:
    """The PLUGGED column ('n/m' sub-blocks, 'all', '-') as bytes per memory block."""
    if plugged == "-":
        return None
    if plugged == "all":
        return mbs
    n, _, m = plugged.partition("/")
    return int(n) * (mbs // int(m))


def blocks_data(vm: VirtioMem, all: bool = False) -> list[dict[str, Any]]:
    """The rows of ``blocks_table`` as typed objects (``run --json``)."""
    mbs = vm.mbs
    return [
        {
            "device": vm.name,
            "start": a * mbs,
            "end": (b + 1) * mbs - 1,
            "size": (b - a + 1) * mbs,
            "state": state,
            "first_block": a,
            "last_block": b,
            "zones": zones,
            "driver_state": drv,
            "plugged": plugged,
            "plugged_bytes": _plugged_bytes(plugged, mbs),
        }
        for a, b, (state, zones, drv, plugged) in _block_rows(vm, all)[0]
    ]


def blocks_table(vm: VirtioMem, all: bool = False) -> str:
    """lsmem-style table of the device's memory blocks: RANGE SIZE STATE BLOCK ZONES plus the
    driver's block state and plugged sub-blocks; neighbouring blocks that match in every column
    are merged (``all``: one row per block). Partially plugged blocks (every block with
    ``all``) get a sub-block strip. Ends with a summary."""
    mbs = vm.mbs
    rows, strips = _block_rows(vm, all)
    header = ("RANGE", "SIZE", "STATE", "BLOCK", "ZONES", "VIRTIO-MEM", "PLUGGED")
    table = [header]
    for a, b, (state, zones, drv, plugged) in rows:
        rng = f"0x{a * mbs:016x}-0x{(b + 1) * mbs - 1:016x}"
        blk = str(a) if a == b else f"{a}-{b}"
        table.append((rng, fmt_size((b - a + 1) * mbs), state, blk, zones, drv, plugged))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for r in table:
        cells = [c.rjust(widths[i]) if i == 1 else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    if strips:
        lines.append("")
        lines.append(
            f"sub-blocks ({GLYPH_PLUGGED} plugged, {GLYPH_UNPLUGGED} unplugged/"
            f"PG_offline, {GLYPH_PINNED} plugged+pinned, {GLYPH_MISMATCH} device "
            "disagrees with the driver):"
        )
        lines.extend(strips)
    lines.append("")
    lines.append(device_line(vm))
    return "\n".join(lines)


def device_line(vm: VirtioMem) -> str:
    """One device's share: its memory blocks online and offline, the device's sizes, the
    driver's MemTotal share (plugged online memory) and state."""
    dev = vm.device
    s = vm.summary()
    return (
        f"{dev.name} ({vm.res_name}, {s.mode}): {fmt_size(s.online)} online, "
        f"{fmt_size(s.offline)} offline; plugged {fmt_size(dev.plugged_size)} of "
        f"requested {fmt_size(dev.requested_size)}, usable {fmt_size(dev.usable_region_size)}, "
        f"device block {fmt_size(dev.block_size)}; MemTotal share {fmt_size(s.mem_total)}; "
        f"driver {vm.driver_state()}"
    )


class Totals(NamedTuple):
    """The system's memory blocks by state, as lsmem sums them (whole blocks), and the
    virtio-mem devices' share of them."""

    block_size: int
    online: int
    offline: int
    vmem_online: int
    vmem_offline: int


def system_totals(m: Machine) -> Totals:
    """Every memory block of the system: the blocks that hold RAM the virtio-mem devices did
    not add (boot RAM, dax kmem; always online here) and the devices' blocks. lsmem counts
    memoryN devices (drivers/base/memory.c creates one per memory block with present
    sections), so a block that is only partly RAM counts whole."""
    mbs = m.memory_block_size
    devices = list(m.vmem.values())
    other: set[int] = set()
    for _, r in m.tree.walk():
        if (r.flags & SYSTEM_RAM) != SYSTEM_RAM or not r.busy:
            continue
        parent = r.parent
        if parent is not None and (parent.flags & SYSTEM_RAM) == SYSTEM_RAM:
            continue  # nested System RAM: the outer resource counts
        if any(vm.covers(r.start) for vm in devices):
            continue  # a device's memory: its driver's table says online or offline
        other.update(range(r.start // mbs, r.end // mbs + 1))
    sums = [vm.summary() for vm in devices]
    v_on = sum(s.online for s in sums)
    v_off = sum(s.offline for s in sums)
    return Totals(mbs, len(other) * mbs + v_on, v_off, v_on, v_off)


def totals_lines(t: Totals) -> list[str]:
    """lsmem's summary, for the whole system, and the virtio-mem share apart."""
    return [
        f"Memory block size:     {fmt_size(t.block_size)}",
        f"Total online memory:   {fmt_size(t.online)}",
        f"Total offline memory:  {fmt_size(t.offline)}",
        f"virtio-mem share:      {fmt_size(t.vmem_online)} online, "
        f"{fmt_size(t.vmem_offline)} offline (the rest is boot or other RAM)",
    ]


def info_text(vm: VirtioMem) -> str:
    """HMP ``info memory-devices`` for one device, plus the guest driver's view."""
    d = vm.device.info()
    lines = [f'Memory device [virtio-mem]: "{vm.name}"']
    for key in ("memaddr", "node", "requested-size", "size", "max-size", "block-size", "memdev"):
        v = d[key]
        lines.append(f"  {key}: {v:#x}" if key == "memaddr" else f"  {key}: {v}")
    lines.append(
        f"  usable-region-size: {vm.device.usable_region_size} "
        f"({fmt_size(vm.device.usable_region_size)})"
    )
    mode = vm.mode if vm.probed and not vm.kdump else "-"
    lines.append(f"  guest: {vm.res_name}, mode {mode}, driver {vm.driver_state()}")
    return "\n".join(lines)
