"""Keeping a big machine's objects out of the garbage collector's full collections."""

from __future__ import annotations

import gc

from devmem_tui.engine.machine import Machine

BIG_MAP = 5_000  # resources; below this a full garbage collection is cheap


def settle_heap(machine: Machine, replaced: bool) -> None:
    """Keep a big machine out of the cyclic garbage collector's full collections.

    A 100k-resource map with a 1 TiB device is ~900,000 tracked objects; every generation-2
    collection walks them all (~1 s here) and lands on some keypress (docs/performance.md:
    2.7 s of a 14.6 s TUI benchmark, 0.23 s with this). ``gc.freeze()`` moves what is alive now
    to the permanent generation. When a machine is replaced, unfreeze and collect first, so the
    old machine's parent/child cycles are still reclaimed. Only GC timing changes. Whether the
    heap is frozen is the interpreter's own state (``gc.get_freeze_count()``), per process."""
    big = len(machine.tree) >= BIG_MAP
    if replaced and (big or gc.get_freeze_count()):
        gc.unfreeze()
        gc.collect()
    if big:
        gc.freeze()
