"""Numbers, sizes, ranges and durations as every command accepts them."""

import pytest

from devmem_tui.commands.numbers import (
    parse_duration,
    parse_number,
    parse_range,
    parse_size,
)
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.units import fmt_size


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0x140000000", 0x140000000),
        ("4096", 4096),
        ("128M", 128 << 20),
        ("2m", 2 << 20),
        ("1G", 1 << 30),
        ("1T", 1 << 40),
        ("4K", 4096),
        ("0x10K", 0x10 << 10),
        ("16GiB", 16 << 30),
        ("0xffffffffffffffff", (1 << 64) - 1),
        ("0", 0),
    ],
)
def test_parse_number(text: str, value: int) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("12Q", "expected hex"),
        ("-1", "negative"),
        ("0x", "expected hex"),
        ("0x10000000000000000", "past 2^64 - 1"),
        ("18446744073709551616", "past 2^64 - 1"),
        ("16777216T", "past 2^64 - 1"),
        ("", "expected hex"),
        ("0xzz", "expected hex"),
    ],
)
def test_bad_numbers(text: str, problem: str) -> None:
    with pytest.raises(DevmemError, match="bad") as e:
        parse_number(text, "address")
    assert problem in str(e.value)
    assert "\n" not in str(e.value)


def test_size_must_be_positive() -> None:
    with pytest.raises(DevmemError, match="greater than zero"):
        parse_size("0")


@pytest.mark.parametrize(
    ("text", "rng"),
    [
        ("0x1000-0x1fff", (0x1000, 0x1FFF)),
        ("0x1000+4K", (0x1000, 0x1FFF)),
        ("140000000+1G", None),
        ("0x140000000+1G", (0x140000000, 0x17FFFFFFF)),
        ("0-0", (0, 0)),
    ],
)
def test_parse_range(text: str, rng: tuple[int, int] | None) -> None:
    if rng is None:
        assert parse_range(text) == (140000000, 140000000 + (1 << 30) - 1)
    else:
        assert parse_range(text) == rng


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0x2000-0x1000", "below start"),
        ("0x1000", "expected START-END"),
        ("0xffffffffffffffff+2", "past 2^64 - 1"),
        ("0x1000+0", "greater than zero"),
    ],
)
def test_bad_ranges(text: str, problem: str) -> None:
    with pytest.raises(DevmemError) as e:
        parse_range(text)
    assert problem in str(e.value)


@pytest.mark.parametrize(
    ("text", "secs"), [("50s", 50), ("5m", 300), ("1h", 3600), ("250ms", 0.25), ("7", 7)]
)
def test_durations(text: str, secs: float) -> None:
    assert parse_duration(text) == secs


def test_bad_duration() -> None:
    with pytest.raises(DevmemError, match="bad duration"):
        parse_duration("5 parsecs")


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (128 << 20, "128M"),
        (1 << 30, "1G"),
        (3 << 29, "1.5G"),
        (59 << 28, "14.75G"),
        (100, "100"),
        (4096, "4K"),
        (4097, "0x1001"),  # exact or hex, never rounded
    ],
)
def test_fmt_size(n: int, text: str) -> None:
    assert fmt_size(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (100, "100"),
        (3 << 29, "1.5G"),  # as without decimal=True wherever three decimals do
        (0x33E0C0, "3320.1875K"),  # not hex: the iomem tree's size column
        (4097, "4.0009765625K"),  # a KiB divides into ten decimals at most
        ((1 << 64) - 4096, "18014398509481980K"),  # integers: a float would round this
    ],
)
def test_fmt_size_decimal(n: int, text: str) -> None:
    assert fmt_size(n, decimal=True) == text
