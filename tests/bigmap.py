"""The 100,000-resource map that the transaction, fuzz and reliability tests also run on, and
``StateWatch``, which proves a machine's full saved state unchanged at the price of what could
have changed.

The map is ``benchmarks.machines.build_machine(100_000)`` (a big x86-64 server: NUMA RAM,
thousands of PCI buses with BARs and driver claims) with a 16 GiB virtio-mem device in its free
hole, 1 GiB of it plugged and online, a pinned page, live mappings (one of them revoked by a
claim) and IO_STRICT_DEVMEM on. It is built once per test process; each test takes a fresh
session from its saved state (``big_session``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from benchmarks.machines import build_machine
from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state
from devmem_tui.engine.machine import Machine

BIG = 100_000


@dataclass(frozen=True)
class BigMap:
    doc: dict[str, Any]  # the saved state of the base session
    bars: tuple[int, ...]  # free PCI BAR pages (not busy, no children) below 4 GiB
    vmem: int  # the virtio-mem device's address
    setup: tuple[str, ...]  # the lines that made the base from the generated map


@functools.cache
def big_map() -> BigMap:
    machine, info = build_machine(BIG)
    bars = tuple(
        r.start
        for _, r in machine.tree.walk()
        if r.name.startswith("0000:") and not r.busy and not r.children and r.end < 1 << 32
    )[:4]
    base = info.vmem_base
    setup = (
        f"vmem add vmem0 {base:#x} 16G",
        "vmem resize vmem0 1G",
        f"pin {base + 0x200000:#x}",
        f"mmap {bars[0]:#x} 8192",
        f"mmap {bars[1]:#x} 4096 private",
        "set io_strict_devmem on",
        f"claim {bars[1]:#x}+4K mydrv",
        f"mmap {bars[2]:#x} 4096",
    )
    s = Session(machine)
    for line in setup:
        r = s.execute(line)
        assert r is not None and r.ok and r.outcome in ("OK", "DONE"), (line, r and r.message)
    return BigMap(state.to_dict(s.machine), bars, base, setup)


def big_session() -> Session:
    """A fresh session on the big base (opened from its saved state, as ``open`` does)."""
    return Session(state.from_dict(big_map().doc))


def tree_image(machine: Machine) -> list[tuple[int, int, int, str, int, str]]:
    """The resource tree as the saved state holds it (nesting, ranges, names, flags, desc),
    as plain tuples: a third of the cost of ``state.to_dict``'s resources."""
    return [(d, r.start, r.end, r.name, r.flags.real, r.desc) for d, r in machine.tree.walk()]


class StateWatch:
    """The full saved state of a session's machine (``state.to_dict``), taken once, and a
    check that it is unchanged after each command that must change nothing.

    Everything but the resource tree is compared in full after every command (it costs little
    on any map). The tree's part is compared in full whenever the tree's ``generation`` moved:
    every change of the tree moves it (``ResourceTree._notify`` and ``_mark_flags``; resources
    are changed nowhere else), so an unchanged generation means an unchanged tree, and a tree
    a failed command changed and its undo changed back is compared resource by resource."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.doc = state.to_dict(machine)
        self.generation = machine.tree.generation
        self.full_compares = 0

    def check(self, machine: Machine, where: str) -> None:
        assert machine is self.machine, f"{where}: the machine was replaced"
        rest = state.to_dict(machine, resources=False)
        want = {k: v for k, v in self.doc.items() if k != "resources"}
        assert rest == want, f"{where}: changed the state: {_first_difference(want, rest)}"
        if machine.tree.generation != self.generation:
            self.full_compares += 1
            got = state.to_dict(machine)["resources"]
            assert got == self.doc["resources"], f"{where}: changed the resource tree"
            self.generation = machine.tree.generation


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}/{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}/{i}")
    return f"{path or '/'}: {str(a)[:120]} -> {str(b)[:120]}"
