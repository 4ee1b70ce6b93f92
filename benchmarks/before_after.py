"""``python -m benchmarks.before_after``: the targeted speed-ups of docs/performance.md, each
measured against the code it replaced. The old variant is re-created here and swapped in by
monkeypatching; old and new runs are interleaved in one process so both see the same machine
load. Prints one Markdown table."""

from __future__ import annotations

import bisect
import gc
import io
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import Table, deep_size, environment, fmt_bytes
from benchmarks.machines import TiB, build_machine, sample_pages
from benchmarks.suite import Settings, clear_machines, tui_machine
from benchmarks.tui_bench import bench_tui
from devmem_tui.commands.registry import CommandSpec
from devmem_tui.commands.session import Session
from devmem_tui.engine import config
from devmem_tui.engine.iomem import text as it
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree, flags_words
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.virtio_mem import driver as vmem_driver
from devmem_tui.frontends.play import play_scenario
from devmem_tui.scenario import script


def _t(fn: Callable[[], object]) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def ab(
    set_old: Callable[[], None],
    set_new: Callable[[], None],
    fn: Callable[[], object],
    rounds: int = 5,
) -> tuple[float, float]:
    """Median seconds of fn with the old and with the new code, interleaved."""
    old, new = [], []
    try:
        for _ in range(rounds):
            set_old()
            old.append(_t(fn))
            set_new()
            new.append(_t(fn))
    finally:
        set_new()
    return statistics.median(old), statistics.median(new)


def chain_at_key() -> list[str]:
    """resource.Resource.child_index_at: bisect key lambda -> operator.attrgetter."""
    m, _ = build_machine(1_000)
    pages = sample_pages(m.tree, 20_000)
    new = Resource.child_index_at

    def old(self: Resource, addr: int) -> int:
        return bisect.bisect_right(self.children, addr, key=lambda r: r.start) - 1

    def setter(f: Any) -> Callable[[], None]:
        return lambda: setattr(Resource, "child_index_at", f)

    def descend(addr: int) -> None:
        # The chain_at descent by child_index_at at each level (chain_at itself now bisects
        # the tree's cached child starts, which need no key at all).
        node = m.tree.root
        while node.children:
            i = node.child_index_at(addr)
            if i < 0 or node.children[i].end < addr:
                break
            node = node.children[i]

    o, n = ab(setter(old), setter(new), lambda: [descend(a) for a in pages])
    per = len(pages) / 1e6
    return [
        "`Resource.child_index_at` (iomem/resource.py)",
        "bisect descent to an address, 1k map",
        f"{o / per:.2f} us",
        f"{n / per:.2f} us",
    ]


def version_cache() -> list[str]:
    """config.parse_version: lru_cache (KernelConfig.version parsed the string every time)."""

    m0, info = build_machine(1_000)
    cached = config.parse_version

    def plug_all() -> None:
        m = Machine(m0.tree.copy(), m0.config.copy())
        vm = vmem_driver.add_device(m, "vmem0", info.vmem_base, TiB, 2 << 20, 0)
        vm.resize(TiB)

    o, n = ab(
        lambda: setattr(config, "parse_version", cached.__wrapped__),
        lambda: setattr(config, "parse_version", cached),
        plug_all,
        rounds=3,
    )
    return [
        "`parse_version` (config.py)",
        "1 TiB plug-all (vmem resize)",
        f"{o:.3f} s",
        f"{n:.3f} s",
    ]


def annotation_cache() -> list[str]:
    """iomem_text.annotation: cached per (flags, desc) instead of IntFlag arithmetic per line."""

    m, _ = build_machine(10_000)
    new = it.annotation

    def old(res: Resource) -> str:
        words: list[str] = []
        if not res.flags & F.MEM:
            words.append("-mem")
        words.extend(flags_words(res.flags & ~F.MEM))
        if res.desc != "none":
            words.append(f"desc={res.desc}")
        return "[" + (" ".join(words) if words else "mem") + "]"

    ref = it.render(m.tree, flags=True)
    o, n = ab(
        lambda: setattr(it, "annotation", old),
        lambda: setattr(it, "annotation", new),
        lambda: it.render(m.tree, flags=True),
        rounds=3,
    )
    assert it.render(m.tree, flags=True) == ref
    return [
        "`iomem_text.annotation`",
        "render(flags=True), 10k map",
        f"{o * 1e3:.0f} ms",
        f"{n * 1e3:.0f} ms",
    ]


