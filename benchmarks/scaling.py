"""The scaling table: every operation against every dimension it could grow with.

Each ``Case`` builds a machine for a size of one dimension (resources, live mappings, zapped
ranges, pins, devices, device size, length, runs, hwpoisoned pfns, top-level resources) and
times one operation on it. The sizes are measured alternately in one process, best of several
runs (the machine's speed drifts), and the cost ratio is given per 10x step of the dimension.
``bound`` says what the ratio may be: ``log`` (O(log n) or O(changes): at most 2x from the
smallest to the largest size, about 1 for pure log n) or ``linear`` (open, save and iomem
print or read every resource: at most 1.2x the size ratio).

``tests/test_scaling.py`` runs every case at its cheap sizes and counts the Python lines the
operation executes (``LineCounter``), which does not depend on the machine's speed.

Operations that change the machine run inside a transaction that is rolled back
(``in_txn``), so every sample starts from the same state; the undo is part of the cost, and is
O(what changed) too.
"""

from __future__ import annotations

import gc
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import Table, fmt_s
from benchmarks.machines import build_machine
from devmem_tui import files
from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.machine import Machine

MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40


@dataclass
class Case:
    dimension: str
    operation: str
    sizes: tuple[int, ...]  # the full run
    cheap: tuple[int, ...]  # --quick and the complexity test
    build: Callable[[int], Any]  # a context for size n
    op: Callable[[Any], object]  # one operation on it; leaves it as it found it
    bound: str = "log"  # "log" or "linear"
    unit: Callable[[int], str] = field(default=lambda n: f"{n:,}")
    repeat: int = 20  # operations per sample


def run(s: Session, line: str) -> None:
    r = s.execute(line)
    assert r is not None and r.ok, (line, r and r.message)


def in_txn(s: Session, *lines: str) -> None:
    """Run lines, then undo them (the machine's journal): the sample's state is restored."""
    m = s.machine
    txn = m.begin()
    try:
        for line in lines:
            run(s, line)
    finally:
        s.machine = m
        m.rollback(txn)


def _gib(n: int) -> str:
    return f"{n >> 30}G" if n < TiB else f"{n >> 40}T"


def _mib(n: int) -> str:
    return f"{n >> 20}M" if n < GiB else f"{n / GiB:g}G"


# ----------------------------------------------------------------------------- builders
_MAPS: dict[int, tuple[Machine, Any]] = {}


def generated(n: int) -> tuple[Machine, Any]:
    if n not in _MAPS:
        _MAPS[n] = build_machine(n)
    return _MAPS[n]


@dataclass
class Ctx:
    s: Session
    extra: dict[str, Any] = field(default_factory=dict)


_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []
_SCRATCH_IDS = itertools.count()


def _scratch(name: str) -> str:
    """A path in this process's one scratch folder, removed when the process exits (a folder
    per context would leave dozens of session files in /tmp after every benchmark run)."""
    if not _SCRATCH:
        _SCRATCH.append(tempfile.TemporaryDirectory(prefix="devmem-scaling-"))
    # Contexts of several sizes live at once (sizes alternate): each gets its own file.
    stem, ext = os.path.splitext(name)
    return os.path.join(_SCRATCH[0].name, f"{stem}-{next(_SCRATCH_IDS)}{ext}")


def resources_ctx(n: int) -> Ctx:
    m, info = generated(n)
    s = Session(m)
    bars = [
        r.start
        for _, r in m.tree.walk()
        if r.name.startswith("0000:") and not r.busy and not r.children and r.end < 1 << 32
    ]
    path = _scratch("s.json")
    files.save_session(m, path)
    return Ctx(s, {"hole": info.vmem_base, "bar": bars[0], "path": path})


def mappings_ctx(n: int) -> Ctx:
    """The default map with n live mappings of distinct MMIO pages (IO_STRICT_DEVMEM on)."""
    s = Session.new()
    run(s, "set io_strict_devmem on")
    m = s.machine
    for i in range(n):
        run(s, f"mmap {0xC0000000 + i * 0x1000:#x} 4096")
    m.drain_events()
    return Ctx(s, {"free": 0xC0000000 + (n + 10) * 0x1000})


