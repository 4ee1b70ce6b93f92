"""The benchmark sections (a)-(l) of docs/performance.md. Each returns a Table; a section whose
engine module has not landed (or fails) returns a table saying so instead of stopping the run."""

from __future__ import annotations

import gc
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from benchmarks import baseline as bl
from benchmarks.common import (
    Table,
    cli_argv,
    deep_size,
    fmt_bytes,
    fmt_rate,
    fmt_s,
    median_time,
)
from benchmarks.machines import GenInfo, TiB, build_machine, sample_pages
from benchmarks.memory import memory as memory_table
from benchmarks.memory import run_mmaps as run_mmaps_table
from benchmarks.scaling import scaling as scaling_table
from benchmarks.snapshots import snapshot
from benchmarks.sweep_bench import sweep_section
from benchmarks.tui_bench import bench_tui
from devmem_tui.engine.devmem import mmap
from devmem_tui.engine.iomem import text as it
from devmem_tui.engine.iomem.tree import Resource, ResourceTree
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.virtio_mem import driver as vmem_driver

GiB = 1 << 30
MiB = 1 << 20


@dataclass
class Settings:
    """How hard to push: ``quick`` is the smoke run (seconds), the default the full suite.
    Any field left None takes the quick/full default (tests pass tiny values)."""

    quick: bool = False
    sizes: tuple[int, ...] = ()
    runs: int = 0
    samples: int = 0
    vmem_sizes: tuple[int, ...] = ()
    play_lines: int = 0
    startup_runs: int = 0
    blocks: tuple[int, ...] = ()  # memory blocks of the fake roots snapshotted
    snapshot_resources: tuple[int, ...] = ()  # resources of the snapshots opened

    def __post_init__(self) -> None:
        q = self.quick
        self.sizes = self.sizes or ((1_000, 10_000) if q else (1_000, 10_000, 100_000))
        self.runs = self.runs or (3 if q else 5)
        self.samples = self.samples or (2_000 if q else 20_000)
        self.vmem_sizes = self.vmem_sizes or ((16 * GiB,) if q else (16 * GiB, TiB))
        self.play_lines = self.play_lines or (2_000 if q else 20_000)
        self.startup_runs = self.startup_runs or (3 if q else 7)
        self.blocks = self.blocks or ((256, 2_048) if q else (256, 2_048, 16_384))
        self.snapshot_resources = self.snapshot_resources or ((10_000,) if q else (10_000, 500_000))

    def baseline_samples(self, n: int) -> int:
        """The full walk costs O(n) per verdict: fewer samples at larger n keep a run ~1 s."""
        base = min(self.samples, 300 if self.quick else 2_000)
        return max(50, base * 1_000 // n) if n > 1_000 else base


_MACHINES: dict[int, tuple[Machine, GenInfo]] = {}


def machine(n: int) -> tuple[Machine, GenInfo]:
    """Generated machines are built once per process (the 100k one takes seconds)."""
    if n not in _MACHINES:
        _MACHINES[n] = build_machine(n)
    return _MACHINES[n]


def clear_machines() -> None:
    """Drop the cached maps (a TUI measurement wants only its own machine alive)."""
    _MACHINES.clear()


def unavailable(title: str, why: str) -> Table:
    return Table(title, ["status"], [[f"not measured: {why}"]])


def guarded(title: str, fn: Callable[[], Table]) -> Table:
    try:
        return fn()
    except ImportError as e:
        return unavailable(title, f"not landed yet ({e})")
    except Exception as e:  # a benchmark must report, not crash the suite
        return unavailable(title, f"{type(e).__name__}: {e}")


# ----------------------------------------------------------------------------- (a) + (b)
def _engine_outcomes(m: Machine, pages: list[int]) -> tuple[list[str], list[str]]:
    reads = [m.read(a, 4096).outcome.value for a in pages]
    maps = [mmap.mmap_mem(m, a, 4096, False, dry_run=True).outcome.value for a in pages]
    return reads, maps


def _engine_reads(m: Machine, pages: list[int]) -> None:
    # Each verdict is dropped once made, as a front end drops it after showing it: keeping
    # 20,000 alive would time the allocator's growth, not the verdicts.
    read = m.read
    for a in pages:
        read(a, 4096)


def _engine_mmaps(m: Machine, pages: list[int]) -> None:
    mmap_mem = mmap.mmap_mem
    for a in pages:
        mmap_mem(m, a, 4096, False, dry_run=True)


_ANSWER: dict[str, dict[str, Callable[..., str]]] = {
    "read": {"walk": bl.answer_read, "indexed": bl.indexed_read},
    "mmap": {"walk": bl.answer_mmap, "indexed": bl.indexed_mmap},
}


def _answers(
    op: str, how: str, m: Machine, pages: list[int], bc: bl.BaselineConfig, c: bl.WalkCounter
) -> list[str]:
    fn = _ANSWER[op][how]
    tree = m.tree
    if op == "read":
        hm = m.high_memory
        return [fn(tree, hm, a, bc, c) for a in pages]
    return [fn(tree, a, bc, c) for a in pages]


def verdicts(s: Settings) -> Table:
    """(a) engine verdicts/s and (b) the linear-walk baseline, same machines, same run; plus
    the same decisions indexed but without traces (a floor for a trace-free fast path).

    Timing rounds are interleaved (every size and every variant once per round), so a change
    in machine load during the run hits all of them alike and the ratios stay meaningful."""
    title = "(a)+(b) single-page verdicts/s: engine vs linear-walk baseline"
    t = Table(
        title,
        [
            "resources",
            "top-level",
            "op",
            "engine /s",
            "us/verdict",
            "6.16 walk /s",
            "engine / walk",
            "full walk /s",
            "engine / full",
            "visits/verdict (6.16, full)",
            "indexed no-trace /s",
            "agree",
        ],
    )
    data: dict[str, Any] = {}
    jobs: dict[tuple[int, str, str], tuple[Callable[[], object], int]] = {}
    info: dict[tuple[int, str], dict[str, Any]] = {}
    for n in s.sizes:
        m, _ = machine(n)
        pages = sample_pages(m.tree, s.samples)
        bpages = pages[: s.baseline_samples(n)]
        bc_new = bl.BaselineConfig.from_kernel(m.config)
        bc_full = bl.BaselineConfig.from_kernel(m.config, full_walk=True)
        eng = {"read": partial(_engine_reads, m, pages), "mmap": partial(_engine_mmaps, m, pages)}
        outcomes = dict(zip(("read", "mmap"), _engine_outcomes(m, bpages), strict=True))
        for op in ("read", "mmap"):
            c_new, c_full = bl.WalkCounter(), bl.WalkCounter()
            got = [
                _answers(op, "walk", m, bpages, bc_new, c_new),
                _answers(op, "walk", m, bpages, bc_full, c_full),
                _answers(op, "indexed", m, bpages, bc_new, bl.WalkCounter()),
            ]
            want = outcomes[op]
            mix: dict[str, int] = {}
            for w in want:
                mix[w] = mix.get(w, 0) + 1
            info[(n, op)] = {
                "agree": sum(len({w, *g}) == 1 for w, *g in zip(want, *got, strict=True)),
                "compared": len(bpages),
                "visits_616": c_new.visits / len(bpages),
                "visits_full": c_full.visits / len(bpages),
                "mix": mix,
                "top": len(m.tree.root.children),
            }
            jobs[(n, op, "engine")] = (eng[op], len(pages))
            jobs[(n, op, "indexed")] = (
                partial(_answers, op, "indexed", m, pages, bc_new, bl.WalkCounter()),
                len(pages),
            )
            jobs[(n, op, "walk")] = (
                partial(_answers, op, "walk", m, bpages, bc_new, bl.WalkCounter()),
                len(bpages),
            )
            jobs[(n, op, "full")] = (
                partial(_answers, op, "walk", m, bpages, bc_full, bl.WalkCounter()),
                len(bpages),
            )
    times: dict[tuple[int, str, str], list[float]] = {k: [] for k in jobs}
    runs_b = max(1, s.runs // 2)  # the walks are slow: fewer rounds
    for r in range(s.runs):
        for key, (fn, _count) in jobs.items():
            if key[2] in ("walk", "full") and r >= runs_b:
                continue
            times[key].append(median_time(fn, 1)[0])
    rate = {k: jobs[k][1] / statistics.median(v) for k, v in times.items()}
    for n in s.sizes:
        for op in ("read", "mmap"):
            d = info[(n, op)]
            r_e, r_w, r_f, r_i = (rate[(n, op, k)] for k in ("engine", "walk", "full", "indexed"))
            per = 1 / r_e
            t.rows.append(
                [
                    f"{n:,}",
                    f"{d['top']:,}",
                    op,
                    fmt_rate(r_e),
                    f"{per * 1e6:.1f}",
                    fmt_rate(r_w),
                    f"{r_e / r_w:.1f}x",
                    fmt_rate(r_f),
                    f"{r_e / r_f:.0f}x",
                    f"{d['visits_616']:,.0f}, {d['visits_full']:,.0f}",
                    fmt_rate(r_i),
                    f"{d['agree']}/{d['compared']}",
                ]
            )
            data[f"{n}/{op}"] = {
                "engine_per_s": r_e,
                "engine_us": per * 1e6,
                "baseline_616_per_s": r_w,
                "baseline_full_per_s": r_f,
                "indexed_no_trace_per_s": r_i,
                "cost_ratio_vs_smallest": rate[(s.sizes[0], op, "engine")] / r_e,
                **d,
            }
    t.notes.append(
        "engine: Machine.read(addr, 4096) and mmap.mmap_mem(..., dry_run=True) on random "
        "pages (90% inside a random resource, 10% anywhere below 4 GiB); median of "
        f"{s.runs} rounds of {s.samples:,} verdicts (walks: {runs_b} rounds)."
    )
    t.notes.append(
        "baseline (benchmarks/baseline.py) answers a prefix of the same pages with "
        "kernel/resource.c's walks: '6.16 walk' = region_intersects over every top-level "
        "resource (+ for_each_resource over a non-matching one's subtree, 6.12+) and "
        "iomem_is_exclusive's for_each_resource with skip_children (5.16+); 'full walk' = the "
        "<= 5.15 iomem_is_exclusive walk that visits every resource before the page."
    )
    t.notes.append(
        "indexed no-trace = the same decisions by bisect descent, with no trace strings or "
        "Verdict objects: what the bare lookups cost, i.e. a floor for the engine."
    )
    t.notes.append(
        "agree = pages where the engine, both walks and the indexed version give the "
        "same outcome word."
    )
    for n in s.sizes:
        mixes = "; ".join(
            f"{op} " + ", ".join(f"{k} {v}" for k, v in sorted(info[(n, op)]["mix"].items()))
            for op in ("read", "mmap")
        )
        t.notes.append(f"outcomes of the compared pages at {n:,}: {mixes}")
    for op in ("read", "mmap"):
        big = data.get(f"{s.sizes[-1]}/{op}")
        if big:
            t.notes.append(
                f"{op}: cost({s.sizes[-1]:,}) / cost({s.sizes[0]:,}) = "
                f"{big['cost_ratio_vs_smallest']:.2f}"
            )
    t.data = data
    return t


# ----------------------------------------------------------------------------- (c)
def _vmem_state_size(vm: object) -> int:
    """Bytes of one virtio-mem device + driver state, not counting the machine, its resource
    tree or the resources it points at."""
    return deep_size(vm, stop=(Machine, ResourceTree, Resource))


def vmem(s: Settings) -> Table:
    """(c) vmem resize 0 -> size -> 0: wall time, tracemalloc peak, device state size."""
    t = Table(
        "(c) virtio-mem resize (2 MiB blocks): plug-all and unplug-all",
        [
            "device",
            "step",
            "wall (median)",
            "tracemalloc peak",
            "state size",
            "runs",
            "iomem resources under device",
        ],
    )
    data: dict[str, Any] = {}
    m0, info = machine(s.sizes[0])

    def fresh(size: int) -> tuple[Machine, Any]:
        m = Machine(m0.tree.copy(), m0.config.copy(), name="vmem-bench")
        vm = vmem_driver.add_device(m, "vmem0", info.vmem_base, size, 2 * MiB, 0)
        return m, vm

    for size in s.vmem_sizes:
        label = f"{size // GiB:,} GiB"
        plug_times, unplug_times = [], []
        for _ in range(s.runs if size < TiB else max(3, s.runs - 2)):
            m, vm = fresh(size)
            t0 = time.perf_counter()
            vm.resize(size)
            plug_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            vm.resize(0)
            unplug_times.append(time.perf_counter() - t0)
        m, vm = fresh(size)
        empty_size = _vmem_state_size(vm)
        tracemalloc.start()
        vm.resize(size)
        _, peak_plug = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        dev = vm.device
        full_size = _vmem_state_size(vm)
        full_runs = len(dev.blocks)
        plugged_ok = dev.plugged_size == size
        res_full = sum(1 for _ in m.tree.walk_from(_parent(m, dev.addr))) - 1
        tracemalloc.start()
        vm.resize(0)
        _, peak_unplug = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        after_runs = len(dev.blocks)
        res_empty = sum(1 for _ in m.tree.walk_from(_parent(m, dev.addr))) - 1
        med_p = sorted(plug_times)[len(plug_times) // 2]
        med_u = sorted(unplug_times)[len(unplug_times) // 2]
        t.rows.append(
            [
                label,
                "0 -> all",
                fmt_s(med_p),
                fmt_bytes(peak_plug),
                fmt_bytes(full_size),
                str(full_runs),
                str(res_full),
            ]
        )
        t.rows.append(
            [
                label,
                "all -> 0",
                fmt_s(med_u),
                fmt_bytes(peak_unplug),
                fmt_bytes(_vmem_state_size(vm)),
                str(after_runs),
                str(res_empty),
            ]
        )
        data[label] = {
            "plug_s": med_p,
            "unplug_s": med_u,
            "peak_plug": peak_plug,
            "peak_unplug": peak_unplug,
            "state_empty": empty_size,
            "state_full": full_size,
            "runs_full": full_runs,
            "plugged_all": plugged_ok,
        }
        if not plugged_ok:
            t.notes.append(f"{label}: plugged only {dev.plugged_size:#x} of {size:#x}")
    # Worst allowed pattern: 999 runs (every other block of the first 1998), raw device plugs.
    size = s.vmem_sizes[-1]
    m, vm = fresh(size)
    dev = vm.device
    dev.set_requested_size(size)
    for i in range(999):
        dev.plug(dev.addr + 2 * i * dev.block_size, 1)
    pat = _vmem_state_size(vm)
    t.rows.append(
        [
            f"{size // GiB:,} GiB",
            "999-run pattern",
            "-",
            "-",
            fmt_bytes(pat),
            str(len(dev.blocks)),
            "-",
        ]
    )
    data["pattern_999_runs"] = pat
    t.notes.append(
        "state size = deep sys.getsizeof of the VirtioMem object (device + driver state), not "
        "following the Machine, the resource tree or its resources; target < 1 MiB."
    )
    t.notes.append(
        "tracemalloc peak is measured in a separate run (tracing slows the code); "
        f"wall time is the median of several fresh devices on the {s.sizes[0]:,}-"
        "resource map."
    )
    t.data = data
    return t


def _parent(m: Machine, addr: int) -> Resource:
    chain = m.tree.chain_at(addr)
    return chain[0] if chain else m.tree.root


# ----------------------------------------------------------------------------- (d)
def iomem_text(s: Settings) -> Table:
    """(d) /proc/iomem render and parse of the largest map."""
    n = s.sizes[-1]
    m, _ = machine(n)
    t = Table(
        f"(d) iomem_text on the {n:,}-resource map",
        ["operation", "median", "per resource", "output"],
    )
    runs = max(3, s.runs - 2)
    tr, _ = median_time(lambda: it.render(m.tree), runs)
    text = it.render(m.tree)
    tf, _ = median_time(lambda: it.render(m.tree, flags=True), runs)
    text_flags = it.render(m.tree, flags=True)
    tp, _ = median_time(lambda: it.parse(text_flags, "bench"), runs)
    parsed = it.parse(text_flags, "bench")
    ptree = parsed if isinstance(parsed, ResourceTree) else getattr(parsed, "tree", parsed)
    same = it.render(ptree, flags=True) == text_flags if isinstance(ptree, ResourceTree) else None
    tp2, _ = median_time(lambda: it.parse(text, "bench"), runs)
    t.rows.append(["render", fmt_s(tr), fmt_s(tr / n), f"{len(text):,} chars"])
    t.rows.append(["render(flags=True)", fmt_s(tf), fmt_s(tf / n), f"{len(text_flags):,} chars"])
    t.rows.append(
        [
            "parse (annotated)",
            fmt_s(tp),
            fmt_s(tp / n),
            "round trip identical" if same else f"round trip: {same}",
        ]
    )
    t.rows.append(["parse (plain, flags inferred)", fmt_s(tp2), fmt_s(tp2 / n), ""])
    t.data = {
        "render_s": tr,
        "render_flags_s": tf,
        "parse_s": tp,
        "parse_plain_s": tp2,
        "roundtrip": same,
    }
    return t


# ----------------------------------------------------------------------------- (e) + (f)
def playback(s: Settings) -> Table:
    """(e) `devmem-tui play` of a generated scenario of many read lines."""
    importlib.import_module("devmem_tui.scenario.player")
    t = Table(
        "(e) scenario playback (`devmem-tui play`, subprocess)",
        ["lines", "wall (median)", "lines/s (marginal)"],
    )
    m = Machine.from_preset("qemu-x86-virtio-mem")
    pages = sample_pages(m.tree, s.play_lines, seed=5)
    walls = {}
    with tempfile.TemporaryDirectory() as d:
        for count in (10, s.play_lines):
            path = os.path.join(d, f"reads-{count}.scenario")
            with open(path, "w", encoding="utf-8") as f:
                f.write("# generated by benchmarks: many single-page reads\n")
                for a in pages[:count]:
                    f.write(f"read {a:#x}\n")

            def run(path: str = path) -> None:
                p = subprocess.run(
                    [*cli_argv(), "play", path], capture_output=True, text=True, check=False
                )
                if p.returncode not in (0, 1):
                    raise RuntimeError(f"play exited {p.returncode}: {p.stderr.strip()[-200:]}")

            walls[count], _ = median_time(run, max(3, s.runs - 2))
    rate = (s.play_lines - 10) / max(1e-9, walls[s.play_lines] - walls[10])
    t.rows.append(["10", fmt_s(walls[10]), "-"])
    t.rows.append([f"{s.play_lines:,}", fmt_s(walls[s.play_lines]), fmt_rate(rate)])
    t.notes.append(
        "marginal rate = extra lines / extra wall time over the 10-line run, so "
        "process start-up is not counted; the transcript goes to a pipe."
    )
    t.data = {"walls": walls, "lines_per_s": rate}
    return t


_IMPORT_PROBE = (
    "import sys, time\n"
    "t0 = time.perf_counter()\n"
    "from devmem_tui.frontends import cli\n"
    "sys.argv = ['devmem-tui', 'run', '-c', 'read 0x1000']\n"
    "try:\n"
    "    cli.main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "bad = sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'prompt_toolkit', 'rich'})\n"
    "sys.stderr.write('UI-MODULES:' + ','.join(bad) + '\\n')\n"
)


def startup(s: Settings) -> Table:
    """(f) process start -> first result for `devmem-tui run -c 'read 0x1000'`."""
    importlib.import_module("devmem_tui.frontends.cli")
    t = Table(
        "(f) `devmem-tui run -c 'read 0x1000'` end to end (subprocess)",
        ["what", "median", "min", "max", "output"],
    )
    cmd = [*cli_argv(), "run", "-c", "read 0x1000"]
    out: list[str] = []

    def run() -> None:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
        out.append(p.stdout.strip().splitlines()[0] if p.stdout.strip() else p.stderr[-100:])

    med, times = median_time(run, s.startup_runs)
    t.rows.append(
        ["devmem-tui run", fmt_s(med), fmt_s(min(times)), fmt_s(max(times)), out[-1][:60]]
    )
    medp, timesp = median_time(
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=False), s.startup_runs
    )
    t.rows.append(
        ["bare `python -c pass`", fmt_s(medp), fmt_s(min(timesp)), fmt_s(max(timesp)), ""]
    )
    probe = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=False
    )
    ui = [ln for ln in probe.stderr.splitlines() if ln.startswith("UI-MODULES:")]
    loaded = ui[0].split(":", 1)[1] if ui else f"probe failed: {probe.stderr[-200:]}"
    t.notes.append(f"UI modules imported by the run path: {loaded or 'none'} (must be none).")
    t.data = {"median_s": med, "times": times, "python_s": medp, "ui_modules": loaded}
    return t


