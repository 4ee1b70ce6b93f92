"""Where the verdict of a one-page access can change: what each rule reads, as addresses.

A one-page ``read``, ``write``, ``mmap`` or ``kcore`` is decided by the rules of rules.py,
arch_hooks.py, rw.py, mmap.py and kcore.py from the configuration and a few facts about the
machine, each tied to addresses. Between two consecutive addresses that ``verdict_edges``
returns none of those facts changes, so every page there gets the verdict of the first one: that
is what lets the sweep (sweep.py) decide a whole address space with one verdict per run of pages
instead of one per page, at a cost that grows with the number of resources and never with the
size of memory.

This module is the one place that lists what the rules read. A rule that starts reading
something new must add its edges here; tests/test_sweep.py compares the sweep with single
accesses at random pages of every preset and of random maps, under random configurations.

What the rules read, and the edges it gives:

=========================  ==============================================  ====================
input                      rules that read it                              ops
=========================  ==============================================  ====================
top-level resources        ``region_intersects`` ("other" when not RAM)    read, write, mmap
busy resources, any depth  ``iomem_is_exclusive``, ``page_is_ram``,        read, write, mmap
                           ``memblock_region``, ``ioremap_refuses_ram``,
                           ``busy_excluded``
System RAM, busy or not,   ``region_intersects`` (descendants from 6.12),  read, write, mmap
any depth                  ``iomem_is_exclusive`` (SYSTEM_RAM|EXCLUSIVE),
                           ``rfc2021_excluded``
busy System RAM only       ``page_is_ram`` (``kcore_page`` reads no other  kcore
                           resource)
the first MiB (pfn 256)    x86 ``devmem_is_allowed``, ``busy_excluded``,   read, write, mmap
                           ``pat_pagerange_is_ram`` (``_pat_is_ram``)
the legacy ISA range       ``reserve_pfn_range`` (untracked)               mmap
``high_memory``            x86 ``valid_phys_addr_range``                   read, write
the physical address       ``valid_mmap_phys_addr_range``                  mmap
limit
128 MiB sections holding   ``pfn_valid`` (in ``xlate_dev_mem_ptr``)        read, write
busy System RAM
memory state               ``kcore_page`` (5.14+ filter)                   kcore
(``memory_state``: blocks,
sub-blocks, hwpoison)
live /dev/mem mappings     ``reserve_pfn_range`` (PAT memtypes)            mmap
=========================  ==============================================  ====================

No rule reads a resource that is below the top level, not busy and not System RAM (a PCI
BAR without a driver, a bridge window): such resources give no edges.

The memory state also picks the words read and write use for the data they return
(``data_kind``), but not their outcome or deciding check, which is all a sweep row says. The
same holds for what the resources are called (firmware memory, live kmem RAM, persistent
memory: ``_io_kind``), for the firmware's MTRRs and arm64's ``phys_mem_access_prot()``: they
pick the memtype a mapping gets (``memtype.py``), and a one-page WB request takes whatever
memtype it is handed (``is_new_memtype_allowed(WB, x)`` holds for every x), so neither gives
an edge. Lockdown refuses ``open()`` itself, for every page alike.

An edge is the first byte of something new. Where it falls inside a page, that page holds both
sides and is a run of its own: both of its ends are edges.

One shortcut, from the order of the checks: on x86 ``read_mem()``/``write_mem()`` call
``valid_phys_addr_range()`` before any other rule, and it fails for every page from
``high_memory`` (rounded down to a page) on. Nothing above that address can change a read or
write verdict, so no edge above it is listed for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devmem_tui.engine.devmem.arch_hooks import ARM64_PHYS_MASK_SHIFT, SECTION_SIZE
from devmem_tui.engine.devmem.memtype import ISA_START
from devmem_tui.engine.devmem.rules import LOW_PFNS
from devmem_tui.engine.iomem.resource import F, Resource
from devmem_tui.engine.units import ADDR_MAX, PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

OPS = ("read", "write", "mmap", "kcore")
_PAGE_MASK = PAGE_SIZE - 1
_SYSTEM_RAM_BUSY = int(F.MEM | F.SYSRAM | F.BUSY)
_READ = int(F.BUSY | F.SYSRAM)  # a nested resource with neither bit is read by no rule


def _cut(out: set[int], b: int) -> None:
    """Record that something new starts at byte b; a page that b splits is a run of its own."""
    if b & _PAGE_MASK:
        b &= ~_PAGE_MASK
        out.add(b + PAGE_SIZE)
    out.add(b)


def _resources(
    node: Resource, lo: int, hi: int, out: set[int], ram: list[Resource], only_ram: bool
) -> None:
    """Edges of node's descendants overlapping [lo, hi] that some rule reads (bisecting into
    each level, like ``TreeWalker.overlapping``); busy System RAM ones are also collected in
    ``ram``, and with ``only_ram`` they are the only ones that give edges."""
    kids = node.children
    i = 0
    if len(kids) > 8:  # bisect into long child lists, as the walks do
        a, b = 0, len(kids)
        while a < b:
            mid = (a + b) // 2
            if kids[mid].end < lo:
                a = mid + 1
            else:
                b = mid
        i = a
    for c in kids[i:]:
        if c.start > hi:
            break
        if c.end < lo:
            continue
        if c.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            ram.append(c)
            _cut(out, c.start)
            _cut(out, c.end + 1)
        elif not only_ram and (node.parent is None or c.flags.real & _READ):
            _cut(out, c.start)
            _cut(out, c.end + 1)
        if c.children:
            _resources(c, lo, hi, out, ram, only_ram)


def memory_state_edges(machine: MachineLike, out: set[int], lo: int, hi: int) -> None:
    """Where ``memory_state()`` can change in [lo, hi]: the own list of each device whose
    region overlaps it (``memory_state_edges``, kept next to its ``memory_state``) and both
    ends of every hwpoisoned page in it (bisected: the rest of the set is not visited)."""
    for dev in machine.vmem.values():
        start, end = dev.region()
        if start <= hi and end >= lo:
            for b in dev.memory_state_edges():
                _cut(out, b)
    for pfn in machine.hwpoison.in_range(lo >> PAGE_SHIFT, hi >> PAGE_SHIFT):
        out.add(pfn << PAGE_SHIFT)
        out.add((pfn + 1) << PAGE_SHIFT)


def phys_limit(machine: MachineLike) -> int:
    """One past the last physical address the configured CPU can reach: 2^phys_bits on x86
    (``phys_addr_valid()``), 2^48 on arm64 (CONFIG_ARM64_PA_BITS=48)."""
    sw = machine.config.switches
    return 1 << (sw.phys_bits if sw.x86 else ARM64_PHYS_MASK_SHIFT)


def verdict_edges(machine: MachineLike, op: str, lo: int, hi: int) -> list[int]:
    """The page addresses in (lo, hi], ascending, at which the verdict of a one-page ``op``
    (read, write, mmap, kcore) may differ from the page before; see the module docstring."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}")
    sw = machine.config.switches
    out: set[int] = set()
    top = hi
    if op in ("read", "write") and sw.x86:
        # valid_phys_addr_range() decides every page from here on, before any other rule
        cap = machine.high_memory & ~_PAGE_MASK
        out.add(cap)
        top = min(hi, cap)
    ram: list[Resource] = []
    if lo <= top:
        walk_lo = max(0, lo - SECTION_SIZE)
        walk_hi = min(ADDR_MAX, top + SECTION_SIZE)
        _resources(machine.tree.root, walk_lo, walk_hi, out, ram, only_ram=op == "kcore")
    if op != "kcore":
        out.add(LOW_PFNS << PAGE_SHIFT)
    if op in ("read", "write"):
        for r in ram:  # pfn_valid(): a memmap exists for sections holding busy System RAM
            out.add(r.start & ~(SECTION_SIZE - 1))
            out.add((r.end & ~(SECTION_SIZE - 1)) + SECTION_SIZE)
    if op == "kcore":
        memory_state_edges(machine, out, lo, top)
    elif op == "mmap":
        out.add(ISA_START)
        # valid_mmap_phys_addr_range(): x86 tests the last byte against 2^phys_bits, arm64
        # the exclusive end against PHYS_MASK, so there the last page below 2^48 fails too
        out.add(phys_limit(machine) - (0 if sw.x86 else PAGE_SIZE))
        for m in machine.mappings.overlapping(lo, top):  # the interval index: only these
            _cut(out, m.start)
            _cut(out, m.end + 1)
    return sorted(e for e in out if lo < e <= top)