def zapped_ctx(n: int) -> Ctx:
    """One 64 MiB mapping with n zapped ranges (claims on every other page, released)."""
    s = Session.new()
    run(s, "set io_strict_devmem on")
    run(s, "mmap 0xc0000000 64M")
    for i in range(n):
        a = 0xC0000000 + 2 * i * 0x1000
        run(s, f"claim {a:#x}+4K z")
        run(s, "release z")
    s.machine.drain_events()
    return Ctx(s, {"page": 0xC0000000 + (2 * n + 1) * 0x1000, "off": n * 0x1000})


def pins_ctx(n: int) -> Ctx:
    """4 GiB plugged and online with n pinned pages spread over its lower 2 GiB (the resize
    below unplugs from the top, so the pins decide nothing there: only finding them costs)."""
    s = Session.new()
    run(s, "vmem resize vmem0 4G")
    step = (2 * GiB) // max(n, 1) & ~0xFFF
    for i in range(n):
        run(s, f"pin {0x140200000 + i * step:#x}")
    return Ctx(s, {"spare": 0x140001000})


def devices_ctx(n: int) -> Ctx:
    """n virtio-mem devices of 1 GiB (256 MiB plugged each) above the default map."""
    s = Session.new()
    base = 0x10000000000
    for i in range(n):
        run(s, f"vmem add d{i} {base + i * GiB:#x} 1G")
        run(s, f"vmem resize d{i} 256M")
    last = base + (n - 1) * GiB
    return Ctx(s, {"last": last, "name": f"d{n - 1}"})


def devsize_ctx(size: int) -> Ctx:
    """A fully plugged and onlined device of size (2 MiB blocks) above the default map."""
    s = Session.new()
    base = 0x100000000000  # 16 TiB: a 4 TiB device fits below the 46-bit limit
    run(s, f"vmem add vmem1 {base:#x} {_gib(size)}")
    run(s, f"vmem resize vmem1 {_gib(size)}")
    path = _scratch("s.json")
    files.save_session(s.machine, path)
    mb = base // s.machine.memory_block_size
    return Ctx(s, {"base": base, "mb": mb + 1, "size": size, "path": path})


_LONG: dict[str, Session] = {}


def long_ctx(length: int) -> Ctx:
    """The default device fully plugged (16 GiB, one run); reads of `length` bytes."""
    if "s" not in _LONG:
        s = Session.new()
        run(s, "vmem resize vmem0 16G")
        run(s, "set strict_devmem off")
        _LONG["s"] = s
    return Ctx(_LONG["s"], {"len": length})


def runs_ctx(n: int) -> Ctx:
    """The default device with n plugged runs (raw plugs of every other 2 MiB block)."""
    s = Session.new()
    for i in range(n):
        run(s, f"plug vmem0 {0x140000000 + 2 * i * 2 * MiB:#x} 2M")
    s.machine.drain_events()
    return Ctx(s, {"free": 0x140000000 + (2 * n + 1) * 2 * MiB})


def hwpoison_ctx(n: int) -> Ctx:
    """1 GiB plugged, n hwpoisoned pfns in the device's upper part."""
    s = Session.new()
    run(s, "vmem resize vmem0 1G")
    s.machine.hwpoison = {(0x160000000 >> 12) + 7 * i for i in range(n)}
    return Ctx(s)


def arm64_ctx(n: int) -> Ctx:
    """The generated map of n resources read as arm64 (memblock lookups among the top-level
    resources)."""
    m, info = generated(n)
    s = Session(m)
    ram = next(
        r.start + 0x10000
        for r in m.tree.root.children
        if r.is_system_ram() and r.busy and r.start >= 1 << 32
    )
    return Ctx(s, {"ram": ram})


# ----------------------------------------------------------------------------- operations
def _complete(ctx: Ctx) -> object:
    """Completing a name as it is typed (the suggestions are the same few at every size)."""
    from devmem_tui.frontends.complete import complete  # a front end's module: loaded here

    return complete("release Kern", ctx.s) + complete("claim 0x0+4K nv", ctx.s)


def _tui_changes(ctx: Ctx) -> object:
    """What the TUI does around each command to learn which blocks changed (watch, run,
    changed): O(changes), not a copy and diff of every run."""
    dev = ctx.s.machine.vmem["vmem0"].device.blocks
    dev.watch()
    ctx.s.execute("read 0x1000")
    out = dev.changed()
    dev.unwatch()
    return out


def _badge_check(ctx: Ctx) -> object:
    """What the TUI's iomem tree does after every command while the badges show: compare the
    machine's state key with the badges' (``policy.state_key``: the mapping table's version,
    not the mappings)."""
    from devmem_tui.frontends.tui.policy import state_key  # a front end's module: loaded here

    return state_key(ctx.s.machine) == state_key(ctx.s.machine)


