"""TUI latency benchmark: time to first paint, and keypress-to-repaint while scrolling the
block map and expanding the tree, on a machine the caller passes in.

    from benchmarks.tui_bench import bench_tui
    stats = bench_tui(Machine.from_preset("qemu-x86-virtio-mem"))
    # {'first_paint_s': ..., 'blocks_scroll_ms': {'median': ..., 'p95': ..., 'max': ...}, ...}

Runs headless (``App.run_test``); a "repaint" is measured as the time from sending the key
until the app has processed it and rendered (``pilot.pause()`` waits for the message queue
and the screen update). ``noop_key_ms`` is the same measurement for an unbound key: Pilot's
own per-key wait, which every other series includes. Nothing here changes the machine
(scrolling and expanding do not run commands).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine


def _stats(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    if not ms:
        return {"n": 0, "median": 0.0, "p95": 0.0, "max": 0.0}
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"n": len(ms), "median": statistics.median(ms), "p95": p95, "max": ms[-1]}


async def _time_key(pilot: Any, key: str, presses: int) -> dict[str, float]:
    """Press ``key`` ``presses`` times; the stats of key-to-repaint (press + pause) times."""
    samples: list[float] = []
    for _ in range(presses):
        t = time.perf_counter()
        await pilot.press(key)
        await pilot.pause()
        samples.append(time.perf_counter() - t)
    return _stats(samples)


async def bench_tui_async(
    machine: Machine, size: tuple[int, int] = (120, 40), presses: int = 40
) -> dict[str, Any]:
    """The benchmark as a coroutine (for callers already inside an event loop)."""
    # lazy: textual loads only when the TUI is measured (the suite imports this module)
    from devmem_tui.commands.session import Session
    from devmem_tui.frontends.tui.app import DevmemApp
    from devmem_tui.frontends.tui.widgets.block_map import BlockMap
    from devmem_tui.frontends.tui.widgets.iomem_tree import IomemTree

    app = DevmemApp(Session(machine), keymap={})
    t0 = time.perf_counter()
    result: dict[str, Any] = {"size": list(size)}
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        result["first_paint_s"] = time.perf_counter() - t0

        bm = app.query_one(BlockMap)
        bm.focus()
        await pilot.pause()
        # Pilot itself waits for every widget to drain its queue after each key; a key
        # bound to nothing measures that floor, to subtract from the series below.
        result["noop_key_ms"] = await _time_key(pilot, "f19", presses)
        result["blocks_scroll_ms"] = await _time_key(pilot, "pagedown", presses)
        result["blocks_cursor_ms"] = await _time_key(pilot, "down", presses)
        result["blocks_rows"] = bm.geo.rows if bm.geo else 0

        tree = app.query_one(IomemTree)
        tree.focus()
        await pilot.press("home")
        await pilot.pause()
        samples: list[float] = []
        nodes = [n for n in tree.root.children if n.allow_expand]
        for node in nodes[:presses]:
            tree.move_cursor(node)
            await pilot.pause()
            t = time.perf_counter()
            await pilot.press("l")
            await pilot.pause()
            samples.append(time.perf_counter() - t)
        result["tree_expand_ms"] = _stats(samples)
        result["tree_cursor_ms"] = await _time_key(pilot, "down", presses)
    return result


def bench_tui(
    machine: Machine, size: tuple[int, int] = (120, 40), presses: int = 40
) -> dict[str, Any]:
    """Run the TUI headless on machine and return latencies (seconds for first paint,
    milliseconds {n, median, p95, max} for each key series)."""
    return asyncio.run(bench_tui_async(machine, size, presses))
