"""machine, load iomem, iomem, whatis: choosing the machine and looking at its resource map."""

from __future__ import annotations

import os
from typing import Any

from devmem_tui import files
from devmem_tui.commands import render, snapshots
from devmem_tui.commands.numbers import parse_number, parse_range
from devmem_tui.commands.predict import predictions
from devmem_tui.commands.registry import Result, UsageError, expect_args, usage_error
from devmem_tui.commands.session import REGISTRY, Session, command
from devmem_tui.engine import presets
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.tree import Resource, flags_words
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.units import ADDR_MAX, PAGE_SIZE


def _resource_data(res: Resource, depth: int) -> dict[str, Any]:
    return {
        "start": res.start,
        "end": res.end,
        "name": res.name,
        "depth": depth,
        "flags": flags_words(res.flags),
        "desc": res.desc,
    }


@command(
    "machine",
    "machine",
    "machine PRESET",
    summary="list the machine presets, or start a fresh machine from one",
    forms=("list the machine presets", "start a fresh machine from PRESET"),
    help="A fresh machine: the preset's /proc/iomem, its virtio-mem devices (probed if the\n"
    "config can build the driver), no mappings (ids restart at m1), clock 0. The config\n"
    "stays, except arch, which the preset decides.\nExample: machine arm64-virt",
    group="map",
)
def cmd_machine(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["machine"], args, 0, 1)
    if not args:
        return Result(
            True,
            "DONE",
            render.presets_text(session.machine.name),
            data={"presets": dict(presets.PRESETS), "current": session.machine.name},
        )
    name = args[0]
    machine = Machine.from_preset(name, session.config)  # raises before anything changes
    session.replace_machine(machine)
    msg = f"machine {name}: {presets.PRESETS[name]}\n{render.machine_summary(machine)}"
    return Result(
        True,
        "DONE",
        msg,
        data={
            "machine": name,
            "arch": machine.config.arch,
            "resources": len(machine.tree),
            "devices": list(machine.vmem),
        },
    )


