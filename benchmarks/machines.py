"""Deterministic generators of large, realistic machines for the benchmarks and complexity tests.

``build_tree(n)`` returns a ResourceTree with exactly ``n`` resources laid out like the
``/proc/iomem`` of a big x86-64 server (busy or not as ``iomem_text.infer_flags`` says):

* firmware low memory (Reserved, System RAM, Video/Adapter/System ROM) as on q35;
* boot RAM below 4 GiB cut into many System RAM pieces by e820 ``Reserved``,
  ``ACPI Tables``, ``ACPI Non-volatile Storage`` and ``Unusable memory`` ranges (EFI firmware
  does this), the first large piece holding Kernel code/rodata/data/bss and Crash kernel;
* one large System RAM range per NUMA node above 4 GiB;
* PCI: several segments of host bridges, each with a 32-bit window below 4 GiB and a 64-bit
  window above the RAM; under them thousands of ``PCI Bus SSSS:BB`` bridge windows with devices
  (``SSSS:BB:DD.F`` BARs) and driver claims (busy; some ``request_mem_region_exclusive``);
* MMCONFIG (ECAM) with Reserved/pnp children, IOAPICs, HPET, DMAR units, Local APIC.

A 2 TiB hole at ``GenInfo.vmem_base`` (above the RAM, below the 64-bit PCI windows) is left
free for virtio-mem devices. Everything is drawn from ``random.Random(seed)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree, TreeBuilder
from devmem_tui.engine.machine import Machine

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

BUSY = F.MEM | F.BUSY
SYSRAM_BUSY = F.MEM | F.SYSRAM | F.BUSY
ROM = F.MEM | F.BUSY | F.READONLY

# Driver names as they appear under PCI BARs; True = claims with request_mem_region_exclusive /
# pci_request_selected_regions_exclusive (e1000e does this for its BAR0).
DRIVERS: tuple[tuple[str, bool], ...] = (
    ("nvme", False),
    ("mlx5_core", False),
    ("ixgbe", False),
    ("i40e", False),
    ("megaraid_sas", False),
    ("xhci-hcd", False),
    ("ahci", False),
    ("ioatdma", False),
    ("qat_4xxx", False),
    ("e1000e", True),
    ("igb", False),
    ("virtio-pci-modern", False),
)

HB_WIN = 256 * GiB  # 64-bit window of one PCI host bridge
VMEM_HOLE = 2 * TiB  # room left for virtio-mem devices (a 1 TiB device fits, aligned)


@dataclass
class GenInfo:
    """What a generator built: the tree plus facts the benchmarks need."""

    tree: ResourceTree
    seed: int
    vmem_base: int  # start of a free, 1 TiB aligned, VMEM_HOLE-long hole above the RAM
    ram_top: int  # one past the highest System RAM byte (boot high_memory)
    counts: dict[str, int] = field(default_factory=dict)


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


class _Budget:
    """Adds resources until exactly ``n`` exist.

    Resources go through a ``TreeBuilder``, as ``iomem_text.parse`` does (one ``add_child``
    each costs ~50 us at 100k, mostly intervaltree rebalancing); it checks nesting and sibling
    order as it places each one, and tests run ``tree.check()`` on generated trees."""

    def __init__(self, n: int) -> None:
        self.builder = TreeBuilder()
        self.root = self.builder.root
        self.left = n
        self.counts: dict[str, int] = {}

    def add(
        self,
        parent: Resource,
        start: int,
        end: int,
        name: str,
        flags: F,
        kind: str,
        desc: str = "none",
    ) -> Resource | None:
        if self.left <= 0:
            return None
        if not (parent.start <= start <= end <= parent.end):
            raise AssertionError(f"generator bug: {start:#x}-{end:#x} outside {parent.label()}")
        r = self.builder.add(parent, Resource(start, end, name, flags, desc))
        self.left -= 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return r

    def finish(self) -> ResourceTree:
        return self.builder.finish()


@dataclass
class _HostBridge:
    """Allocation state of one PCI host bridge while buses are laid out under it."""

    seg: int
    bus: int  # last bus number used
    last_bus: int
    lo: Resource  # 32-bit window
    hi: Resource  # 64-bit window
    lo_cur: int  # next free address in each window
    hi_cur: int


def _scale(n: int) -> tuple[int, int, int]:
    """(NUMA nodes, host bridges per segment, boot-RAM fragments) for an n-resource map."""
    nodes = 2 if n < 5_000 else 4 if n < 50_000 else 8
    fragments = max(8, min(n // 100, 600))
    return nodes, 4, fragments


def build_tree(n: int, seed: int = 1) -> GenInfo:
    """A tree with exactly ``n`` resources (n >= 200), deterministic for (n, seed)."""
    if n < 200:
        raise ValueError("the generator needs at least 200 resources")
    rng = random.Random(seed)
    b = _Budget(n)
    root = b.root
    nodes, bridges_per_seg, fragments = _scale(n)

    # --- firmware low memory, as on a QEMU q35 guest ----------------------------------------
    b.add(root, 0x0, 0xFFF, "Reserved", BUSY, "reserved", "reserved")
    b.add(root, 0x1000, 0x9FBFF, "System RAM", SYSRAM_BUSY, "ram")
    b.add(root, 0x9FC00, 0x9FFFF, "Reserved", BUSY, "reserved", "reserved")
    b.add(root, 0xA0000, 0xBFFFF, "PCI Bus 0000:00", F.MEM, "pci-window")
    b.add(root, 0xC0000, 0xC9BFF, "Video ROM", ROM, "rom")
    b.add(root, 0xCA000, 0xCADFF, "Adapter ROM", ROM, "rom")
    sysrom = b.add(root, 0xF0000, 0xFFFFF, "Reserved", BUSY, "reserved", "reserved")
    assert sysrom is not None
    b.add(sysrom, 0xF0000, 0xFFFFF, "System ROM", ROM, "rom")

    # --- boot RAM below 2 GiB, fragmented by firmware ranges --------------------------------
    low_top = 0x7F000000
    cur = 0x100000
    # The first piece (which holds the kernel image) is 512 MiB; the rest share the remainder.
    span = (low_top - cur - 512 * MiB) // (fragments - 1)
    first_big: Resource | None = None
    holes = (
        ("Reserved", F.MEM, "reserved"),
        ("ACPI Tables", BUSY, "acpi_tables"),
        ("ACPI Non-volatile Storage", BUSY, "acpi_nv_storage"),
        ("Unusable memory", BUSY, "none"),
    )
    for i in range(fragments):
        last = i == fragments - 1
        hole = 0 if last else rng.choice((4, 8, 16, 64, 256)) * KiB
        want = 512 * MiB if i == 0 else span
        ram_end = low_top - 1 if last else _align(cur + want - hole, 4 * KiB) - 1
        r = b.add(root, cur, ram_end, "System RAM", SYSRAM_BUSY, "ram")
        if i == 0:
            first_big = r
        if hole:
            name, fl, desc = holes[rng.randrange(len(holes))]
            b.add(root, ram_end + 1, ram_end + hole, name, fl, "firmware", desc)
        cur = ram_end + hole + 1
    if first_big is not None and first_big.size >= 64 * MiB:
        base = first_big.start + 16 * MiB
        for name, size in (
            ("Kernel code", 14 * MiB),
            ("Kernel rodata", 6 * MiB),
            ("Kernel data", 3 * MiB),
            ("Kernel bss", 17 * MiB),
        ):
            b.add(first_big, base, base + size - 1, name, SYSRAM_BUSY, "kernel")
            base += _align(size + 1, 2 * MiB)
        b.add(first_big, base, base + 16 * MiB - 1, "Crash kernel", SYSRAM_BUSY, "kernel")
    b.add(root, low_top, 0x7FFFFFFF, "Reserved", F.MEM, "reserved", "reserved")

    # --- fixed platform MMIO below 4 GiB ------------------------------------------------------
    ecam = b.add(root, 0xE0000000, 0xEFFFFFFF, "PCI MMCONFIG 0000 [bus 00-ff]", BUSY, "platform")
    if ecam is not None:
        rsv = b.add(ecam, 0xE0000000, 0xEFFFFFFF, "Reserved", F.MEM, "reserved", "reserved")
        if rsv is not None:
            b.add(rsv, 0xE0000000, 0xEFFFFFFF, "pnp 00:05", BUSY, "platform")
    for i in range(min(8, nodes * 2)):
        b.add(
            root, 0xFEC00000 + i * 0x1000, 0xFEC003FF + i * 0x1000, f"IOAPIC {i}", BUSY, "platform"
        )
    hpet = b.add(root, 0xFED00000, 0xFED003FF, "HPET 0", BUSY, "platform")
    if hpet is not None:
        b.add(hpet, 0xFED00000, 0xFED003FF, "PNP0103:00", BUSY, "platform")
    b.add(root, 0xFED1C000, 0xFED1FFFF, "Reserved", F.MEM, "reserved", "reserved")
    for i in range(min(4, nodes)):
        b.add(root, 0xFED90000 + i * 0x1000, 0xFED90FFF + i * 0x1000, f"dmar{i}", BUSY, "platform")
    b.add(root, 0xFEE00000, 0xFEE00FFF, "Local APIC", BUSY, "platform")
    b.add(root, 0xFF000000, 0xFFFFFFFF, "Reserved", BUSY, "reserved", "reserved")

    # --- one System RAM range per NUMA node above 4 GiB ------------------------------------
    node_size = (64 if n < 5_000 else 128 if n < 50_000 else 256) * GiB
    cur = 4 * GiB
    for _ in range(nodes):
        b.add(root, cur, cur + node_size - 1, "System RAM", SYSRAM_BUSY, "ram")
        cur += node_size
    ram_top = cur
    vmem_base = _align(ram_top, TiB)
    high_base = vmem_base + VMEM_HOLE

    # --- PCI segments / host bridges ----------------------------------------------------------
    # Each host bridge: a 32-bit window carved from 0x80000000-0xdfffffff and a 1 TiB 64-bit
    # window (HB_WIN) above the virtio-mem hole; buses under them until the budget is spent.
    left = b.left
    per_bus = 9  # 1.15 bridge windows + ~3.7 devices x (1.15 BARs + 0.9 claims)
    n_buses = max(4, left // per_bus)
    buses_per_bridge = 256 // bridges_per_seg - 1  # each bridge owns its bus-number range
    n_bridges = max(2, -(-n_buses * 5 // 4 // buses_per_bridge))  # 25% spare
    segs = (n_bridges + bridges_per_seg - 1) // bridges_per_seg
    low_win = (0xE0000000 - 0x80000000) // n_bridges // MiB * MiB
    # Most buses have only 64-bit windows; 32-bit ones fit within the low window.
    p32 = min(1.0, (low_win // MiB - 2) * n_bridges / n_buses / 1.2)
    hbs: list[_HostBridge] = []
    for h in range(n_bridges):
        seg, first_bus = divmod(h, bridges_per_seg)
        busno = first_bus * (256 // bridges_per_seg)
        name = f"PCI Bus {seg:04x}:{busno:02x}"
        lo = b.add(
            root,
            0x80000000 + h * low_win,
            0x80000000 + (h + 1) * low_win - 1,
            name,
            F.MEM,
            "pci-window",
        )
        hi = b.add(
            root,
            high_base + h * HB_WIN,
            high_base + (h + 1) * HB_WIN - 1,
            name,
            F.MEM,
            "pci-window",
        )
        if lo is None or hi is None:
            break
        hbs.append(_HostBridge(seg, busno, busno + buses_per_bridge, lo, hi, lo.start, hi.start))
    for s in range(1, segs):  # ECAM of the other segments sits above the 64-bit windows
        base = high_base + n_bridges * HB_WIN + (s - 1) * 256 * MiB
        b.add(
            root, base, base + 256 * MiB - 1, f"PCI MMCONFIG {s:04x} [bus 00-ff]", BUSY, "platform"
        )

    k = 0
    while b.left > 0 and hbs:
        hb = hbs[k % len(hbs)]
        k += 1
        hb.bus += 1
        if hb.bus > hb.last_bus:
            hbs.remove(hb)
            continue
        ndev = rng.choice((1, 1, 2, 4, 4, 6, 8))
        bars64 = [rng.choice((1, 2, 4, 16, 32, 64)) * MiB for _ in range(ndev)]
        use32 = rng.random() < p32 and hb.lo_cur + MiB <= hb.lo.end + 1
        bus_name = f"PCI Bus {hb.seg:04x}:{hb.bus:02x}"
        size64 = _align(sum(bars64), 64 * MiB)
        if hb.hi_cur + size64 - 1 > hb.hi.end:
            hbs.remove(hb)
            continue
        win32 = None
        if use32:
            win32 = b.add(hb.lo, hb.lo_cur, hb.lo_cur + MiB - 1, bus_name, F.MEM, "pci-window")
            hb.lo_cur += MiB
        win64 = b.add(hb.hi, hb.hi_cur, hb.hi_cur + size64 - 1, bus_name, F.MEM, "pci-window")
        hb.hi_cur += size64
        c32 = win32.start if win32 is not None else 0
        c64 = win64.start if win64 is not None else 0
        for d in range(ndev):
            dev = f"{hb.seg:04x}:{hb.bus:02x}:{d:02x}.0"
            driver, excl = DRIVERS[rng.randrange(len(DRIVERS))]
            bound = rng.random() < 0.8  # some devices have no driver: BARs stay non-busy
            if win32 is not None and c32 + 16 * KiB - 1 <= win32.end:
                bar = b.add(win32, c32, c32 + 16 * KiB - 1, dev, F.MEM, "bar")
                c32 += 16 * KiB
                if bar is not None and bound:
                    b.add(
                        bar,
                        bar.start,
                        bar.end,
                        driver,
                        BUSY | (F.EXCLUSIVE if excl else F(0)),
                        "claim",
                    )
            if win64 is not None:
                sz = bars64[d]
                bar = b.add(win64, c64, c64 + sz - 1, dev, F.MEM, "bar")
                c64 += sz
                if bar is not None and bound:
                    b.add(bar, bar.start, bar.start + min(sz, 16 * KiB) - 1, driver, BUSY, "claim")
    # Anything the PCI layout could not place becomes small Reserved ranges at the very top.
    top = high_base + n_bridges * HB_WIN + segs * 256 * MiB
    while b.left > 0:
        b.add(root, top, top + 4 * KiB - 1, "Reserved", F.MEM, "reserved", "reserved")
        top += 64 * KiB
    tree = b.finish()
    assert len(tree) == n, (len(tree), n)
    return GenInfo(tree, seed, vmem_base, ram_top, dict(b.counts))


def build_machine(n: int, seed: int = 1) -> tuple[Machine, GenInfo]:
    """A Machine on ``build_tree(n, seed)`` with the default kernel configuration."""
    info = build_tree(n, seed)
    return Machine(info.tree, name=f"generated-{n}"), info


def sample_pages(tree: ResourceTree, count: int, seed: int = 2) -> list[int]:
    """Page addresses for random single-page accesses: 90% a random page inside a uniformly
    chosen resource (every kind and depth), 10% a random page below 4 GiB (holes included)."""
    rng = random.Random(seed)
    res = tree.resources()
    out = []
    for _ in range(count):
        if rng.random() < 0.9:
            r = res[rng.randrange(len(res))]
            first, last = r.start >> 12, r.end >> 12
            out.append(rng.randint(first, last) << 12)
        else:
            out.append(rng.randrange(0, 1 << 20) << 12)
    return out
