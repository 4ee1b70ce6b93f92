"""Numbers, sizes, ranges and durations as the command language spells them.

Addresses and sizes: hex (``0x140000000``), decimal, or a binary size suffix ``K M G T``
(``128M`` = 128 MiB, ``0x10K`` = 64 KiB). Ranges: ``START-END`` (inclusive, as /proc/iomem
prints them) or ``START+SIZE``. Anything past 2^64 - 1 is an error.
"""

from __future__ import annotations

import math
import re

from devmem_tui.engine.errors import DevmemError, quoted

ADDR_MAX = (1 << 64) - 1
# Digits 2^64 - 1 needs: 16 in hex, 20 in decimal. A longer number (leading zeros aside) is
# refused before int() sees it: Python refuses to convert more than 4300 decimal digits, and
# converting is quadratic in the length anyway.
_MAX_DIGITS = {16: 16, 10: 20}
_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_NUM = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(?:([kmgt])(?:i?b)?)?$", re.IGNORECASE)


def parse_number(text: str, what: str = "number") -> int:
    """Parse one address or size; raise DevmemError with a one-line reason."""
    t = text.strip().replace("_", "")
    if t.startswith("-") and t[1:2].isdigit():
        raise DevmemError(f"bad {what} {quoted(text)}: negative values are not allowed")
    m = _NUM.match(t) if t.isascii() else None  # no Arabic-Indic or other non-ASCII digits
    if not m:
        raise DevmemError(
            f"bad {what} {quoted(text)}: expected hex (0x1000), decimal (4096) or a size like 128M"
        )
    digits, suffix = m.group(1), (m.group(2) or "").upper()
    base = 16 if digits[:2].lower() == "0x" else 10
    significant = (digits[2:] if base == 16 else digits).lstrip("0")
    if len(significant) > _MAX_DIGITS[base]:
        raise DevmemError(f"bad {what} {quoted(text)}: past 2^64 - 1")
    value = int(significant or "0", base) * _SUFFIX[suffix]
    if value > ADDR_MAX:
        raise DevmemError(f"bad {what} {quoted(text)}: past 2^64 - 1")
    return value


def parse_size(text: str, what: str = "size") -> int:
    value = parse_number(text, what)
    if value == 0:
        raise DevmemError(f"bad {what} {quoted(text)}: must be greater than zero")
    return value


def parse_range(text: str) -> tuple[int, int]:
    """``START-END`` (inclusive) or ``START+SIZE`` -> (start, end inclusive)."""
    t = text.strip()
    if "+" in t:
        a, b = t.split("+", 1)
        start, size = parse_number(a, "range start"), parse_size(b, "range size")
        end = start + size - 1
        if end > ADDR_MAX:
            raise DevmemError(f"bad range {quoted(text)}: ends past 2^64 - 1")
        return start, end
    if "-" in t[1:]:
        a, b = t.split("-", 1)
        start, end = parse_number(a, "range start"), parse_number(b, "range end")
        if end < start:
            raise DevmemError(f"bad range {quoted(text)}: end {end:#x} is below start {start:#x}")
        return start, end
    raise DevmemError(f"bad range {quoted(text)}: expected START-END (inclusive) or START+SIZE")


_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """``50s``, ``5m``, ``1h``, ``250ms`` or plain seconds -> seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise DevmemError(f"bad duration {quoted(text)}: expected e.g. 50s, 5m, 1h")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "": 1}[(m.group(2) or "").lower()]
    seconds = float(m.group(1)) * scale
    if not math.isfinite(seconds):  # 400 digits parse as inf; the clock must stay a number
        raise DevmemError(f"bad duration {quoted(text)}: too large")
    return seconds


def fmt_duration(seconds: float) -> str:
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.3f}s"
