"""A complexity guard per dimension: every case of the scaling table (benchmarks/scaling.py)
at its cheap sizes, with the work of one operation counted in Python lines executed inside
devmem_tui and its sorted containers (``LineCounter``, as tests/test_complexity.py does), so
the guard does not depend on the machine's speed or load. An O(log n) or O(changes)
operation may cost at most 2x the lines at the larger size; open, save and iomem, which
read or write every resource, at most 1.2x the size ratio.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_complexity import LineCounter

from benchmarks.scaling import CASES, Case, allowed

_CTX: dict[tuple[int, int], Any] = {}  # (case index, size) -> context, built once


def lines_of_one(case: Case, ctx: Any) -> int:
    case.op(ctx)  # warm: caches and indexes built on first use are not the operation's work
    with LineCounter() as c:
        case.op(ctx)
    return c.lines


@pytest.mark.parametrize(
    "index", range(len(CASES)), ids=[f"{c.dimension}: {c.operation}" for c in CASES]
)
def test_cost_grows_as_the_dimension_allows(index: int) -> None:
    case = CASES[index]
    small, large = case.cheap[0], case.cheap[-1]
    lines = {}
    for n in (small, large):
        ctx = _CTX.get((index, n))
        if ctx is None:
            ctx = _CTX[index, n] = case.build(n)
        lines[n] = lines_of_one(case, ctx)
    ratio = lines[large] / lines[small]
    limit = allowed(case, small, large)
    assert ratio <= limit, (
        f"{case.dimension}: {case.operation}: {lines[small]} lines at {case.unit(small)}, "
        f"{lines[large]} at {case.unit(large)} ({ratio:.2f}x, at most {limit:g}x allowed)"
    )


def test_the_table_covers_every_dimension() -> None:
    dims = {c.dimension for c in CASES}
    for want in (
        "resources",
        "live mappings",
        "zapped ranges",
        "pins",
        "devices",
        "device size",
        "length",
        "runs",
        "hwpoisoned pfns",
    ):
        assert want in dims