def _badges_ctx(n: int) -> Ctx:
    """resources_ctx with the tree's badges built (a read and an mmap sweep of everything)."""
    from devmem_tui.frontends.tui.policy import Badges  # a front end's module: loaded here

    ctx = resources_ctx(n)
    ctx.extra["badges"] = Badges(ctx.s.machine)
    return ctx


def _badge_of_node(ctx: Ctx) -> object:
    """The badges of one tree node (a BAR): bisected in the sweeps' rows."""
    bar = ctx.extra["bar"]
    return ctx.extra["badges"].text(bar, bar + 0xFFF)


def _badges_build(ctx: Ctx) -> object:
    """The badges swept again (after a change that can move a verdict)."""
    from devmem_tui.frontends.tui.policy import Badges  # a front end's module: loaded here

    return Badges(ctx.s.machine)


R = (1_000, 10_000, 100_000)
R_CHEAP = (1_000, 10_000)

CASES: list[Case] = [
    # resources
    Case(
        "resources",
        "mutating command (set migration on + off)",
        R,
        R_CHEAP,
        resources_ctx,
        lambda c: (run(c.s, "set migration on"), run(c.s, "set migration off")),
    ),
    Case(
        "resources",
        "claim + read + release",
        R,
        R_CHEAP,
        resources_ctx,
        lambda c: (
            run(c.s, f"claim {c.extra['hole'] + 0x1000:#x}+4K benchdrv"),
            run(c.s, f"read {c.extra['hole']:#x}"),
            run(c.s, "release benchdrv"),
        ),
    ),
    Case(
        "resources",
        "vmem add (undone)",
        R,
        R_CHEAP,
        resources_ctx,
        lambda c: in_txn(c.s, f"vmem add vmemb {c.extra['hole'] + GiB:#x} 1G"),
    ),
    Case("resources", "completion of release / claim names", R, R_CHEAP, resources_ctx, _complete),
    Case(
        "resources",
        "mmap + munmap of a BAR",
        R,
        R_CHEAP,
        resources_ctx,
        lambda c: in_txn(c.s, f"mmap {c.extra['bar']:#x} 4096"),
    ),
    Case(
        "resources",
        "open (session file)",
        R,
        R_CHEAP,
        resources_ctx,
        lambda c: files.load_session(c.extra["path"]),
        bound="linear",
        repeat=1,
    ),
    Case(
        "resources",
        "save (to_dict + JSON)",
        R,
        R_CHEAP,
        resources_ctx,
        lambda c: state.dumps(c.s.machine),
        bound="linear",
        repeat=1,
    ),
    Case(
        "resources",
        "iomem (render)",
        R,
        R_CHEAP,
        resources_ctx,
        lambda c: iomem_text.render(c.s.machine.tree),
        bound="linear",
        repeat=1,
    ),
    Case(
        "resources",
        "sweep read of the whole address space",
        R,
        R_CHEAP,
        resources_ctx,
        lambda c: run(c.s, "sweep read"),
        bound="linear",
        repeat=1,
    ),
    Case(
        "resources",
        "TUI badges of one tree node",
        R,
        R_CHEAP,
        _badges_ctx,
        _badge_of_node,
    ),
    Case(
        "resources",
        "TUI badges swept again (read + mmap, everything)",
        R,
        R_CHEAP,
        resources_ctx,
        _badges_build,
        bound="linear",
        repeat=1,
    ),
    # live mappings
    Case(
        "live mappings",
        "mmap + munmap",
        (100, 1_000, 10_000),
        (100, 1_000),
        mappings_ctx,
        lambda c: in_txn(c.s, f"mmap {c.extra['free']:#x} 4096"),
    ),
    Case(
        "live mappings",
        "claim revoking one mapping (undone)",
        (100, 1_000, 10_000),
        (100, 1_000),
        mappings_ctx,
        lambda c: in_txn(c.s, "claim 0xc0000000+4K rv"),
    ),
    Case(
        "live mappings",
        "whatis on MMIO",
        (100, 1_000, 10_000),
        (100, 1_000),
        mappings_ctx,
        lambda c: run(c.s, "whatis 0xc0000000"),
    ),
    Case(
        "live mappings",
        "compare mmap",
        (100, 1_000, 10_000),
        (100, 1_000),
        mappings_ctx,
        lambda c: run(c.s, f"compare mmap {c.extra['free']:#x} 4096"),
    ),
    Case(
        "live mappings",
        "touch",
        (100, 1_000, 10_000),
        (100, 1_000),
        mappings_ctx,
        lambda c: run(c.s, "touch m1"),
    ),
    Case(
        "live mappings",
        "mutating command (set migration on + off)",
        (100, 1_000, 10_000),
        (100, 1_000),
        mappings_ctx,
        lambda c: (run(c.s, "set migration on"), run(c.s, "set migration off")),
    ),
    Case(
        "live mappings",
        "sweep mmap of 1 MiB beside them",
        (100, 1_000, 10_000),
        (100, 1_000),
        mappings_ctx,
        lambda c: run(c.s, f"sweep mmap {c.extra['free']:#x}+1M"),
    ),
    Case(
        "live mappings",
        "TUI badges' check after a command",
        (100, 1_000, 10_000),
        (100, 1_000),
        mappings_ctx,
        _badge_check,
    ),
    # zapped ranges
    Case(
        "zapped ranges",
        "claim zapping one more page (undone)",
        (10, 100, 1_000),
        (10, 100),
        zapped_ctx,
        lambda c: in_txn(c.s, f"claim {c.extra['page']:#x}+4K z2"),
    ),
    Case(
        "zapped ranges",
        "touch",
        (10, 100, 1_000),
        (10, 100),
        zapped_ctx,
        lambda c: run(c.s, f"touch m1 {c.extra['off']:#x}"),
    ),
    # pins
    Case(
        "pins",
        "vmem resize 4G -> 3G (undone)",
        (1, 10, 100, 1_000),
        (1, 10, 100),
        pins_ctx,
        lambda c: in_txn(c.s, "vmem resize vmem0 3G"),
        repeat=3,
    ),
    Case(
        "pins",
        "pin + unpin",
        (1, 10, 100, 1_000),
        (1, 10, 100),
        pins_ctx,
        lambda c: (
            run(c.s, f"pin {c.extra['spare']:#x}"),
            run(c.s, f"unpin {c.extra['spare']:#x}"),
        ),
    ),
    # devices
    Case(
        "devices",
        "kcore of a page in the last device",
        (1, 10, 100),
        (1, 10),
        devices_ctx,
        lambda c: run(c.s, f"kcore {c.extra['last']:#x}"),
    ),
    Case(
        "devices",
        "memory_state",
        (1, 10, 100),
        (1, 10),
        devices_ctx,
        lambda c: c.s.machine.memory_state(c.extra["last"] + 0x1000),
    ),
    Case(
        "devices",
        "vmem resize of one device (undone)",
        (1, 10, 100),
        (1, 10),
        devices_ctx,
        lambda c: in_txn(c.s, f"vmem resize {c.extra['name']} 512M"),
        repeat=5,
    ),
    # device size (fully plugged)
    Case(
        "device size",
        "blocks",
        (GiB, 64 * GiB, 4 * TiB),
        (GiB, 64 * GiB),
        devsize_ctx,
        lambda c: run(c.s, "blocks vmem1"),
        unit=_gib,
    ),
    Case(
        "device size",
        "offline + online one block",
        (GiB, 64 * GiB, 4 * TiB),
        (GiB, 64 * GiB),
        devsize_ctx,
        lambda c: (
            run(c.s, f"offline memory{c.extra['mb']}"),
            run(c.s, f"online memory{c.extra['mb']}"),
        ),
        unit=_gib,
    ),
    Case(
        "device size",
        "raw unplug + plug of one block",
        (GiB, 64 * GiB, 4 * TiB),
        (GiB, 64 * GiB),
        devsize_ctx,
        lambda c: in_txn(
            c.s, f"unplug vmem1 {c.extra['base']:#x} 2M", f"plug vmem1 {c.extra['base']:#x} 2M"
        ),
        unit=_gib,
    ),
    Case(
        "device size",
        "kcore of 64M",
        (GiB, 64 * GiB, 4 * TiB),
        (GiB, 64 * GiB),
        devsize_ctx,
        lambda c: run(c.s, f"kcore {c.extra['base']:#x} 64M"),
        unit=_gib,
    ),
    Case(
        "device size",
        "mutating command (set migration on + off)",
        (GiB, 64 * GiB, 4 * TiB),
        (GiB, 64 * GiB),
        devsize_ctx,
        lambda c: (run(c.s, "set migration on"), run(c.s, "set migration off")),
        unit=_gib,
    ),
    Case(
        "device size",
        "sweep kcore of the device",
        (GiB, 64 * GiB, 4 * TiB),
        (GiB, 64 * GiB),
        devsize_ctx,
        lambda c: run(c.s, f"sweep kcore {c.extra['base']:#x}+{_gib(c.extra['size'])}"),
        unit=_gib,
    ),
    Case(
        "device size",
        "open (session file)",
        (GiB, 64 * GiB, 4 * TiB),
        (GiB, 64 * GiB),
        devsize_ctx,
        lambda c: files.load_session(c.extra["path"]),
        unit=_gib,
        repeat=3,
    ),
    # length of a read
    Case(
        "length",
        "kcore of one plugged run",
        (64 * MiB, 640 * MiB, 6400 * MiB),
        (64 * MiB, 640 * MiB),
        long_ctx,
        lambda c: run(c.s, f"kcore 0x140000000 {c.extra['len']:#x}"),
        unit=_mib,
    ),
    Case(
        "length",
        "read of one plugged run (STRICT_DEVMEM off)",
        (64 * MiB, 640 * MiB, 1600 * MiB),
        (64 * MiB, 640 * MiB),
        long_ctx,
        lambda c: run(c.s, f"read 0x140000000 {c.extra['len']:#x}"),
        unit=_mib,
    ),
    # runs of plugged blocks
    Case(
        "runs",
        "TUI change detection around a command",
        (1, 100, 10_000),
        (1, 100),
        runs_ctx,
        _tui_changes,
    ),
    Case(
        "runs",
        "raw plug + unplug of one block",
        (1, 100, 10_000),
        (1, 100),
        runs_ctx,
        lambda c: (
            run(c.s, f"plug vmem0 {c.extra['free']:#x} 2M"),
            run(c.s, f"unplug vmem0 {c.extra['free']:#x} 2M"),
        ),
    ),
    # hwpoisoned pfns and arm64's memblock
    Case(
        "hwpoisoned pfns",
        "kcore of a page",
        (1, 100, 10_000),
        (1, 100),
        hwpoison_ctx,
        lambda c: run(c.s, "kcore 0x150000000"),
    ),
    Case(
        "top-level resources (arm64)",
        "read of RAM (memblock)",
        R,
        R_CHEAP,
        arm64_ctx,
        lambda c: c.s.machine.read(c.extra["ram"]),
    ),
]


