"""The x86 MTRRs the firmware programmed: the memory type of each physical range before PAT.

Linux reads them (``mtrr_type_lookup()``) when a /dev/mem mmap asks PAT for write-back on
MMIO: ``memtype_reserve()`` -> ``pat_x_mtrr_type()`` turns WB into UC- where the MTRRs do not
say WB (arch/x86/mm/pat/memtype.c). So the layout is machine state, set by its firmware:

- SeaBIOS (QEMU's default BIOS) ``mtrr_setup()`` (src/fw/mtrr.c): fixed ranges write-back up
  to the top of low RAM in the first 640 KiB, 0xa0000-0xbffff uncached, 0xc0000-0xfffff
  write-protected; one variable MTRR makes ``pcimem_start`` .. 4 GiB uncached
  (``pcimem_start`` is 0xc0000000 on i440fx with more than 2 GiB of low RAM,
  ``i440fx_mem_addr_setup()`` in src/fw/pciinit.c); the default type is write-back.
- OVMF (edk2 OvmfPkg PlatformInitLib ``QemuInitializeRam()``): default write-back, then
  640 KiB .. 1 MiB and ``Uc32Base`` .. 4 GiB uncached, where ``Uc32Base`` is the start of the
  32-bit PCI MMIO aperture, rounded so that one variable MTRR covers it.

Presets carry their layout (presets/*.json ``mtrr``); a map loaded from a file gets the OVMF
rule inferred from it (``infer``). arm64 has no MTRRs (``phys_mem_access_prot()`` decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem.tree import ResourceTree

TYPES = ("UC", "WC", "WT", "WP", "WB")  # MTRR_TYPE_* names (arch/x86/include/uapi/asm/mtrr.h)
FOUR_GIB = 1 << 32


def merge_types(a: str, b: str) -> str:
    """``get_effective_type()`` (arch/x86/kernel/cpu/mtrr/generic.c): a range spanning two
    types is UC, except WB with WT, which is WT."""
    if a == b:
        return a
    if "UC" in (a, b):
        return "UC"
    if {a, b} == {"WB", "WT"}:
        return "WT"
    return "UC"


@dataclass(frozen=True)
class MtrrLayout:
    """Fixed and variable MTRR ranges (inclusive, sorted, not overlapping) and the default
    type for the rest; ``source`` says where the layout comes from."""

    default: str
    ranges: tuple[tuple[int, int, str], ...]
    source: str

    def __post_init__(self) -> None:
        if self.default not in TYPES:
            raise DevmemError(f"MTRR default type {self.default!r} is not one of {TYPES}")
        prev = -1
        for start, end, kind in self.ranges:
            if kind not in TYPES or end < start or start <= prev:
                raise DevmemError(f"bad MTRR range {start:#x}-{end:#x} {kind}")
            prev = end

    def type_of(self, start: int, end: int) -> str:
        """``mtrr_type_lookup(start, end + 1)``: the effective type over [start, end]."""
        kind: str | None = None
        pos = start
        for a, b, t in self.ranges:
            if b < pos:
                continue
            if a > end:
                break
            if a > pos:  # a gap before this range: the default type
                kind = self.default if kind is None else merge_types(kind, self.default)
            kind = t if kind is None else merge_types(kind, t)
            pos = b + 1
            if pos > end:
                return kind
        if pos <= end:
            kind = self.default if kind is None else merge_types(kind, self.default)
        assert kind is not None
        return kind

    def describe(self) -> str:
        parts = [f"{a:#x}-{b:#x} {t}" for a, b, t in self.ranges if t != self.default]
        return f"default {self.default}" + (f"; {', '.join(parts)}" if parts else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "ranges": [[f"{a:#x}", f"{b:#x}", t] for a, b, t in self.ranges],
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> MtrrLayout:
        if not isinstance(data, dict):
            raise DevmemError(f"{where}: mtrr must be an object")
        ranges = data.get("ranges", [])
        if not isinstance(ranges, list):
            raise DevmemError(f"{where}: mtrr ranges must be a list")
        out = []
        for item in ranges:
            if not (isinstance(item, list) and len(item) == 3):
                raise DevmemError(f"{where}: an mtrr range is [start, end, type]")
            try:
                a, b = int(str(item[0]), 0), int(str(item[1]), 0)
            except ValueError:
                raise DevmemError(f"{where}: mtrr range {item!r} is not numbers") from None
            out.append((a, b, str(item[2])))
        return cls(str(data.get("default", "WB")), tuple(out), str(data.get("source", "")))


def infer(tree: ResourceTree) -> MtrrLayout:
    """The layout OVMF would program for this map: write-back by default, 0xa0000-0xfffff
    uncached, and uncached from ``Uc32Base`` to 4 GiB, where ``Uc32Base`` is the end of the
    RAM below 4 GiB rounded up so that 4 GiB - Uc32Base is a power of two (one variable MTRR,
    as PlatformQemuUc32BaseInitialization rounds it)."""
    low_top = 0x100000
    for r in tree.root.children:
        if r.is_system_ram() and r.busy and r.end < FOUR_GIB:
            low_top = max(low_top, r.end + 1)
    size = FOUR_GIB - low_top
    uc_base = FOUR_GIB - (1 << (size.bit_length() - 1)) if size > 0 else FOUR_GIB
    ranges: list[tuple[int, int, str]] = [(0x0, 0x9FFFF, "WB"), (0xA0000, 0xFFFFF, "UC")]
    if uc_base < FOUR_GIB:
        ranges.append((uc_base, FOUR_GIB - 1, "UC"))
    return MtrrLayout(
        "WB",
        tuple(ranges),
        "inferred from the map as OVMF programs it (QemuInitializeRam: default WB, 640 KiB-1 "
        f"MiB and {uc_base:#x}-4 GiB UC)",
    )
