"""ResourceTree (engine/iomem/tree.py) against kernel/resource.c: request_resource,
insert_resource, __request_region, __release_region, remove_resource,
release_mem_region_adjustable, merge_system_ram_resource, queries and their caches, TreeBuilder,
and the interval index (checked against a fresh rebuild after random operation sequences)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intervaltree import Interval, IntervalTree

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem.tree import (
    SYSTEM_RAM,
    F,
    Resource,
    ResourceConflict,
    ResourceTree,
    TreeBuilder,
)
from devmem_tui.engine.units import ADDR_MAX

MEM = F.MEM
MEM_BUSY = F.MEM | F.BUSY
RAM_BUSY = SYSTEM_RAM | F.BUSY
VMEM_RAM = RAM_BUSY | F.SYSRAM_DRIVER_MANAGED


def shape(tree: ResourceTree) -> list[tuple[int, int, int, str, int, str]]:
    return [(d, r.start, r.end, r.name, int(r.flags), r.desc) for d, r in tree.walk()]


def assert_consistent(tree: ResourceTree) -> None:
    """check() plus: the index is exactly what a rebuild from the tree would give."""
    tree.check()
    tree.index.verify()
    fresh = IntervalTree(Interval(r.start, r.end + 1, r) for _, r in tree.walk())
    assert tree.index == fresh


def guest() -> ResourceTree:
    """A small x86 guest map (layout L1 of tests/layouts.py, trimmed)."""
    t = ResourceTree()
    t.add_child(t.root, Resource(0x0, 0xFFF, "Reserved", MEM_BUSY, "reserved"))
    t.add_child(t.root, Resource(0x1000, 0x9FBFF, "System RAM", RAM_BUSY))
    ram = t.add_child(t.root, Resource(0x100000, 0x7FFDFFFF, "System RAM", RAM_BUSY))
    t.add_child(ram, Resource(0x1000000, 0x1FFFFFF, "Kernel code", RAM_BUSY))
    t.add_child(t.root, Resource(0x7FFE0000, 0x7FFFFFFF, "Reserved", MEM, "reserved"))
    pci = t.add_child(t.root, Resource(0xC0000000, 0xFEBFFFFF, "PCI Bus 0000:00", MEM))
    bar = t.add_child(pci, Resource(0xFE000000, 0xFE003FFF, "0000:00:03.0", MEM))
    t.add_child(bar, Resource(0xFE000000, 0xFE003FFF, "virtio-pci-modern", MEM_BUSY))
    t.add_child(pci, Resource(0xFEBD0000, 0xFEBD0FFF, "0000:00:02.0", MEM))
    t.add_child(t.root, Resource(0xFEC00000, 0xFEC003FF, "IOAPIC 0", MEM_BUSY))
    t.add_child(t.root, Resource(0x100000000, 0x27FFFFFFF, "System RAM", RAM_BUSY))
    return t


def names(tree: ResourceTree) -> list[tuple[int, str]]:
    return [(d, r.name) for d, r in tree.walk()]


# ----------------------------------------------------------------------------- add_child


def test_add_child_keeps_siblings_sorted_whatever_the_order() -> None:
    t = ResourceTree()
    for start in (0x5000, 0x1000, 0x9000, 0x3000):
        t.add_child(t.root, Resource(start, start + 0xFFF, f"r{start:x}"))
    assert [r.start for r in t.root.children] == [0x1000, 0x3000, 0x5000, 0x9000]
    assert_consistent(t)


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        (0x1800, 0x27FF, "overlaps its sibling"),
        (0x0, 0x1000, "overlaps its sibling"),  # one byte is enough
        (0x2000, 0x1FFF, "end before start"),
    ],
)
def test_add_child_refuses_overlap_and_reversed(start: int, end: int, match: str) -> None:
    t = ResourceTree()
    t.add_child(t.root, Resource(0x1000, 0x1FFF, "a"))
    before = shape(t)
    with pytest.raises(DevmemError, match=match):
        t.add_child(t.root, Resource(start, end, "b"))
    assert shape(t) == before
    assert_consistent(t)


def test_add_child_refuses_a_child_outside_its_parent() -> None:
    t = ResourceTree()
    p = t.add_child(t.root, Resource(0x1000, 0x1FFF, "p"))
    with pytest.raises(DevmemError, match="does not fit inside its parent"):
        t.add_child(p, Resource(0x1800, 0x2000, "c"))
    assert p.children == ()


# ----------------------------------------------------------------------------- TreeBuilder
def test_tree_builder_makes_the_same_tree_in_any_sibling_order() -> None:
    ref = guest()
    b = TreeBuilder()
    # Parents first, but every sibling list backwards: the builder sorts as add_child does.
    stack: list[tuple[Resource, Resource]] = [(c, b.root) for c in ref.root.children]
    while stack:
        src, parent = stack.pop()
        new = b.add(parent, Resource(src.start, src.end, src.name, src.flags, src.desc))
        stack.extend((c, new) for c in src.children)
    t = b.finish()
    assert shape(t) == shape(ref) and len(t) == len(ref) and t.generation == 0
    assert_consistent(t)


@pytest.mark.parametrize(
    ("start", "end"),
    [(0x1800, 0x27FF), (0x0, 0x1000), (0x2000, 0x1FFF), (0x0, 0x1FFF), (0x2800, 0x3FFF)],
)
def test_tree_builder_refuses_what_add_child_refuses_with_the_same_message(
    start: int, end: int
) -> None:
    t, b = ResourceTree(), TreeBuilder()
    for lo in (0x3000, 0x1000):  # unsorted on purpose
        t.add_child(t.root, Resource(lo, lo + 0xFFF, f"r{lo:x}"))
        b.add(b.root, Resource(lo, lo + 0xFFF, f"r{lo:x}"))
    t_p = t.add_child(t.root, Resource(0x8000, 0x8FFF, "p"))
    b_p = b.add(b.root, Resource(0x8000, 0x8FFF, "p"))
    # among the top-level siblings, and as a child that does not fit its parent
    for t_parent, b_parent in ((t.root, b.root), (t_p, b_p)):
        with pytest.raises(DevmemError) as want:
            t.add_child(t_parent, Resource(start, end, "c"))
        with pytest.raises(DevmemError) as got:
            b.add(b_parent, Resource(start, end, "c"))
        assert type(got.value) is type(want.value) and str(got.value) == str(want.value)


def test_a_built_tree_indexes_on_first_use_and_keeps_the_index_current() -> None:
    t = guest().copy()  # copy() goes through TreeBuilder
    assert len(t) == len(guest())
    assert_consistent(t)  # builds the index from the tree
    t.request_region(0xFEBD0000, 0x1000, "drv")
    t.release(t.find("IOAPIC 0")[0])
    t.insert_resource(Resource(0xC0000000, 0xFE0FFFFF, "window", MEM))
    assert_consistent(t)  # every mutation since kept it current


def test_cached_walk_answers_follow_every_change() -> None:
    t = guest()
    bar = [r.name for r in t.overlaps(0xFEBD0000, 0xFEBD0FFF)]
    assert bar == ["PCI Bus 0000:00", "0000:00:02.0"]
    assert t.overlaps(0xFEBD0000, 0xFEBD0FFF) is t.overlaps(0xFEBD0000, 0xFEBD0FFF)
    t.memos["question"] = ("answer",)
    t.request_region(0xFEBD0000, 0x1000, "drv")
    assert [r.name for r in t.overlaps(0xFEBD0000, 0xFEBD0FFF)] == [*bar, "drv"]
    assert t.chain_at(0xFEBD0000)[-1].name == "drv" and t.memos == {}
    assert t.overlapping(0xFEBD0000, 0xFEBD0FFF) == t.overlaps(0xFEBD0000, 0xFEBD0FFF)


def test_request_resource_fails_on_any_overlap() -> None:
    t = guest()
    with pytest.raises(ResourceConflict):
        t.request_resource(Resource(0xFEBD0000, 0xFEBD0FFF, "dup"))  # inside PCI Bus: overlap
    r = t.request_resource(Resource(0x300000000, 0x3000FFFFF, "free"))
    assert r.parent is t.root and r.flags == MEM  # request_resource does not add BUSY
    assert_consistent(t)


# ----------------------------------------------------------------------------- request_region


def test_request_region_nests_under_non_busy_conflicts() -> None:
    t = guest()
    res = t.request_region(0xFEBD0000, 0x1000, "newdrv")
    assert [r.name for r in res.chain()] == ["PCI Bus 0000:00", "0000:00:02.0", "newdrv"]
    assert res.flags == MEM_BUSY
    assert_consistent(t)


def test_request_region_in_a_hole_goes_to_the_top_level() -> None:
    t = guest()
    res = t.request_region(0xFED00000, 0x400, "HPET 0")
    assert res.parent is t.root
    assert_consistent(t)


def test_request_region_exclusive_and_extra_flags() -> None:
    t = guest()
    res = t.request_region(0xFEBD0000, 0x1000, "exdrv", exclusive=True)
    assert res.flags == MEM_BUSY | F.EXCLUSIVE
    ram = t.request_region(
        0x300000000,
        0x8000000,
        "System RAM (virtio_mem)",
        flags=SYSTEM_RAM | F.SYSRAM_DRIVER_MANAGED,
    )
    assert ram.flags == VMEM_RAM


def test_request_region_inherits_the_desc_of_the_parent_it_lands_under() -> None:
    # __request_region_locked: res->desc = parent->desc at every level it tries.
    t = guest()
    claim = t.request_region(0x7FFE0000, 0x1000, "acpi-claim")
    assert claim.parent is not None and claim.parent.name == "Reserved"
    assert claim.desc == "reserved"
    top = t.request_region(0x300000000, 0x1000, "top")
    assert top.desc == "none"


@pytest.mark.parametrize(
    ("start", "size", "why"),
    [
        (0x100000, 0x1000, "busy"),  # System RAM is busy
        (0x1000000, 0x1000, "busy"),  # inside Kernel code inside System RAM: busy at the top
        (0xFE000000, 0x1000, "busy"),  # the BAR is not busy, its claim is
        (0xFEBFF000, 0x2000, "partially overlaps"),  # crosses the end of the PCI window
        (0x7FFFF000, 0x40002000, "partially overlaps"),  # spans Reserved and the PCI window
        (0xFEC00000, 0x400, "busy"),  # IOAPIC
    ],
)
def test_request_region_refuses_busy_and_partial_conflicts(start: int, size: int, why: str) -> None:
    t = guest()
    before, gen = shape(t), t.generation
    with pytest.raises(ResourceConflict, match=f"{why}.*-EBUSY"):
        t.request_region(start, size, "x")
    assert shape(t) == before and t.generation == gen
    assert_consistent(t)


def test_request_region_argument_errors() -> None:
    t = guest()
    with pytest.raises(DevmemError, match="size must be positive"):
        t.request_region(0x1000, 0, "x")
    with pytest.raises(DevmemError, match="past 2\\^64"):
        t.request_region(ADDR_MAX - 0xFFF, 0x2000, "x")
    last = t.request_region(ADDR_MAX - 0xFFF, 0x1000, "last")
    assert last.end == ADDR_MAX


# ----------------------------------------------------------------------------- insert_resource


def test_insert_resource_nests_as_deep_as_it_fits() -> None:
    t = guest()
    res = t.insert_resource(Resource(0xFE001000, 0xFE001FFF, "deep", MEM))
    assert [r.name for r in res.chain()] == [
        "PCI Bus 0000:00",
        "0000:00:03.0",
        "virtio-pci-modern",
        "deep",
    ]
    assert_consistent(t)


def test_insert_resource_adopts_the_siblings_it_covers() -> None:
    t = guest()
    pci = t.root.children[4]
    win = t.insert_resource(Resource(0xFD000000, 0xFEBDFFFF, "PCI Bus 0000:01", MEM))
    assert win.parent is pci
    assert [c.name for c in win.children] == ["0000:00:03.0", "0000:00:02.0"]
    assert all(c.parent is win for c in win.children)
    assert [c.name for c in pci.children] == ["PCI Bus 0000:01"]
    assert t.chain_at(0xFE000000)[-1].name == "virtio-pci-modern"
    assert len(t.chain_at(0xFE000000)) == 4
    assert_consistent(t)


def test_insert_resource_with_identical_range_becomes_the_parent() -> None:
    # __insert_resource stops descending at an identical resource and adopts it.
    t = guest()
    new = t.insert_resource(Resource(0xFEC00000, 0xFEC003FF, "wrapper", MEM))
    assert new.parent is t.root
    assert [c.name for c in new.children] == ["IOAPIC 0"]
    assert_consistent(t)


def test_insert_resource_at_the_top_adopts_several_top_level_resources() -> None:
    t = guest()
    new = t.insert_resource(Resource(0x0, 0x9FFFF, "low", MEM))
    assert [c.name for c in new.children] == ["Reserved", "System RAM"]
    assert t.root.children[0] is new
    assert_consistent(t)


def test_insert_resource_refuses_partial_overlap_and_changes_nothing() -> None:
    t = guest()
    before, gen = shape(t), t.generation
    with pytest.raises(ResourceConflict, match="partially overlaps"):
        t.insert_resource(Resource(0xFE002000, 0xFEBD07FF, "bad", MEM))
    with pytest.raises(ResourceConflict, match="does not fit"):
        t.insert_resource(Resource(0x0, 0x2FFF, "x"), parent=t.root.children[1])
    assert shape(t) == before and t.generation == gen
    assert_consistent(t)


# ----------------------------------------------------------------------------- releasing


def test_release_region_frees_the_exact_busy_resource() -> None:
    t = guest()
    t.request_region(0xFEBD0000, 0x1000, "drv")
    freed = t.release_region(0xFEBD0000, 0x1000)
    assert freed.name == "drv" and freed.parent is None
    assert t.chain_at(0xFEBD0000)[-1].name == "0000:00:02.0"
    assert_consistent(t)


def test_release_region_errors() -> None:
    t = guest()
    with pytest.raises(DevmemError, match="nonexistent resource"):
        t.release_region(0xFEBD0000, 0x1000)  # only the non-busy BAR is there
    with pytest.raises(DevmemError, match="nonexistent resource"):
        t.release_region(0x300000000, 0x1000)  # a hole
    t.request_region(0x300000000, 0x10000, "outer")
    t.insert_resource(Resource(0x300000000, 0x300000FFF, "inner", MEM_BUSY))
    with pytest.raises(DevmemError, match="still has children"):
        t.release_region(0x300000000, 0x10000)
    assert_consistent(t)


def test_release_region_does_not_look_inside_busy_resources() -> None:
    # __release_region descends only into resources that are not busy; a busy resource that
    # contains the range but is not the range ends the search ("nonexistent resource").
    t = guest()
    with pytest.raises(DevmemError, match="nonexistent resource"):
        t.release_region(0x1000000, 0x1000000)  # Kernel code, inside busy System RAM
    assert t.find("Kernel code")
    assert_consistent(t)


def test_release_takes_the_subtree_and_remove_resource_keeps_children() -> None:
    t = guest()
    pci = t.root.children[4]
    t.release(pci.children[0])  # the BAR and its claim
    assert not t.find("virtio-pci-modern") and not t.find("0000:00:03.0")
    assert_consistent(t)
    t.remove_resource(pci)
    assert [r.name for r in t.root.children if r.start == 0xFEBD0000] == ["0000:00:02.0"]
    assert_consistent(t)


# ----------------------------------------------------------------------------- hot-remove


def vmem_tree() -> tuple[ResourceTree, Resource]:
    t = ResourceTree()
    parent = t.add_child(t.root, Resource(0x140000000, 0x53FFFFFFF, "virtio0", SYSTEM_RAM))
    t.request_region(
        0x140000000,
        0x40000000,
        "System RAM (virtio_mem)",
        flags=SYSTEM_RAM | F.SYSRAM_DRIVER_MANAGED,
    )
    return t, parent


def test_release_mem_region_adjustable_frees_trims_and_splits() -> None:
    t, parent = vmem_tree()
    # split: remove a block in the middle
    t.release_mem_region_adjustable(0x160000000, 0x8000000)
    assert [(c.start, c.end) for c in parent.children] == [
        (0x140000000, 0x15FFFFFFF),
        (0x168000000, 0x17FFFFFFF),
    ]
    assert all(c.flags == VMEM_RAM and c.name == "System RAM (virtio_mem)" for c in parent.children)
    assert_consistent(t)
    # trim the start of the upper part, then its end
    t.release_mem_region_adjustable(0x168000000, 0x8000000)
    t.release_mem_region_adjustable(0x178000000, 0x8000000)
    assert [(c.start, c.end) for c in parent.children] == [
        (0x140000000, 0x15FFFFFFF),
        (0x170000000, 0x177FFFFFF),
    ]
    # free a whole entry
    t.release_mem_region_adjustable(0x170000000, 0x8000000)
    assert [(c.start, c.end) for c in parent.children] == [(0x140000000, 0x15FFFFFFF)]
    assert_consistent(t)


def test_release_mem_region_adjustable_errors() -> None:
    t, parent = vmem_tree()
    with pytest.raises(DevmemError, match="no busy memory resource"):
        t.release_mem_region_adjustable(0x180000000, 0x8000000)  # not added
    with pytest.raises(DevmemError, match="no busy memory resource"):
        t.release_mem_region_adjustable(0x17C000000, 0x8000000)  # straddles the end
    io = ResourceTree()
    io.add_child(io.root, Resource(0x1000, 0x1FFF, "io", F.BUSY))
    with pytest.raises(DevmemError, match="no busy memory resource"):
        io.release_mem_region_adjustable(0x1000, 0x1000)
    assert_consistent(t)


def test_release_mem_region_adjustable_split_keeps_children_below() -> None:
    t = ResourceTree()
    ram = t.add_child(t.root, Resource(0x0, 0xFFFFF, "System RAM", RAM_BUSY))
    t.add_child(ram, Resource(0x1000, 0x1FFF, "Kernel code", RAM_BUSY))
    t.release_mem_region_adjustable(0x80000, 0x1000)
    low, high = t.root.children
    assert (low.end, high.start) == (0x7FFFF, 0x81000)
    assert [c.name for c in low.children] == ["Kernel code"] and high.children == ()
    assert_consistent(t)


def test_release_mem_region_adjustable_refuses_to_orphan_children() -> None:
    # __adjust_resource fails when a child would fall outside: the kernel WARNs and leaves
    # the resource as it was.
    t = ResourceTree()
    ram = t.add_child(t.root, Resource(0x0, 0xFFFFF, "System RAM", RAM_BUSY))
    t.add_child(ram, Resource(0x90000, 0x90FFF, "Kernel code", RAM_BUSY))
    before = shape(t)
    for start, size in ((0x80000, 0x1000), (0x0, 0x91000), (0x8F000, 0x71000)):
        with pytest.raises(DevmemError, match="child"):
            t.release_mem_region_adjustable(start, size)
        assert shape(t) == before
    assert_consistent(t)


# ----------------------------------------------------------------------------- merging


def test_merge_system_ram_resource_with_next_and_previous() -> None:
    t, parent = vmem_tree()
    t.release_mem_region_adjustable(0x140000000, 0x40000000)
    fl = SYSTEM_RAM | F.SYSRAM_DRIVER_MANAGED
    a = t.request_region(0x140000000, 0x8000000, "System RAM (virtio_mem)", flags=fl)
    a = t.merge_system_ram_resource(a)
    c = t.request_region(0x150000000, 0x8000000, "System RAM (virtio_mem)", flags=fl)
    c = t.merge_system_ram_resource(c)
    assert len(parent.children) == 2  # not adjacent yet
    b = t.request_region(0x148000000, 0x8000000, "System RAM (virtio_mem)", flags=fl)
    survivor = t.merge_system_ram_resource(b)
    assert survivor is a
    assert [(r.start, r.end) for r in parent.children] == [(0x140000000, 0x157FFFFFF)]
    assert survivor.flags == VMEM_RAM | F.SYSRAM_MERGEABLE
    assert_consistent(t)


@pytest.mark.parametrize("differ", ["name", "flags", "desc", "children", "gap"])
def test_merge_needs_identical_adjacent_childless_siblings(differ: str) -> None:
    t = ResourceTree()
    p = t.add_child(t.root, Resource(0x0, 0xFFFFF, "virtio0", SYSTEM_RAM))
    fl = VMEM_RAM | F.SYSRAM_MERGEABLE
    left = t.add_child(p, Resource(0x0, 0x3FFF, "System RAM (virtio_mem)", fl))
    start = 0x5000 if differ == "gap" else 0x4000
    right = Resource(start, start + 0x3FFF, "System RAM (virtio_mem)", VMEM_RAM)
    if differ == "name":
        right.name = "System RAM (kmem)"
    if differ == "flags":
        right.flags |= F.EXCLUSIVE
    if differ == "desc":
        right.desc = "cxl"
    t.add_child(p, right)
    if differ == "children":
        t.add_child(left, Resource(0x0, 0xFFF, "pinned", MEM_BUSY))
    survivor = t.merge_system_ram_resource(right)
    assert survivor is right and len(p.children) == 2
    assert_consistent(t)


# ----------------------------------------------------------------------------- queries


def test_queries() -> None:
    t = guest()
    assert [r.name for r in t.chain_at(0xFE000123)] == [
        "PCI Bus 0000:00",
        "0000:00:03.0",
        "virtio-pci-modern",
    ]
    assert t.chain_at(0x9FC00) == []  # a hole between System RAM and the next range
    assert t.chain_at(ADDR_MAX) == []
    assert [r.name for r in t.overlapping(0xFE003000, 0xFEBD0000)] == [
        "PCI Bus 0000:00",
        "0000:00:03.0",
        "virtio-pci-modern",
        "0000:00:02.0",
    ]
    assert [r.name for r in t.top_level_overlapping(0x0, 0x100000)] == [
        "Reserved",
        "System RAM",
        "System RAM",
    ]
    assert len(t.find("System RAM")) == 3
    assert len(t) == 11
    kernel = t.find("Kernel code")[0]
    assert kernel.depth == 1 and [r.name for r in kernel.chain()] == ["System RAM", "Kernel code"]
    assert kernel.size == 0x1000000 and kernel.is_system_ram() and kernel.busy
    assert kernel.label() == "01000000-01ffffff : Kernel code"


def test_copy_is_independent() -> None:
    t = guest()
    c = t.copy()
    assert shape(c) == shape(t) and c.generation == 0
    c.request_region(0xFEBD0000, 0x1000, "only-in-copy")
    assert not t.find("only-in-copy")
    assert_consistent(t)
    assert_consistent(c)


def test_observers_and_generation() -> None:
    t = guest()
    seen: list[tuple[str, str]] = []
    t.observers.append(lambda what, r: seen.append((what, r.name)))
    g = t.generation
    r = t.request_region(0xFEBD0000, 0x1000, "drv")
    t.release(r)
    assert seen == [("add", "drv"), ("remove", "drv")]
    assert t.generation == g + 2


# ----------------------------------------------------------------------------- random sequences

ADDR_SPACE = 0xFFFF


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_request_release_sequences_keep_the_tree_consistent(data: st.DataObject) -> None:
    t = ResourceTree()
    # Some structure to nest into: a non-busy window and busy RAM.
    t.add_child(t.root, Resource(0x4000, 0x7FFF, "window", MEM))
    t.add_child(t.root, Resource(0xA000, 0xBFFF, "System RAM", RAM_BUSY))
    ops = data.draw(
        st.lists(
            st.sampled_from(
                ["request", "request", "insert", "release", "release", "adjust", "remove", "merge"]
            ),
            min_size=5,
            max_size=30,
        )
    )
    addr = st.integers(0, ADDR_SPACE)
    for i, op in enumerate(ops):
        before = shape(t)
        try:
            if op == "request":
                start = data.draw(addr)
                size = data.draw(st.integers(1, ADDR_SPACE + 1 - start))
                flags = data.draw(st.sampled_from([MEM, SYSTEM_RAM]))
                res = t.request_region(
                    start, size, f"r{i}", flags=flags, exclusive=data.draw(st.booleans())
                )
                assert res.busy and res.parent is not None
                assert res.parent is t.root or not res.parent.busy
            elif op == "insert":
                start = data.draw(addr)
                end = data.draw(st.integers(start, ADDR_SPACE))
                t.insert_resource(
                    Resource(start, end, f"i{i}", data.draw(st.sampled_from([MEM, MEM_BUSY])))
                )
            elif op in ("release", "adjust", "remove", "merge"):
                every = [r for _, r in t.walk()]
                if not every:
                    continue
                r = data.draw(st.sampled_from(every))
                if op == "release":
                    t.release_region(r.start, r.size)
                elif op == "adjust":
                    lo = data.draw(st.integers(r.start, r.end))
                    hi = data.draw(st.integers(lo, r.end))
                    t.release_mem_region_adjustable(lo, hi - lo + 1)
                elif op == "remove":
                    t.remove_resource(r)
                elif r.is_system_ram() and r.busy:
                    t.merge_system_ram_resource(r)
        except DevmemError:
            assert shape(t) == before, f"failed {op} changed the tree"
        assert_consistent(t)