# ----------------------------------------------------------------------------- measuring
def measure(case: Case, sizes: tuple[int, ...], runs: int) -> dict[int, float]:
    """Best per-operation time at each size: sizes alternate (ascending, then descending)
    inside one process, so every size sees the same machine load."""
    ctxs = {n: case.build(n) for n in sizes}
    for n in sizes:  # warm up: caches, indexes built on first use
        case.op(ctxs[n])
    best = {n: math.inf for n in sizes}
    for r in range(runs):
        for n in sizes if r % 2 == 0 else reversed(sizes):
            gc.collect(1)
            gc.disable()  # a collection's cost grows with every object alive, not the case
            try:
                t0 = time.perf_counter()
                for _ in range(case.repeat):
                    case.op(ctxs[n])
                best[n] = min(best[n], (time.perf_counter() - t0) / case.repeat)
            finally:
                gc.enable()
    return best


def per_decade(times: dict[int, float]) -> list[float]:
    """The cost ratio per 10x step of the dimension, between each pair of sizes."""
    sizes = sorted(times)
    out = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        out.append((times[b] / times[a]) ** (1 / math.log10(b / a)))
    return out


def allowed(case: Case, small: int, large: int) -> float:
    """The largest cost ratio from small to large that the case's bound allows."""
    return 1.2 * large / small if case.bound == "linear" else 2.0


