"""A machine from a snapshot: the map exactly as /proc/iomem printed it, the kernel
configuration the snapshot tells (settings.py: each value with where it came from), the memory
block size, and the virtio-mem devices in the state the snapshot shows (vmem.py), plus what
had to be assumed and what the real kernel does that devmem-tui does not model.

``build`` never changes the config it is given (it works on a copy) and builds a new
Machine, so a snapshot that fails to load leaves a session exactly as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass

from devmem_tui.engine import presets
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.tree import SYSTEM_RAM, F
from devmem_tui.engine.machine import MEMORY_BLOCK_SIZE, Machine
from devmem_tui.engine.snapshot import format as fmt
from devmem_tui.engine.snapshot import settings, vmem
from devmem_tui.engine.snapshot.format import Snapshot
from devmem_tui.engine.snapshot.settings import Notes
from devmem_tui.engine.units import MiB, TiB, fmt_size

_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Built:
    """A machine built from a snapshot and what building it found."""

    machine: Machine
    notes: Notes
    snapshot: Snapshot

    def lines(self, verb: str = "opened") -> list[str]:
        """What ``open`` / ``load snapshot`` say: where the snapshot is from, the machine, its
        devices, where the config came from, then one ``assumed:`` line and ``warning:``
        lines."""
        snap, m, notes = self.snapshot, self.machine, self.notes
        host = snap.info.get("host")
        date = snap.info.get("date")
        tool = snap.info.get("tool")
        origin = f"a snapshot of {host.text}" if host is not None else "a snapshot"
        if date is not None:
            origin += f" taken {date.text}"
        if tool is not None:
            origin += f" ({tool.text})"
        n = len(m.vmem)
        out = [
            f"{verb} {snap.source}: {origin}",
            f"machine {m.name}: kernel {m.config.short()}, {len(m.tree)} resources, "
            f"{n} virtio-mem device{'' if n == 1 else 's'}",
            *(f"  {f}" for f in notes.facts),
            f"config: {config_origin(snap)}; 'config' shows where each value comes from",
        ]
        if notes.assumed:
            out.append("assumed: " + "; ".join(notes.assumed))
        out.extend(f"warning: {w}" for w in notes.warnings)
        return out


def config_origin(snap: Snapshot) -> str:
    src = snap.config_source
    if src is None or src.text.strip() in ("", "none"):
        return "no kernel config in the snapshot"
    return f"kernel config {src.text.strip()}"


def build(snap: Snapshot, config: KernelConfig | None = None, keep: Collection[str] = ()) -> Built:
    """A new Machine from snap. ``config`` gives the keys the snapshot does not tell (a copy
    is changed, never config itself); keys in ``keep`` are not taken from the snapshot (the
    command line named them). SnapshotError or a /proc/iomem error, both ``FILE:LINE: ...``,
    when the snapshot cannot be built."""
    notes = Notes()
    cfg = config.copy() if config is not None else KernelConfig()
    settings.apply(snap, cfg, keep, notes)
    if fmt.zeroed(snap.iomem):
        raise snap.error(
            snap.iomem_line,
            "every address in [iomem] is 00000000-00000000: the snapshot was taken without "
            "root (the kernel shows zeros to readers without CAP_SYS_ADMIN); nothing was "
            "loaded (expected a snapshot taken as root: sudo devmem-tui snapshot)",
        )
    tree = iomem_text.parse(snap.iomem_for_parser(), source=snap.source, kernel_names=True)
    if "arch" not in snap.kernel and "arch" not in keep:
        arch, why = presets.guess_arch(tree)
        if arch is not None:
            cfg.set_from("arch", arch, f"snapshot {snap.source}: the map has {why!r}")
    machine = Machine(tree, cfg, machine_name(snap))
    if cfg.x86:
        # A snapshot does not read the MTRRs (/proc/mtrr shows only the variable ranges, not
        # the default type or the fixed ranges): the machine gets the layout inferred from
        # its map, which decides whether a WB mmap of MMIO is WB or UC- (pat_x_mtrr_type()).
        notes.assumed.append(f"MTRRs {machine.mtrr.describe()} (inferred from the map)")
    _memory_block_size(snap, machine, notes)
    vmem.add_devices(snap, machine, notes)
    _blocks_not_modelled(snap, machine, notes)
    if not cfg.x86:
        # arm64 sets high_memory at boot (from memblock); hot-added memory does not raise it
        machine.high_memory = max(
            (
                r.end + 1
                for _, r in tree.walk()
                if r.is_system_ram() and r.busy and not r.flags & F.SYSRAM_DRIVER_MANAGED
            ),
            default=0,
        )
    machine.drain_events()  # a new machine starts with no pending events
    return Built(machine, notes, snap)


def machine_name(snap: Snapshot) -> str:
    """The host name (letters, digits, '.', '_', '-'), else the file's name."""
    host = snap.info.get("host")
    name = _NAME.sub("-", host.text).strip("-.")[:64] if host is not None else ""
    if not name:
        base = os.path.basename(snap.source)
        name = _NAME.sub("-", os.path.splitext(base)[0]).strip("-.")[:64] or "snapshot"
    return name


def _memory_block_size(snap: Snapshot, machine: Machine, notes: Notes) -> None:
    v = snap.memory.get("block_size_bytes")
    if v is None:
        notes.assumed.append(
            f"memory block size {fmt_size(MEMORY_BLOCK_SIZE)} (no block_size_bytes)"
        )
        return
    text = v.text.strip()
    size = int(text, 16) if re.fullmatch(r"(0x)?[0-9a-fA-F]{1,16}", text) else 0
    if not MiB <= size <= TiB or size & (size - 1):
        raise snap.error(
            v.line,
            f"block_size_bytes {text!r} is not a memory block size (expected a power of two in "
            "hex, as sysfs prints it: 8000000 for 128 MiB)",
        )
    machine.memory_block_size = size


def _blocks_not_modelled(snap: Snapshot, machine: Machine, notes: Notes) -> None:
    """Offline memory blocks that no virtio-mem device owns: devmem-tui models the memory
    block states of virtio-mem devices only, and treats other RAM as online."""
    mbs = machine.memory_block_size
    offline: dict[str, list[int]] = {}
    for row in snap.blocks:
        if row.state != "offline":
            continue
        start = row.block * mbs
        if any(vm.covers(start) for vm in machine.vmem.values()):
            continue
        chain = machine.tree.chain_at(start)
        ram = [r for r in chain if (r.flags & SYSTEM_RAM) == SYSTEM_RAM and r.busy]
        what = ram[-1].name if ram else "no System RAM"
        offline.setdefault(what, []).append(row.block)
    for what, blocks in offline.items():
        shown = ", ".join(f"memory{b}" for b in blocks[:3]) + (
            f" and {len(blocks) - 3} more" if len(blocks) > 3 else ""
        )
        notes.warnings.append(
            f"{shown} ({what}) {'is' if len(blocks) == 1 else 'are'} offline on that machine: "
            "devmem-tui models the memory blocks of virtio-mem devices only and counts this "
            "memory as online (a real /proc/kcore read there is zero-filled from 5.14)"
        )
