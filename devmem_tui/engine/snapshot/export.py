"""A machine written as a snapshot (``export snapshot FILE``): its map as /proc/iomem prints
it (annotated where the flags could not be inferred), its config as the kernel config lines,
command line and sysfs files that would give it, its memory blocks and its virtio-mem devices
as the driver's kernel log lines describe them. Building a machine from the result gives the
same map, config and devices (``build.build``)."""

from __future__ import annotations

from devmem_tui.engine.config import LOCKDOWN_LEVELS
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.mm import hotplug
from devmem_tui.engine.mm.memory_blocks import OFFLINE
from devmem_tui.engine.snapshot import format as fmt
from devmem_tui.engine.snapshot.format import BlockRow, Snapshot, Value
from devmem_tui.engine.virtio_mem.bbm import BigBlockMode
from devmem_tui.engine.virtio_mem.sbm import SubBlockMode

SESSION = "devmem-tui session"


def _iomem(machine: Machine) -> str:
    """The map as /proc/iomem prints it, with a ``[flags]`` annotation only on the lines whose
    flags and desc the parser would not infer (an exclusive driver claim, say) or whose name
    needs encoding to read back exactly: a machine built from a real /proc/iomem exports that
    text byte for byte. The resources of virtio-mem devices stay plain: opening the snapshot
    derives them again, as the driver sets them."""
    derived: set[int] = set()
    for vm in machine.vmem.values():
        if vm.parent is not None:
            derived.add(id(vm.parent))
            derived.update(id(c) for c in vm.parent.children)
    root = machine.tree.root
    lines = []
    for depth, r in machine.tree.walk():
        parent = r.parent if r.parent is not root else None
        inferred = iomem_text.infer_flags(r.name, r.start, parent)
        plain = id(r) in derived or (int(inferred[0]), inferred[1]) == (int(r.flags), r.desc)
        # A name a plain line cannot carry exactly (controls, a backslash, spaces at an end)
        # goes on an annotated line, whose names are encoded (iomem_text.encode_name).
        plain = plain and iomem_text.encode_name(r.name) == r.name
        lines.append(iomem_text.render_line(r, depth, flags=not plain) + "\n")
    return "".join(lines)


def from_machine(machine: Machine, tool: str) -> Snapshot:
    """The snapshot a machine with this state would give (see the module docstring)."""
    cfg = machine.config
    snap = Snapshot(source=machine.name)
    snap.info = {"host": Value(machine.name), "tool": Value(f"{tool} (exported from a session)")}
    kernel = {"release": Value(cfg.kernel), "arch": Value("x86_64" if cfg.x86 else "aarch64")}
    if cfg.x86:
        kernel["address sizes"] = Value(f"{cfg.phys_bits} bits physical")
    params = [] if cfg.iomem == "default" else [f"iomem={cfg.iomem}"]
    # securityfs's lockdown file lists every level, the current one in brackets
    kernel["lockdown"] = Value(
        " ".join(f"[{m}]" if m == cfg.lockdown else m for m in LOCKDOWN_LEVELS)
    )
    kernel["cmdline"] = Value(" ".join(params))
    snap.kernel = kernel
    snap.config_source = Value(SESSION)

    def option(name: str, on: bool) -> None:
        snap.config[name] = Value("y" if on else "n")

    option("DEVMEM", cfg.devmem)
    option("STRICT_DEVMEM", cfg.strict_devmem)
    option("IO_STRICT_DEVMEM", cfg.io_strict_devmem)
    if cfg.x86:
        option("X86_PAT", cfg.pat)
    else:
        snap.config["ARM64_PA_BITS"] = Value(str(cfg.phys_bits))
    snap.iomem = _iomem(machine)
    snap.memory = {
        "block_size_bytes": Value(f"{machine.memory_block_size:x}"),
        "auto_online_blocks": Value(cfg.auto_online),
    }
    rows = []
    for group in machine.memory_blocks.groups.values():
        for mb, zone in group.blocks.items():
            zones = hotplug.valid_zones(machine, mb)
            state = "offline" if zone == OFFLINE else "online"
            rows.append(BlockRow(mb, state, f"{mb:08x}", "1", tuple(zones.split())))
    snap.blocks = sorted(rows, key=lambda r: r.block)
    for vm in machine.vmem.values():
        if not vm.probed or vm.kdump:
            continue
        keys = {
            "block_size": Value(f"{vm.device.block_size:#x}"),
            "memory_block_size": Value(f"{machine.memory_block_size:#x}"),
        }
        bm = vm.blockmode
        if isinstance(bm, SubBlockMode):
            keys["subblock_size"] = Value(f"{bm.sb_size:#x}")
        elif isinstance(bm, BigBlockMode):
            keys["big_block_size"] = Value(f"{bm.bb_size:#x}")
        keys["plugged_size"] = Value(f"{vm.plugged_size:#x}")
        keys["requested_size"] = Value(f"{vm.device.requested_size:#x}")
        snap.vmem[vm.index] = keys
    snap.notes = {
        fmt.SNAPSHOT: [
            "Exported from a devmem-tui session, not read from a machine: the kernel config,",
            "command line and sysfs values below are the session's settings.",
        ]
    }
    return snap