TUI_SCRIPT = r"""
import asyncio, json, sys, time
from benchmarks.scaling import runs_ctx
from devmem_tui.frontends.tui.app import DevmemApp

async def main(n, runs, commands):
    ctx = runs_ctx(n)
    app = DevmemApp(ctx.s, keymap={})
    best = 9e9
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for _ in range(runs):
            spent = 0.0
            for _ in range(commands):
                t0 = time.perf_counter()
                app.run_command("read 0x1000")  # the command, change detection, view updates
                spent += time.perf_counter() - t0
                await pilot.pause()  # the repaint: not timed (Pilot's own wait dominates it)
            best = min(best, spent / commands)
    print(json.dumps(best))

asyncio.run(main(*map(int, sys.argv[1:])))
"""


def tui_command_times(sizes: tuple[int, ...], runs: int) -> dict[int, float]:
    """A command through the TUI (``run_command``: the command, finding what changed, the
    views' updates; the repaint after it is left out, as Pilot's fixed wait would hide any
    growth) with the device of the block map holding n plugged runs: each size in its own
    process, twice in turn."""
    best = {n: math.inf for n in sizes}
    for r in range(2):
        for n in sizes if r % 2 == 0 else reversed(sizes):
            out = subprocess.run(
                [sys.executable, "-c", TUI_SCRIPT, str(n), str(runs), "20"],
                capture_output=True,
                text=True,
                check=True,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            )
            best[n] = min(best[n], json.loads(out.stdout.strip().splitlines()[-1]))
    return best


