"""Units every layer shares: the page, the address space, byte sizes, errno names, and the one
exact way sizes and byte ranges are written (and the
approximate one of table columns that show the exact bounds beside it)."""

from __future__ import annotations

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
ADDR_MAX = (1 << 64) - 1  # the last byte of the 64-bit physical address space

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

# errno values (include/uapi/asm-generic/errno-base.h, errno.h)
EPERM, ENOENT, EINTR, EAGAIN, ENOMEM, EBUSY = 1, 2, 4, 11, 12, 16
EEXIST, EINVAL, ETXTBSY, ENOSPC = 17, 22, 26, 28
ERRNO_NAMES = {
    EPERM: "EPERM",
    ENOENT: "ENOENT",
    EINTR: "EINTR",
    EAGAIN: "EAGAIN",
    ENOMEM: "ENOMEM",
    EBUSY: "EBUSY",
    EEXIST: "EEXIST",
    EINVAL: "EINVAL",
    ETXTBSY: "ETXTBSY",
    ENOSPC: "ENOSPC",
}

_UNITS = (("T", TiB), ("G", GiB), ("M", MiB), ("K", KiB))


def errno_name(rc: int) -> str:
    """A kernel return code as the kernel's sources spell it: 0 -> '0', -16 -> '-EBUSY'."""
    if rc == 0:
        return "0"
    name = ERRNO_NAMES.get(-rc)
    return f"-{name}" if name else str(rc)


def fmt_size(n: int, decimal: bool = False) -> str:
    """A byte count, exactly: below 1 KiB in decimal (100), else in the largest binary unit
    that writes it with at most three decimals (128M, 1G, 1.5G, 14.75G, 3K), else in hex
    (0x1001): never rounded. With ``decimal`` (a column of sizes, which reads best all in
    units) the last form is K with as many decimals as it takes instead (3320.1875K,
    4.0009765625K: a KiB divides into at most ten)."""
    if n < KiB:
        return str(n)
    for unit, scale in _UNITS:
        if n >= scale:
            for digits in (0, 1, 2, 3):
                if (n * 10**digits) % scale == 0:
                    return _decimals(n, scale, digits) + unit
    if decimal:
        digits = next(d for d in range(4, 11) if (n * 10**d) % KiB == 0)
        return _decimals(n, KiB, digits) + "K"
    return f"{n:#x}"


def _decimals(n: int, scale: int, digits: int) -> str:
    """n / scale with ``digits`` decimals, which the caller knows to be exact (integers:
    a float would round a size past 2**53)."""
    whole, rest = divmod(n, scale)
    if not digits:
        return str(whole)
    return f"{whole}.{rest * 10**digits // scale:0{digits}d}"


def fmt_size_approx(n: int) -> str:
    """A byte count for a table column, in the largest unit it reaches: exact when three
    decimals write it (``128M``, ``632K``, ``1003.625M``), else cut to two decimals and marked
    ``~`` (``~2.99G``). Where the exact bounds are shown beside it (the sweep tables' RANGE
    column, the policy map) a short column reads better than ``fmt_size``'s hex fallback
    (``0xbffff000``); everywhere else sizes are written exactly with ``fmt_size``."""
    if n < KiB:
        return str(n)
    unit, scale = next(u for u in _UNITS if n >= u[1])
    if (n * 1000) % scale == 0:
        return f"{n / scale:.3f}".rstrip("0").rstrip(".") + unit
    return f"~{n * 100 // scale / 100:.2f}{unit}"


def fmt_ranges(ranges: list[tuple[int, int]]) -> str:
    """Inclusive byte ranges as ``0x1000-0x1fff, 0x3000-0x3fff``."""
    return ", ".join(f"{a:#x}-{b:#x}" for a, b in ranges)


def add_range(ranges: list[tuple[int, int]], start: int, end: int) -> None:
    """Append inclusive [start, end] to a sorted range list, merging it with the last range
    when they touch (the ranges are produced in address order)."""
    if ranges and ranges[-1][1] + 1 == start:
        ranges[-1] = (ranges[-1][0], end)
    else:
        ranges.append((start, end))


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive ranges in any order as a sorted list in which overlapping or touching ranges
    are merged."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged
