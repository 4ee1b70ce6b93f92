"""Fields of a saved (untrusted) JSON document, read with their exact JSON type.

Python's ``json`` gives ``True`` for ``true`` (and ``True == 1``), ``5368709120.5`` for a
fractional number, ``inf`` for ``1e400`` and ``Infinity``; ``int()``/``bool()`` on those would
truncate, overflow or turn ``true`` into 1. These refuse every value that is not what the
writer writes, with one line naming the field. ``loads`` reads integers longer than any
64-bit value as a value no field takes.
"""

from __future__ import annotations

import json
from typing import Any

from devmem_tui.engine.errors import DevmemError

U64_MAX = (1 << 64) - 1
_MAX_INT_DIGITS = 20  # len(str(2**64 - 1)); a sign aside


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float | TooLong):
        return f"the number {value!r}" if isinstance(value, float) else repr(value)
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a list" if isinstance(value, list) else "an object"


def want_int(value: Any, what: str, lo: int = 0, hi: int = U64_MAX) -> int:
    """A JSON integer from lo to hi (not true/false, not 2.0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DevmemError(f"{what} must be an integer, not {_kind(value)}")
    if not lo <= value <= hi:
        raise DevmemError(f"{what} {value} is outside {lo} .. {hi:#x}")
    return value


def want_bool(value: Any, what: str) -> bool:
    """JSON true or false (not 0/1, not "on")."""
    if not isinstance(value, bool):
        raise DevmemError(f"{what} must be true or false, not {_kind(value)}")
    return value


def want_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise DevmemError(f"{what} must be a string, not {_kind(value)}")
    return value


def want_number(value: Any, what: str) -> float:
    """A JSON number, integer or not (not true/false, not "50"); the caller checks its range
    (which also refuses NaN and Infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DevmemError(f"{what} must be a number, not {_kind(value)}")
    return float(value)


class TooLong:
    """What ``loads`` reads for an integer longer than any 64-bit value: no field takes it,
    so the field's own check refuses it, by name ("clock must be a number, not ...")."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


def _parse_int(text: str) -> int | TooLong:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        return TooLong(len(text))
    return int(text)


def loads(text: str) -> Any:
    """``json.loads``, but an integer longer than 2^64 - 1 is read as ``TooLong`` (int()
    refuses more than 4300 digits with a ValueError, after quadratic work). Infinity, NaN
    and 1e400 (inf) are read as floats: the fields that take numbers refuse them by range."""
    return json.loads(text, parse_int=_parse_int)