def _find_file(session: Session, path: str) -> str:
    """A relative path is taken from the current directory, or else from the directory of
    the scenario being played (so scenarios can load files kept next to them)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    base = os.path.dirname(session.source) if session.source not in ("", "<input>") else ""
    if base:
        candidate = os.path.join(base, path)
        if os.path.exists(candidate):
            return candidate
    return path


@command(
    "load",
    "load iomem|snapshot FILE",
    summary="a fresh machine whose map is a saved /proc/iomem file, or a machine snapshot",
    help="load snapshot FILE: the machine 'devmem-tui snapshot' read (map, kernel version\n"
    "and config, boot parameters, memory blocks, virtio-mem devices); the config keys it\n"
    "does not tell stay; 'config' shows where each value comes from. See docs/snapshot.md.\n"
    "\n"
    "load iomem FILE: flags are inferred as the kernel sets them (busy System RAM,\n"
    "not-busy PCI BARs, busy driver claims, ...) or taken from a trailing annotation like\n"
    "[busy exclusive].\n"
    "The config stays, except arch when the names tell (Local APIC: x86_64; GICD: arm64).\n"
    "A file read without root (every address 0) or a /proc/ioports file is refused; so is\n"
    "a file over 64 MiB.\n"
    "See docs/input-formats.md.\n"
    "Examples: load iomem saved-iomem.txt\n"
    "          load snapshot my-box.snap",
    group="map",
)
def cmd_load(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["load"]
    expect_args(spec, args, 2)
    if args[0] not in ("iomem", "snapshot"):
        raise usage_error(spec, f"load: cannot load {args[0]!r}")
    path = session.user_path(_find_file(session, args[1]))
    if args[0] == "snapshot":
        return snapshots.open_file(session, path, "loaded")
    text = files.read_iomem(path)
    machine = Machine.from_iomem_text(text, path, session.config)  # raises before any change
    old_arch = session.config.arch
    session.replace_machine(machine)
    arch, why = presets.guess_arch(machine.tree)
    if arch is None:
        arch_note = f"arch {old_arch} kept (the names do not tell; 'set arch' to change it)"
    elif arch != old_arch:
        arch_note = f"arch set to {arch} (the map has {why!r})"
    else:
        arch_note = f"arch {arch}"
    msg = (
        f"loaded {path}: {len(machine.tree)} resources, flags inferred or annotated; "
        f"{arch_note}; the rest of the config unchanged"
    )
    return Result(
        True,
        "DONE",
        msg,
        data={"file": path, "resources": len(machine.tree), "arch": machine.config.arch},
    )


@command(
    "iomem",
    "iomem [RANGE] [--flags]",
    summary="print the resource tree as /proc/iomem does (--flags: annotated, loads back)",
    help="With a RANGE only the resources overlapping it (with their parents) are shown.\n"
    "--flags appends [busy exclusive sysram ... desc=...] to every line; 'load iomem' of\n"
    "that text gives back exactly this tree.\nExample: iomem 0xfe000000+64K --flags",
    group="map",
    mutates=False,
)
def cmd_iomem(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["iomem"]
    flags = False
    rest: list[str] = []
    for a in args:
        if a == "--flags":
            flags = True
        elif a.startswith("--"):
            raise usage_error(spec, f"iomem: unknown option {a!r}")
        else:
            rest.append(a)
    expect_args(spec, rest, 0, 1)
    start, end = parse_range(rest[0]) if rest else (0, ADDR_MAX)
    tree = session.machine.tree
    text = iomem_text.render(tree, start, end, flags=flags).rstrip("\n")
    shown = _shown(tree, start, end)
    if not text:
        text = f"no resource overlaps {start:#x}-{end:#x} (a hole)"
    resources = [_resource_data(r, d) for d, r in shown]
    return Result(
        True,
        "DONE",
        text,
        data={"range": [start, end], "flags": flags, "resources": resources},
        rows=resources,
    )


def _shown(tree: Any, start: int, end: int) -> list[tuple[int, Resource]]:
    out: list[tuple[int, Resource]] = []

    def visit(parent: Resource, depth: int) -> None:
        for r in tree.children_overlapping(parent, start, end):
            out.append((depth, r))
            visit(r, depth + 1)

    visit(tree.root, 0)
    return out


@command(
    "whatis",
    "whatis ADDR",
    summary="the resources containing ADDR and what read, mmap and kcore would get there",
    help="The chain of resources containing ADDR, outermost first, with their flags; then\n"
    "what read(), mmap() and a /proc/kcore read of that 4 KiB page would get under the\n"
    "current config. Nothing is changed: the mmap is decided but not created.\n"
    "Example: whatis 0xfe000000",
    group="map",
    mutates=False,
)
def cmd_whatis(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["whatis"], args, 1)
    addr = parse_number(args[0], "address")
    m = session.machine
    page = addr & ~(PAGE_SIZE - 1)
    if page + PAGE_SIZE - 1 > ADDR_MAX:  # cannot happen for a page-aligned 64-bit address
        raise UsageError(f"whatis: {addr:#x} is past 2^64 - 1")
    chain = m.tree.chain_at(addr)
    preds = predictions(m, page)  # all three at the page
    for p in preds:
        if p.error is not None:
            raise p.error
    lines = [f"{addr:#x}:", *render.chain_lines(m, chain), *render.prediction_lines(m, page, preds)]
    trace = [f"{p.op}: {t}" for p in preds for t in p.trace]
    data = {
        "addr": addr,
        "page": page,
        "chain": [_resource_data(r, d) for d, r in enumerate(chain)],
        **{p.op: p.outcome for p in preds},  # read, mmap, kcore
    }
    return Result(True, "DONE", "\n".join(lines), trace, data)
