"""One iomem resource, modelled on the kernel's ``struct resource`` (include/linux/ioport.h),
and the IORESOURCE_* flag bits and IORES_DESC_* names it carries.

A ``Resource`` only holds its own fields and links; ``ResourceTree`` (tree.py) is the one
place that links resources together, and the walks (walk.py) read them.
"""

from __future__ import annotations

import bisect
import operator
from dataclasses import dataclass, field
from enum import IntFlag

START = operator.attrgetter("start")  # a resource's start address, as a C-level sort/bisect key


class F(IntFlag):
    """IORESOURCE_* flag bits (include/linux/ioport.h)."""

    MEM = 0x00000200
    READONLY = 0x00004000
    SYSRAM = 0x01000000
    SYSRAM_DRIVER_MANAGED = 0x02000000
    SYSRAM_MERGEABLE = 0x04000000
    EXCLUSIVE = 0x08000000
    BUSY = 0x80000000


SYSTEM_RAM = F.MEM | F.SYSRAM
NO_FLAGS = F(0)

# Flag names as written in a `[busy exclusive ...]` annotation, in print order.
FLAG_WORDS: dict[str, F] = {
    "mem": F.MEM,
    "busy": F.BUSY,
    "exclusive": F.EXCLUSIVE,
    "sysram": F.SYSRAM,
    "driver_managed": F.SYSRAM_DRIVER_MANAGED,
    "mergeable": F.SYSRAM_MERGEABLE,
    "readonly": F.READONLY,
}

# IORES_DESC_* values that matter here (include/linux/ioport.h).
DESCS = (
    "none",
    "acpi_tables",
    "acpi_nv_storage",
    "persistent_memory",
    "persistent_memory_legacy",
    "reserved",
    "soft_reserved",
    "cxl",
)


def flags_words(flags: F) -> list[str]:
    return [w for w, bit in FLAG_WORDS.items() if flags & bit]


#: How many levels deep resources may nest (level 1 = top level). The kernel's own trees nest
#: a few levels (a PCI bridge window, a device BAR, a driver's claim: fewer than 10 on real
#: machines, 5 is where r_show stops indenting), but a loaded file or a session could nest
#: thousands deep, and every recursive walk (the per-page overlap walk, rendering, the session
#: JSON, the TUI's tree widget) would have to follow. Deeper maps are refused at load and
#: deeper claims with a one-line error (``too_deep``).
MAX_DEPTH = 64


def too_deep(what: str, levels: int) -> str | None:
    """The error line when something would nest ``levels`` deep, else None."""
    if levels <= MAX_DEPTH:
        return None
    return (
        f"{what} would nest {levels} levels deep; devmem-tui takes at most {MAX_DEPTH} "
        "(a real /proc/iomem nests fewer than 10)"
    )


def subtree_height(res: Resource) -> int:
    """Levels from res down to its deepest descendant (1 for a leaf), without recursion."""
    best = 0
    stack = [(res, 1)]
    while stack:
        r, h = stack.pop()
        best = max(best, h)
        stack.extend((c, h + 1) for c in r.children)
    return best


@dataclass(eq=False, slots=True)
class Resource:
    """One ``struct resource``: inclusive [start, end], name, flags, desc, and its children
    sorted by start address.

    ``children`` is a tuple: code outside ``ResourceTree`` and its builder reads it and never
    changes it; only they link and unlink resources (a tuple also reads as fast as a list on
    the per-page walks, and every leaf shares the empty one). Compared by identity."""

    start: int
    end: int
    name: str
    flags: F = F.MEM
    desc: str = "none"
    parent: Resource | None = field(default=None, repr=False)
    children: tuple[Resource, ...] = field(default=(), repr=False)

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def busy(self) -> bool:
        return bool(self.flags & F.BUSY)

    def is_system_ram(self) -> bool:
        return (self.flags & SYSTEM_RAM) == SYSTEM_RAM

    def contains(self, start: int, end: int) -> bool:
        return self.start <= start and end <= self.end

    def overlaps(self, start: int, end: int) -> bool:
        return self.start <= end and start <= self.end

    @property
    def depth(self) -> int:
        d, p = -1, self.parent
        while p is not None:
            d, p = d + 1, p.parent
        return d

    def chain(self) -> list[Resource]:
        """This resource and its ancestors below the root, outermost first."""
        out: list[Resource] = []
        r: Resource | None = self
        while r is not None and r.parent is not None:
            out.append(r)
            r = r.parent
        return out[::-1]

    def label(self) -> str:
        return f"{self.start:08x}-{self.end:08x} : {self.name}"

    def child_index_at(self, addr: int) -> int:
        """Index of the last child starting at or before addr (-1 if none)."""
        # attrgetter instead of a lambda: no closure per call and a C-level key
        # (docs/performance.md).
        return bisect.bisect_right(self.children, addr, key=START) - 1