# ----------------------------------------------------------------------------- (g)
def tui_machine(s: Settings) -> Machine:
    """The largest map with a 1 TiB virtio-mem device, half plugged (so the block map shows
    both states and the tree has the device's nodes)."""
    m0, info = machine(s.sizes[-1])
    m = Machine(m0.tree.copy(), m0.config.copy(), name="tui-bench")
    vm = vmem_driver.add_device(m, "vmem0", info.vmem_base, TiB, 2 * MiB, 0)
    vm.resize(TiB // 2)
    m.drain_events()
    return m


def tui(s: Settings) -> Table:
    """(g) benchmarks/tui_bench.py: first paint and keypress-to-repaint latencies."""
    n = s.sizes[-1]
    t = Table(
        f"(g) TUI latency on the {n:,}-resource map with a 1 TiB device "
        "(benchmarks/tui_bench.py, headless 120x40)",
        ["measurement", "n", "median", "p95", "max"],
    )
    m = tui_machine(s)
    # The app holds one machine: drop the suite's cached maps so the collector's work (which
    # grows with every live object) is what a real session would see.
    clear_machines()
    gc.collect()
    result = bench_tui(m, (120, 40), 10 if s.quick else 40)
    for key, val in result.items():
        if key == "first_paint_s":
            t.rows.append(["first paint", "1", fmt_s(val), "", ""])
        elif isinstance(val, dict) and "median" in val:
            t.rows.append(
                [
                    key.removesuffix("_ms").replace("_", " "),
                    str(val["n"]),
                    f"{val['median']:.1f} ms",
                    f"{val['p95']:.1f} ms",
                    f"{val['max']:.1f} ms",
                ]
            )
    t.notes.append(
        "a repaint = from sending the key until the app processed it and rendered "
        "(pilot.pause()); blocks = the virtio-mem block map, tree = the iomem tree."
    )
    other = {k: v for k, v in result.items() if not isinstance(v, (dict, float))}
    t.notes.append(f"other fields: {other}")
    t.data = {"result": result}
    return t


def sweeps(s: Settings) -> Table:
    """(h) benchmarks/sweep_bench.py: sweep cost per map size and on a fragmented 1 TiB device."""
    return sweep_section(s, machine)


def scaling(s: Settings) -> Table:
    """(i) benchmarks/scaling.py: every operation against every dimension it could grow with."""
    return scaling_table(s.quick, 3 if s.quick else 7)


def memory(s: Settings) -> Table:
    """(j) benchmarks/memory.py: peak RSS against the number of commands run."""
    return memory_table(s.quick)


def run_mmaps(s: Settings) -> Table:
    """(k) benchmarks/memory.py: n mmaps through ``devmem-tui run``, per mmap."""
    return run_mmaps_table(s.quick)


SECTIONS: dict[str, Callable[[Settings], Table]] = {
    "verdicts": verdicts,
    "vmem": vmem,
    "iomem": iomem_text,
    "play": playback,
    "startup": startup,
    "tui": tui,
    "sweep": sweeps,
    "scaling": scaling,
    "memory": memory,
    "mmaps": run_mmaps,
    "snapshot": snapshot,
}


def run_all(
    s: Settings, only: list[str] | None = None, emit: Callable[[Table], None] | None = None
) -> list[Table]:
    tables = []
    for name, fn in SECTIONS.items():
        if only and name not in only:
            continue
        tab = guarded(name, lambda fn=fn: fn(s))  # type: ignore[misc]
        tables.append(tab)
        if emit:
            emit(tab)
    return tables
