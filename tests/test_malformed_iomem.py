"""Every file in tests/malformed_iomem/ is refused with one line naming file, line and what is
wrong; a failed load changes nothing (parse builds a new tree and returns it only when whole)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devmem_tui import files
from devmem_tui.commands.session import Session
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.machine import Machine

CORPUS = Path(__file__).parent / "malformed_iomem"

_RANGE_HINT = "(expected START-END : NAME, e.g. 00100000-7ffdffff : System RAM)"
_ORDER_HINT = "(expected siblings in ascending order, not overlapping)"
_NONROOT = (
    "every address is 00000000-00000000: this /proc/iomem was read without root, and "
    "the kernel (r_show) shows zeros to readers without CAP_SYS_ADMIN; nothing was "
    "loaded"
)
_IOPORTS = "this looks like /proc/ioports"
_EMPTY = "no resource lines: the file is empty"

# file -> (line, or None for a whole-file problem; text the one-line message must contain)
EXPECTED: dict[str, tuple[int | None, str]] = {
    "empty.txt": (None, _EMPTY),
    "only-comments.txt": (None, _EMPTY),
    "only-blank-lines.txt": (None, _EMPTY),
    "non-hex-start.txt": (1, "start address '0000g000' has the non-hex character 'g'"),
    "non-hex-end.txt": (3, "end address '000bfzff' has the non-hex character 'z'"),
    "hex-prefix.txt": (1, "start address '0x00001000' has a 0x prefix"),
    "reversed-range.txt": (2, "range 0009fbff-00001000 ends before it starts"),
    "child-outside-parent.txt": (
        3,
        "80000000-80000fff (Kernel data) is not inside its parent "
        "00100000-7ffdffff : System RAM from line 1",
    ),
    "child-straddles-parent-end.txt": (
        2,
        "febf0000-fec0ffff (0000:00:02.0) is not inside its "
        "parent c0000000-febfffff : PCI Bus 0000:00",
    ),
    "child-below-parent-start.txt": (2, "bfff0000-c000ffff (0000:00:02.0) is not inside"),
    "overlapping-siblings.txt": (
        3,
        "fe002000-fe005fff (0000:00:04.0) overlaps its sibling "
        "fe000000-fe003fff : 0000:00:03.0 from line 2 " + _ORDER_HINT,
    ),
    "overlapping-top-level.txt": (2, "overlaps its sibling 00000000-00000fff : Reserved"),
    "out-of-order.txt": (
        2,
        "00000000-00000fff (Reserved) comes after a sibling that starts "
        "higher, 00100000-7ffdffff : System RAM from line 1",
    ),
    "duplicate-line.txt": (3, "overlaps its sibling 00001000-0009fbff : System RAM from line 2"),
    "crlf-overlap.txt": (3, "00002000-00002fff (x) overlaps its sibling"),
    "indent-jump.txt": (2, "indentation jumps from level 0 to level 2"),
    "tab-indent-jump.txt": (2, "indentation jumps from level 0 to level 2"),
    "first-line-indented.txt": (1, "the first resource line is indented"),
    "odd-indent.txt": (2, "odd indentation of 3 spaces (expected 2 spaces per level)"),
    "odd-indent-one-space.txt": (2, "odd indentation of 1 space (expected 2 spaces per level)"),
    "mixed-tabs-spaces.txt": (2, "indentation mixes tabs and spaces"),
    "capped-depth-outside.txt": (
        7,
        "00010000-00010fff (g) is not inside its parent 00000000-0000ffff : e from line 5",
    ),
    "past-2-64.txt": (1, "start address 10000000000000000 is past 2^64 - 1"),
    "end-past-2-64.txt": (1, "end address 1ffffffffffffffff is past 2^64 - 1"),
    "missing-separator.txt": (1, "cannot read '00000000-00000fff Reserved' " + _RANGE_HINT),
    "no-range.txt": (1, "cannot read 'System RAM'"),
    "missing-dash.txt": (1, "cannot read '00001000 : System RAM'"),
    "spaces-in-range.txt": (1, "cannot read '00000000 - 00000fff : Reserved'"),
    "missing-name.txt": (1, "missing name after ':' (expected START-END : NAME)"),
    "missing-start.txt": (1, "missing start address " + _RANGE_HINT),
    "missing-end.txt": (1, "missing end address"),
    "three-part-range.txt": (1, "end address '00002000-00003000' has the non-hex character '-'"),
    "words-for-addresses.txt": (1, "start address 'start' has the non-hex character 's'"),
    "garbage-line-in-middle.txt": (4, "cannot read 'hello world'"),
    "comments-count-as-lines.txt": (5, "start address '0000g000'"),
    "json.txt": (1, 'cannot read \'{"iomem": [{"start": 0, "end": 4095}]}\''),
    "html.txt": (1, "cannot read '<!DOCTYPE html>'"),
    "unknown-annotation.txt": (
        2,
        "unknown annotation word 'exclusiv' (expected mem, busy, "
        "exclusive, sysram, driver_managed, mergeable, readonly",
    ),
    "unknown-desc.txt": (1, "unknown desc 'ram' in annotation (expected one of none, acpi_tables"),
    "annotation-without-name.txt": (1, "missing name before the annotation"),
    "ioports.txt": (1, _IOPORTS + " (I/O port ranges with 4-digit addresses"),
    "ioports-nonroot.txt": (1, _IOPORTS),
    "ioports-wide.txt": (1, _IOPORTS),
    "nonroot.txt": (1, _NONROOT),
    "nonroot-single-line.txt": (1, _NONROOT),
    "nonroot-crlf.txt": (1, _NONROOT),
    "nul-bytes.bin": (3, "binary data (a NUL byte): not a text file"),
    "png.bin": (1, "byte 0x89 is not UTF-8 text: binary data?"),
    "latin1.txt": (3, "byte 0xe9 is not UTF-8 text"),
    "utf16.txt": (1, "UTF-16 text (as PowerShell's '>' saves it)"),
}


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in CORPUS.iterdir()}
    assert on_disk == set(EXPECTED), on_disk ^ set(EXPECTED)
    assert len(EXPECTED) >= 40


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_gives_one_line_error(name: str) -> None:
    line, what = EXPECTED[name]
    path = str(CORPUS / name)
    with pytest.raises(DevmemError) as info:
        files.load_iomem(path)
    msg = str(info.value)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert msg.startswith(where), msg
    assert what in msg, msg
    assert "\n" not in msg
    assert "(expected" in msg  # every message says what was expected


@pytest.mark.parametrize(
    "name", ["overlapping-siblings.txt", "nonroot.txt", "png.bin", "ioports.txt", "indent-jump.txt"]
)
def test_failed_load_command_leaves_the_session_unchanged(name: str) -> None:
    machine = Machine.from_preset("qemu-x86")
    session = Session(machine)
    session.execute("set kernel 5.15")
    before = iomem_text.render(machine.tree, flags=True)
    result = session.execute(f"load iomem {CORPUS / name}")
    assert result is not None and not result.ok
    assert result.message.startswith("error: ") and "\n" not in result.message
    assert session.machine is machine
    assert iomem_text.render(session.machine.tree, flags=True) == before
    assert session.config.kernel == "5.15.0"


def test_nonroot_message_says_why_in_one_line() -> None:
    with pytest.raises(DevmemError) as info:
        iomem_text.parse(
            "00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n", "iomem.txt"
        )
    msg = str(info.value)
    assert "without root" in msg and "CAP_SYS_ADMIN" in msg and "nothing was loaded" in msg
    assert "sudo cat /proc/iomem" in msg


def test_a_line_of_zeros_among_real_lines_is_not_the_nonroot_case() -> None:
    tree = iomem_text.parse("00000000-00000000 : first byte\n00001000-00001fff : x\n")
    assert [r.name for _, r in tree.walk()] == ["first byte", "x"]
