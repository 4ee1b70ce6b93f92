"""Malformed snapshots: truncated, an unknown version, sections mixed up, hostile names, values
the kernel never prints. Each is refused by `open` and `load snapshot` with one line naming
the file and line, and changes nothing. Plus random text into the parser (only one-line
errors) and random snapshots through render and parse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_snapshot_machines import snapshot_text

from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.snapshot import build
from devmem_tui.engine.snapshot import format as fmt

BASE = snapshot_text("qemu-debian61")
LINES = BASE.splitlines()


def at(prefix: str) -> int:
    """Line number (1-based) of the first line starting with prefix."""
    return next(i for i, line in enumerate(LINES, 1) if line.startswith(prefix))


def edit(prefix: str, new: str | None) -> Callable[[list[str]], list[str]]:
    """Replace (or, with None, delete) the first line starting with prefix."""

    def f(lines: list[str]) -> list[str]:
        i = at(prefix) - 1
        return lines[:i] + ([] if new is None else [new]) + lines[i + 1 :]

    return f


def insert(before: str, *new: str) -> Callable[[list[str]], list[str]]:
    def f(lines: list[str]) -> list[str]:
        i = at(before) - 1
        return lines[:i] + list(new) + lines[i:]

    return f


def truncate_at(prefix: str, keep: int = 0) -> Callable[[list[str]], list[str]]:
    """The file cut inside a line (keep characters of it), as a failed copy leaves it."""

    def f(lines: list[str]) -> list[str]:
        i = at(prefix) - 1
        return lines[:i] + ([lines[i][:keep]] if keep else [])

    return f


V = "virtio0.block_size"
# name -> (edit, the line the error names, the text of the message after "FILE:LINE: ")
CASES: dict[str, tuple[Callable[[list[str]], list[str]], int, str]] = {
    "truncated in [iomem]": (
        truncate_at("100000000-1ffffffff : virtio0", keep=11),
        at("100000000-1ffffffff : virtio0"),
        "the snapshot ends before its [end] line: truncated? (expected [end] last)",
    ),
    "truncated before [end]": (
        truncate_at("[end]"),
        at("[end]") - 1,
        "the snapshot ends before its [end] line: truncated? (expected [end] last)",
    ),
    "newer format version": (
        edit("devmem-tui snapshot", "devmem-tui snapshot 2"),
        1,
        "snapshot format version 2 is newer than this devmem-tui reads (1); upgrade devmem-tui",
    ),
    "version not a number": (
        edit("devmem-tui snapshot", "devmem-tui snapshot one"),
        1,
        "snapshot format version 'one' is not a number (expected 'devmem-tui snapshot 1')",
    ),
    "version zero": (
        edit("devmem-tui snapshot", "devmem-tui snapshot 0"),
        1,
        "snapshot format version 0 does not exist (expected 1)",
    ),
    "iomem line in [kernel]": (
        insert("arch: ", "00000000-00000fff : Reserved"),
        at("arch: "),
        "cannot read '00000000-00000fff : Reserved' in [kernel] (expected KEY: VALUE with KEY "
        "one of release, version, version signature, arch, address sizes, cpu pat, cmdline, "
        "lockdown)",
    ),
    "kernel key in [iomem]": (
        insert("00001000-0009fbff : System RAM", "release: 6.1.0-18-amd64"),
        at("00001000-0009fbff : System RAM"),
        "cannot read 'release: 6.1.0-18-amd64' (expected START-END : NAME, e.g. "
        "00100000-7ffdffff : System RAM)",
    ),
    "memory row in [virtio-mem]": (
        insert(V, "memory32       online         00000020   1         Movable"),
        at(V),
        "cannot read 'memory32       online         00000020   1         Movable' in "
        "[virtio-mem] (expected virtioN.KEY: VALUE with KEY one of block_size, "
        "memory_block_size, subblock_size, big_block_size, nid, plugged_size, requested_size)",
    ),
    "a second [kernel] section": (
        insert("[iomem]", "[kernel]", "release: 6.6.0"),
        at("[iomem]"),
        f"a second [kernel] section (the first starts at line {at('[kernel]')})",
    ),
    "a second release": (
        insert("arch: ", "release: 6.6.0"),
        at("arch: "),
        f"a second 'release' in [kernel] (the first is at line {at('release: ')})",
    ),
    "unknown section": (
        insert("[iomem]", "[firmware]"),
        at("[iomem]"),
        "unknown section [firmware] (expected one of [snapshot], [kernel], [kernel config], "
        "[iomem], [memory blocks], [virtio-mem], [kernel log], then [end])",
    ),
    "text after [end]": (
        lambda lines: [*lines, "release: 6.6.0"],
        len(LINES) + 1,
        f"text after the [end] line at line {at('[end]')}",
    ),
    "text before the first section": (
        insert("[snapshot]", "release: 6.1"),
        at("[snapshot]"),
        "'release: 6.1' before the first [section] header",
    ),
    "no [iomem] section": (
        lambda lines: [
            x
            for x in lines
            if not x.startswith(("[iomem]", "  ", "0", "1", "2", "4", "7", "8", "b", "c", "f"))
        ],
        None,  # the [end] line: computed below
        "[end] comes before any [iomem] section",
    ),
    "empty [iomem]": (
        lambda lines: [
            x for i, x in enumerate(lines, 1) if not at("[iomem]") < i < at("[memory blocks]") - 1
        ],
        at("[iomem]"),
        "the [iomem] section is empty (expected the /proc/iomem lines, read as root)",
    ),
    "iomem read without root": (
        lambda lines: [
            "00000000-00000000" + x[x.index(" :") :]
            if at("[iomem]") < i < at("[memory blocks]") and " : " in x
            else x
            for i, x in enumerate(lines, 1)
        ],
        at("[iomem]") + 1,
        "every address in [iomem] is 00000000-00000000: the snapshot was taken without root (the "
        "kernel shows zeros to readers without CAP_SYS_ADMIN); nothing was loaded (expected a "
        "snapshot taken as root: sudo devmem-tui snapshot)",
    ),
    "hostile block name": (
        edit("memory33 ", "memory../../etc/passwd online 00000021 1 Movable"),
        at("memory33 "),
        "cannot read 'memory../../etc/passwd online 00000021 1 Movable' in [memory blocks] "
        "(expected memoryN STATE PHYS_INDEX REMOVABLE VALID_ZONES, e.g. memory32 online "
        "00000020 1 Normal)",
    ),
    "phys_index of another block": (
        edit("memory33 ", "memory33 online 00000020 1 Movable"),
        at("memory33 "),
        "memory33: phys_index '00000020' is not the block's number (expected 00000021, as sysfs "
        "prints it)",
    ),
    "a block twice": (
        insert("memory33 ", "memory32 online 00000020 1 Movable"),
        at("memory33 "),
        f"memory32 a second time (the first is at line {at('memory32 ')})",
    ),
    "unknown zone": (
        edit("memory33 ", "memory33 online 00000021 1 Movable;reboot"),
        at("memory33 "),
        "memory33: unknown zone 'Movable;reboot' (expected DMA, DMA32, Normal, HighMem, "
        "Movable, Device, none or -)",
    ),
    "unknown block state": (
        edit("memory33 ", "memory33 sideways 00000021 1 Movable"),
        at("memory33 "),
        "memory33: unknown state 'sideways' (expected online, offline, going-offline)",
    ),
    "escape sequence in the host name": (
        edit("host: ", "host: evil\x1b]0;pwned\x07"),
        at("host: "),
        "control character U+001B in the [snapshot] section (expected printable text; "
        "'devmem-tui snapshot' writes such characters as \\xNN)",
    ),
    "line separator in a log line": (
        edit("virtio_mem virtio0: start address", "virtio_mem virtio0: x\u2028[end]"),
        at("virtio_mem virtio0: start address"),
        "control character U+2028 in the [kernel log] section (expected printable text; "
        "'devmem-tui snapshot' writes such characters as \\xNN)",
    ),
    "hostile device key": (
        edit(V, "virtio0;rm -rf.block_size: 0x200000"),
        at(V),
        "cannot read 'virtio0;rm -rf.block_size: 0x200000' in [virtio-mem] (expected "
        "virtioN.KEY: VALUE with KEY one of block_size, memory_block_size, subblock_size, "
        "big_block_size, nid, plugged_size, requested_size)",
    ),
    "unknown device key": (
        edit(V, "virtio0.evil: 1"),
        at(V),
        "unknown key 'evil' in [virtio-mem] (expected virtioN.KEY: VALUE with KEY one of "
        "block_size, memory_block_size, subblock_size, big_block_size, nid, plugged_size, "
        "requested_size)",
    ),
    "device block size not a power of two": (
        edit(V, "virtio0.block_size: 0x300000"),
        at(V),
        "virtio0.block_size 0x300000 does not fit its region 0x100000000-0x1ffffffff (expected "
        "a power of two >= 1M that divides its start and size)",
    ),
    "requested size off the block size": (
        edit("virtio0.requested_size", "virtio0.requested_size: 0x10000001"),
        at("virtio0.requested_size"),
        "virtio0.requested_size 0x10000001 is not a multiple of the device block size 0x200000 "
        "within the region size 0x100000000",
    ),
    "memory block size of another machine": (
        edit("virtio0.memory_block_size", "virtio0.memory_block_size: 0x10000000"),
        at("virtio0.memory_block_size"),
        "virtio0.memory_block_size 0x10000000 differs from the memory block size 0x8000000 "
        "(block_size_bytes)",
    ),
    "block size not a power of two": (
        edit("block_size_bytes", "block_size_bytes: 9000000"),
        at("block_size_bytes"),
        "block_size_bytes '9000000' is not a memory block size (expected a power of two in hex, "
        "as sysfs prints it: 8000000 for 128 MiB)",
    ),
    "auto_online_blocks the kernel never prints": (
        edit("auto_online_blocks", "auto_online_blocks: sometimes"),
        at("auto_online_blocks"),
        "auto_online_blocks 'sometimes' (expected offline, online, online_kernel, online_movable)",
    ),
    "an architecture devmem-tui does not model": (
        edit("arch: ", "arch: riscv64"),
        at("arch: "),
        "architecture 'riscv64' is not one devmem-tui models (expected x86_64 or aarch64)",
    ),
    "a kernel too old to model": (
        lambda lines: edit("version: ", None)(edit("release: ", "release: 2.6.32-754.el6")(lines)),
        at("release: "),
        "kernel release 2.6.32-754.el6: kernel version '2.6.32-754.el6' is outside 3.0 .. 7.x",
    ),
    "no release": (
        edit("release: ", None),
        at("[kernel]"),
        "no kernel release in [kernel] (expected release: 6.1.0-18-amd64, as "
        "/proc/sys/kernel/osrelease has it)",
    ),
    "a config line the kernel never writes": (
        edit("CONFIG_DEVPORT=y", "DEVPORT=y"),
        at("CONFIG_DEVPORT=y"),
        "cannot read 'DEVPORT=y' in [kernel config] (expected source: FILE, CONFIG_NAME=VALUE "
        "or # CONFIG_NAME is not set)",
    ),
    "a config option twice": (
        insert("CONFIG_DEVPORT=y", "# CONFIG_DEVMEM is not set"),
        at("CONFIG_DEVPORT=y"),
        f"CONFIG_DEVMEM a second time (the first is at line {at('CONFIG_DEVMEM=y')})",
    ),
    "source after the options": (
        insert("CONFIG_DEVPORT=y", "source: /proc/config.gz"),
        at("CONFIG_DEVPORT=y"),
        "'source:' must be the first line of [kernel config], once",
    ),
    "not a snapshot": (
        lambda lines: ["devmem-tui snapshotx 1", *lines[1:]],
        1,
        "not a devmem-tui snapshot (expected the first line 'devmem-tui snapshot 1')",
    ),
    "a System RAM (virtio_mem) range that is not whole memory blocks": (
        edit(
            "  100000000-10fffffff : System RAM (virtio_mem)",
            "  100000000-10ffeffff : System RAM (virtio_mem)",
        ),
        at("  100000000-10fffffff : System RAM (virtio_mem)"),
        "100000000-10ffeffff : System RAM (virtio_mem) is not made of whole 128M memory blocks "
        "(add_memory_driver_managed adds whole blocks)",
    ),
}


def _case(name: str) -> tuple[str, int, str]:
    change, line, message = CASES[name]
    lines = change(list(LINES))
    if line is None:
        line = lines.index("[end]") + 1
    return "\n".join(lines) + "\n", line, message


def _base_sessions() -> list[Session]:
    rich = Session.new()
    for cmd in ("vmem resize vmem0 1G", "mmap 0x1000 4096", "set io_strict_devmem on"):
        r = rich.execute(cmd)
        assert r is not None and r.ok
    return [Session.new(), rich]


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_snapshot_is_one_line_and_changes_nothing(name: str, tmp_path: Path) -> None:
    text, line, message = _case(name)
    path = tmp_path / "broken.snap"
    path.write_text(text)
    with pytest.raises(DevmemError) as e:
        build.build(fmt.parse(text, str(path)))
    assert str(e.value).startswith(f"{path}:{line}: {message}"), str(e.value)
    for session in _base_sessions():
        before = state.to_dict(session.machine)
        machine = session.machine
        for cmd in (f"open {path}", f"load snapshot {path}"):
            r = session.execute(cmd)
            assert r is not None and not r.ok
            assert r.message.startswith(f"error: {path}:{line}: {message}"), (cmd, r.message)
            assert "\n" not in r.message
        assert session.machine is machine and state.to_dict(machine) == before


def test_bytes_that_are_not_text(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.snap"
    bad.write_bytes(BASE.replace("debian-guest", "d\xe9bian").encode("latin-1"))
    nul = tmp_path / "nul.snap"
    nul.write_bytes(BASE.encode().replace(b"[iomem]", b"[iomem]\0"))
    session = Session.new()
    for path, problem in (
        (
            bad,
            f"{bad}:{at('host: ')}: byte 0xe9 is not UTF-8 text (expected the text "
            "'devmem-tui snapshot' writes)",
        ),
        (nul, f"{nul}:{at('[iomem]')}: binary data (a NUL byte): not a text file"),
    ):
        for cmd in ("open", "load snapshot"):
            r = session.execute(f"{cmd} {path}")
            assert r is not None and r.message == f"error: {problem}", r.message


def test_open_tells_snapshots_from_sessions(tmp_path: Path) -> None:
    snap = tmp_path / "box.snap"
    snap.write_text(BASE)
    session = Session.new()
    r = session.execute(f"open {snap}")
    assert r is not None and r.ok and r.message.startswith(f"opened {snap}: a snapshot of debian")
    saved = tmp_path / "s.json"
    saving = session.execute(f"save {saved}")
    assert saving is not None and saving.ok
    other = Session.new()
    r = other.execute(f"open {saved}")
    assert r is not None and r.ok and r.message.startswith(f"opened {saved} (machine debian-guest")
    assert state.to_dict(other.machine) == state.to_dict(session.machine)  # sources saved too
    assert other.config.source("kernel").startswith(f"snapshot {snap}: ")
    r = other.execute(f"load snapshot {saved}")
    assert r is not None and r.message == (
        f"error: {saved}:1: not a devmem-tui snapshot (expected the first line "
        "'devmem-tui snapshot 1')"
    )


def test_the_corpus_snapshots() -> None:
    """tests/corpus/snapshot-*.snap (also run by the failing-command corpus on every base):
    the valid one opens, every other one is one line naming its file and line."""
    corpus = Path(__file__).parent / "corpus"
    seen = 0
    for path in sorted(corpus.glob("snapshot-*.snap")):
        session = Session.new()
        r = session.execute(f"open {path}")
        assert r is not None, path
        if path.name == "snapshot-valid.snap":
            assert r.ok and session.machine.vmem["vmem0"].device.plugged_size == 256 << 20
        else:
            assert not r.ok and r.message.startswith(f"error: {path}:") and "\n" not in r.message
        seen += 1
    assert seen == 7


# ----------------------------------------------------------------------------- properties
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_is_refused_in_one_line(text: str) -> None:
    for candidate in (text, "devmem-tui snapshot 1\n" + text):
        try:
            build.build(fmt.parse(candidate, "r.snap"))
        except DevmemError as e:
            assert "\n" not in str(e) and str(e).startswith("r.snap")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(LINES) - 1), min_size=1, max_size=4), st.data())
def test_damaged_snapshots_are_refused_in_one_line_or_build(cuts: list[int], data) -> None:  # type: ignore[no-untyped-def]
    """Lines dropped, duplicated or garbled: an error naming the file, or a machine whose
    devices agree with their driver."""
    lines = list(LINES)
    for i in sorted(set(cuts), reverse=True):
        how = data.draw(st.sampled_from(["drop", "dup", "garble"]))
        if how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i] = data.draw(st.text(max_size=30))
    try:
        b = build.build(fmt.parse("\n".join(lines) + "\n", "d.snap"))
    except DevmemError as e:
        assert "\n" not in str(e) and str(e).startswith("d.snap")
        return
    b.machine.tree.check()
    for vm in b.machine.vmem.values():
        vm.check()


_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Zl", "Zp", "Cs")), max_size=20
)


@settings(max_examples=100, deadline=None)
@given(
    host=_names,
    release=st.from_regex(r"[3-7]\.[0-9]{1,2}(\.[0-9]{1,3})?[a-z0-9.+-]{0,12}", fullmatch=True),
    cmdline=_names,
    options=st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True),
        st.sampled_from(["y", "m", "n", "48", '""']),
        max_size=6,
    ),
)
def test_render_then_parse_gives_the_snapshot_back(
    host: str, release: str, cmdline: str, options: dict[str, str]
) -> None:
    snap = fmt.parse(BASE)
    snap.info["host"] = fmt.Value(host.strip())
    snap.kernel["release"] = fmt.Value(release)
    snap.kernel["cmdline"] = fmt.Value(cmdline.strip())
    snap.config = {k: fmt.Value(v) for k, v in options.items()}
    assert fmt.parse(fmt.render(snap)) == snap


def test_sweep_against_a_snapshot(tmp_path: Path) -> None:
    """`sweep OP --vs-saved FILE` takes a snapshot as well as a saved session: what this
    machine answers differently from that one."""
    snap = tmp_path / "box.snap"
    snap.write_text(BASE)
    session = Session.new()
    r = session.execute(f"sweep read 0x100000000-0x1ffffffff --vs-saved {snap}")
    assert r is not None and r.ok, r.message
    assert r.message.splitlines()[0] == (
        f"sweep read 0x100000000-0x1ffffffff: this session (6.16.0 x86_64 S iomem=default) -> "
        f"{snap} (6.1.76 x86_64 SI iomem=default): 1 range change"
    )
    bad = tmp_path / "bad.snap"
    bad.write_text(BASE.replace("devmem-tui snapshot 1", "devmem-tui snapshot 9"))
    r = session.execute(f"sweep read --vs-saved {bad}")
    assert r is not None and r.message == (
        f"error: {bad}:1: snapshot format version 9 is newer than this devmem-tui reads (1); "
        "upgrade devmem-tui"
    )
