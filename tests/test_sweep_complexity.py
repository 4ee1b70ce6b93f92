"""Complexity guards for the sweep (counted work, not wall-clock; the benchmark (h) has the
times): the verdicts a sweep makes and the engine lines it runs grow with the resources of the
map, never with the size of memory. Cheap sizes: 1k against 4k resources, and a virtio-mem
device of 16 GiB against one of 1 TiB cut into the same number of runs."""

from __future__ import annotations

import pytest
from test_complexity import LineCounter

from benchmarks.machines import GiB, TiB, build_machine
from benchmarks.sweep_bench import fragmented_tib
from devmem_tui.engine.devmem.edges import verdict_edges
from devmem_tui.engine.devmem.sweep import OPS, phys_limit, sweep
from devmem_tui.engine.machine import Machine

SMALL, BIG = 1_000, 4_000


def verdicts(m: Machine, op: str) -> int:
    """How many one-page accesses a sweep of the physical address space makes."""
    return len(verdict_edges(m, op, 0, phys_limit(m) - 1)) + 1


def lines(m: Machine, op: str) -> int:
    with LineCounter() as c:
        sweep(m, op, 0, phys_limit(m) - 1)
    return c.lines


@pytest.mark.parametrize("op", ["read", "mmap"])
def test_sweep_work_grows_with_the_resources(op: str) -> None:
    small, big = build_machine(SMALL)[0], build_machine(BIG)[0]
    for m in (small, big):
        assert verdicts(m, op) <= 2 * len(m.tree) + 8  # two edges per resource at most
    ratio = lines(big, op) / lines(small, op)
    assert ratio <= 1.5 * BIG / SMALL, ratio  # linear in resources, nothing quadratic


def test_sweep_work_does_not_grow_with_memory() -> None:
    """Same map, same 200 runs of plugged/unplugged sub-blocks: on a 16 GiB device and on a
    1 TiB one the sweeps make the same verdicts and give the same rows. The one thing that
    grows with memory is reading the device's memory-block table once per sweep (where the
    memory state changes): a few lines per 128 MiB block, never a verdict."""
    m0, info = build_machine(SMALL)
    small = fragmented_tib(m0, info, runs=200, size=16 * GiB)
    big = fragmented_tib(m0, info, runs=200, size=TiB)
    for op in OPS:
        assert verdicts(small, op) == verdicts(big, op), op
    rows = sweep(big, "kcore", 0, phys_limit(big) - 1)
    assert len(rows) == len(sweep(small, "kcore", 0, phys_limit(small) - 1)) >= 200
    extra_blocks = (TiB - 16 * GiB) // big.memory_block_size
    assert lines(big, "kcore") - lines(small, "kcore") <= 40 * extra_blocks
    assert lines(big, "mmap") <= 1.1 * lines(small, "mmap")  # mmap reads no memory state


def test_the_benchmark_section_runs_on_a_tiny_machine() -> None:
    from benchmarks import suite
    from benchmarks.sweep_bench import sweep_section

    s = suite.Settings(sizes=(300, 600), runs=1, samples=40)
    t = sweep_section(s, suite.machine, runs=200)
    assert [row[1] for row in t.rows[:4]] == list(OPS)
    assert t.data["1 TiB device, 200 runs/kcore"]["rows"] >= 200
    assert "met" in t.notes[0]