def file_args() -> list[str]:
    """CommandSpec.takes_file: skip the usage matcher for commands that take no file."""

    preset = "qemu-x86-virtio-mem"
    pages = sample_pages(Machine.from_preset(preset).tree, 2_000, seed=5)
    sc = script.parse_scenario("".join(f"read {a:#x}\n" for a in pages), "generated")
    new = CommandSpec.__dict__["takes_file"]

    def play() -> None:
        play_scenario(sc, Session(Machine.from_preset(preset)), io.StringIO())

    # A property outranks the value cached_property left in each spec's __dict__.
    o, n = ab(
        lambda: setattr(CommandSpec, "takes_file", property(lambda self: True)),
        lambda: setattr(CommandSpec, "takes_file", new),
        play,
        rounds=3,
    )
    return [
        "`grammar.file_arg_indexes`",
        "play 2,000 `read` lines (in process)",
        f"{len(pages) / o:,.0f} lines/s",
        f"{len(pages) / n:,.0f} lines/s",
    ]


def full_mask() -> list[str]:
    """virtio_mem/sbm.py: fully plugged memory blocks share one mask int (state size, not time)."""

    m0, info = build_machine(1_000)
    m = Machine(m0.tree.copy(), m0.config.copy())
    vm = vmem_driver.add_device(m, "vmem0", info.vmem_base, TiB, 2 << 20, 0)
    vm.resize(TiB)
    stop = (Machine, ResourceTree, Resource)
    new = deep_size(vm, stop)
    sbm = vm.blockmode
    sbm.sb_masks = [int(str(x)) for x in sbm.sb_masks]  # what separate int objects cost
    old = deep_size(vm, stop)
    return [
        "`SubBlockMode.set_mask` (virtio_mem/sbm.py)",
        "state of a plugged 1 TiB device",
        fmt_bytes(old),
        fmt_bytes(new),
    ]


def lazy_version() -> list[str]:
    """cli: --version looked up only when asked (was importlib.metadata on every start)."""
    code = (
        "import time; t = time.perf_counter()\n"
        "from importlib.metadata import version; version('devmem-tui')\n"
        "print(time.perf_counter() - t)"
    )
    ts = []
    for _ in range(5):
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        ts.append(float(p.stdout))
    return [
        "`cli --version` action",
        "start-up cost of every `devmem-tui` run",
        f"+{statistics.median(ts) * 1e3:.0f} ms",
        "+0 ms",
    ]


def tui_gc_freeze() -> list[str]:
    """tui/heap.settle_heap: freeze the heap after loading a big machine (was: full garbage
    collections walking ~900k objects during keypresses)."""
    from devmem_tui.frontends.tui import app  # lazy: textual loads only for this comparison

    new = app.settle_heap
    worst: dict[str, list[float]] = {"old": [], "new": []}
    paint: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(2):
        for label, fn in (("old", lambda machine, replaced: None), ("new", new)):
            m = tui_machine(Settings())
            clear_machines()
            gc.unfreeze()
            gc.collect()
            app.settle_heap = fn
            try:
                r = bench_tui(m, (120, 40), 15)
            finally:
                app.settle_heap = new
                gc.unfreeze()
            paint[label].append(r["first_paint_s"])
            worst[label].append(
                max(v["max"] for v in r.values() if isinstance(v, dict) and "max" in v)
            )
    med = statistics.median
    return [
        "`tui/heap.py` `settle_heap` (gc.freeze)",
        "TUI, 100k map + 1 TiB device: first paint / slowest key",
        f"{med(paint['old']):.2f} s / {med(worst['old']):.0f} ms",
        f"{med(paint['new']):.2f} s / {med(worst['new']):.0f} ms",
    ]


ITEMS: tuple[Callable[[], list[str]], ...] = (
    chain_at_key,
    version_cache,
    annotation_cache,
    file_args,
    full_mask,
    lazy_version,
    tui_gc_freeze,
)


def main() -> int:
    env = environment()
    print(f"CPU: {env['cpu']} | Python: {env['python']} | load avg {env['load']}\n")
    t = Table(
        "targeted changes: before / after (medians, old and new interleaved)",
        ["change", "measured on", "before", "after"],
    )
    for item in ITEMS:
        try:
            t.rows.append(item())
        except Exception as e:  # an item whose code moved on reports instead of stopping
            t.rows.append([item.__name__, f"not measured: {type(e).__name__}: {e}", "", ""])
    print(t.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