def measure_apart(index: int, sizes: tuple[int, ...], runs: int) -> dict[int, float]:
    """``measure`` of CASES[index] in a process of its own: every case starts from the same
    clean heap (a 100,000-resource map left alive by another case slows every object access,
    most visibly in the linear cases)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.scaling", str(index), str(runs), *map(str, sizes)],
        capture_output=True,
        text=True,
        check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    if out.returncode:
        raise RuntimeError((out.stderr.strip().splitlines() or ["no output"])[-1])
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def scaling(quick: bool, runs: int) -> Table:
    t = Table(
        "Scaling: cost per operation against each dimension "
        "(best of alternating runs, one process)",
        [
            "dimension",
            "operation",
            "sizes",
            "per operation",
            "ratio per 10x",
            "small->large",
            "allowed",
            "ok",
        ],
    )
    data: dict[str, Any] = {}
    for index, case in enumerate(CASES):
        sizes = case.cheap if quick else case.sizes
        try:
            times = measure_apart(index, sizes, runs)
        except Exception as e:  # noqa: BLE001 - report the case, go on with the others
            t.rows.append([case.dimension, case.operation, "", f"failed: {e}", "", "", "", ""])
            continue
        steps = per_decade(times)
        total = times[sizes[-1]] / times[sizes[0]]
        limit = allowed(case, sizes[0], sizes[-1])
        t.rows.append(
            [
                case.dimension,
                case.operation,
                " / ".join(case.unit(n) for n in sizes),
                " / ".join(fmt_s(times[n]) for n in sizes),
                " / ".join(f"{x:.2f}" for x in steps),
                f"{total:.2f}",
                f"<= {limit:g}",
                "yes" if total <= limit else "NO",
            ]
        )
        data[f"{case.dimension}: {case.operation}"] = {str(n): times[n] for n in sizes}
    try:
        import textual  # noqa: F401 - the TUI row needs the front end's toolkit

        sizes = (1, 100) if quick else (1, 100, 10_000)
        times = tui_command_times(sizes, runs)
        total = times[sizes[-1]] / times[sizes[0]]
        t.rows.append(
            [
                "runs",
                "TUI command (run_command, repaint not timed)",
                " / ".join(f"{n:,}" for n in sizes),
                " / ".join(fmt_s(times[n]) for n in sizes),
                " / ".join(f"{x:.2f}" for x in per_decade(times)),
                f"{total:.2f}",
                "<= 2",
                "yes" if total <= 2 else "NO",
            ]
        )
        data["runs: TUI command"] = {str(n): times[n] for n in sizes}
    except Exception as e:  # noqa: BLE001 - the TUI row is extra: report, go on
        t.rows.append(["runs", "TUI command", "", f"failed: {e}", "", "", "", ""])
    t.notes.append(
        "ratio per 10x = (cost at the larger size / cost at the smaller) ^ (1 / log10(size "
        "ratio)); allowed: 2 from the smallest to the largest size for O(log n) / O(changes), "
        "1.2 x the size ratio for open/save/iomem (they read or write every resource)."
    )
    t.notes.append(
        "'(undone)': the command runs in a transaction that is rolled back after each sample "
        "(the undo is O(what it changed) and is included)."
    )
    t.data = data
    return t


if __name__ == "__main__":  # one case in a process of its own (measure_apart)
    _index, _runs, *_sizes = map(int, sys.argv[1:])
    _times = measure(CASES[_index], tuple(_sizes), _runs)
    print(json.dumps({str(n): t for n, t in _times.items()}))
