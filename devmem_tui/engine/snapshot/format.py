"""The snapshot file: one machine's memory map and the kernel settings that decide /dev/mem
access, as plain text a person can read and paste into a bug report (docs/snapshot.md).

```
devmem-tui snapshot 1
[snapshot]          date, host, tool, root
[kernel]            release, version, version signature, arch, address sizes, cpu pat,
                    cmdline, lockdown
[kernel config]     source: FILE (or none), then CONFIG_X=y / # CONFIG_X is not set lines
[iomem]             /proc/iomem, exactly as the kernel printed it
[memory blocks]     block_size_bytes, auto_online_blocks, one row per memoryN
[virtio-mem]        virtioN.KEY: VALUE, from the driver's own lines in the kernel log
[kernel log]        those lines
[end]
```

``parse`` reads such text into a ``Snapshot`` and ``render`` writes one; ``parse(render(s))
== s``. The file is untrusted input: anything that is not exactly this shape (a truncated
file without its ``[end]`` line, a newer format version, a line of one section inside
another, a second copy of a section or key, names that are not what the kernel writes, control
characters) is refused with one line ``FILE:LINE: problem (expected ...)``. The ``[iomem]``
lines are parsed later, by the /proc/iomem parser, with their line numbers in this file.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from devmem_tui.engine.errors import DevmemError

MAGIC = "devmem-tui snapshot"
VERSION = 1
END = "end"

SNAPSHOT = "snapshot"
KERNEL = "kernel"
CONFIG = "kernel config"
IOMEM = "iomem"
MEMORY = "memory blocks"
VMEM = "virtio-mem"
LOG = "kernel log"
SECTIONS = (SNAPSHOT, KERNEL, CONFIG, IOMEM, MEMORY, VMEM, LOG)

# The keys each key-value section may hold, in the order they are written.
SNAPSHOT_KEYS = ("date", "host", "tool", "root")
KERNEL_KEYS = (
    "release",
    "version",
    "version signature",
    "arch",
    "address sizes",
    "cpu pat",
    "cmdline",
    "lockdown",
)
MEMORY_KEYS = ("block_size_bytes", "auto_online_blocks")
# What the virtio-mem driver prints about a device (drivers/virtio/virtio_mem.c
# virtio_mem_init / virtio_mem_init_hotplug dev_info(), and virtio_mem_refresh_config(), which
# prints plugged and requested size at every config change, before it (un)plugs).
VMEM_KEYS = (
    "block_size",
    "memory_block_size",
    "subblock_size",
    "big_block_size",
    "nid",
    "plugged_size",
    "requested_size",
)
# drivers/base/memory.c state_show(): "online", "offline", "going-offline".
BLOCK_STATES = ("online", "offline", "going-offline")
# Zone names valid_zones prints (include/linux/mmzone.h zone_names), and "none" for an online
# block that spans zones.
ZONE_WORDS = ("DMA", "DMA32", "Normal", "HighMem", "Movable", "Device", "none")

MAX_LINE = 16384  # characters; a kernel command line is at most 4096 bytes (COMMAND_LINE_SIZE)
MAX_BLOCK_ID = 1 << 40

_SECTION = re.compile(r"\[([a-z][a-z -]*)\]")
_KEY = re.compile(r"([a-z][a-z_ ]*?):[ \t]*(.*)")
_CONFIG_SET = re.compile(r"CONFIG_([A-Za-z0-9_]+)=(.*)")
_CONFIG_UNSET = re.compile(r"# CONFIG_([A-Za-z0-9_]+) is not set")
_BLOCK = re.compile(r"memory(\d{1,13})[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S.*)")
_VMEM = re.compile(r"virtio(\d{1,9})\.([a-z_]+):[ \t]*(\S+)(?:[ \t]+#.*)?")
# C0 controls but tab, DEL, C1 controls and the Unicode line and paragraph separators: a
# terminal acts on them, and str.splitlines() would split a line at some of them.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


class SnapshotError(DevmemError):
    """A snapshot that cannot be read; str() is one line, ``FILE:LINE: problem``."""


@dataclass(frozen=True)
class Value:
    """One value of a snapshot and the line it was read from (0: not read from a file)."""

    text: str
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BlockRow:
    """One ``/sys/devices/system/memory/memoryN``: state, phys_index (hex, as sysfs prints
    it), removable ("0", "1", "-" when absent) and valid_zones (() when absent)."""

    block: int
    state: str
    phys_index: str
    removable: str
    zones: tuple[str, ...]
    line: int = field(default=0, compare=False)


@dataclass
class Snapshot:
    """A parsed snapshot. Sections that were absent are empty; ``present`` says which were
    there (section -> line of its header). ``notes`` are the comment lines ``render`` writes
    under a section header (what the collector could not read, where values came from); they
    are not read back."""

    info: dict[str, Value] = field(default_factory=dict)  # [snapshot]
    kernel: dict[str, Value] = field(default_factory=dict)
    config_source: Value | None = None  # the file the kernel config came from, or "none"
    config: dict[str, Value] = field(default_factory=dict)  # "DEVMEM" -> "y"; not set -> "n"
    iomem: str = ""  # the /proc/iomem text, lines ending in "\n"
    iomem_line: int = field(default=0, compare=False)  # line of its first line in the file
    memory: dict[str, Value] = field(default_factory=dict)  # block_size_bytes, auto_online
    blocks: list[BlockRow] = field(default_factory=list)
    vmem: dict[int, dict[str, Value]] = field(default_factory=dict)  # N of virtioN -> key
    log: list[Value] = field(default_factory=list)
    present: dict[str, int] = field(default_factory=dict, compare=False)
    source: str = field(default="<snapshot>", compare=False)
    version: int = VERSION
    notes: dict[str, list[str]] = field(default_factory=dict, compare=False)

    def where(self, line: int) -> str:
        """``FILE:LINE`` (or just FILE when the value was not read from a file)."""
        return f"{self.source}:{line}" if line else self.source

    def error(self, line: int, problem: str) -> SnapshotError:
        return SnapshotError(f"{self.where(line)}: {problem}")

    def iomem_for_parser(self) -> str:
        """The [iomem] lines, preceded by blank lines so that the /proc/iomem parser's line
        numbers are this file's (the parser skips blank lines and counts them)."""
        return "\n" * max(self.iomem_line - 1, 0) + self.iomem


# ----------------------------------------------------------------------------- parse
_RANGE = re.compile(r"(?m)^[ \t]*([0-9a-fA-F]+)-([0-9a-fA-F]+)[ \t]*:")


def zeroed(iomem: str) -> bool:
    """Whether every range of a /proc/iomem text is 0-0: the kernel's r_show() prints that to
    readers without CAP_SYS_ADMIN."""
    seen = False
    for m in _RANGE.finditer(iomem):  # a real map says no at its first line
        if int(m.group(1), 16) or int(m.group(2), 16):
            return False
        seen = True
    return seen


def is_snapshot(text: str) -> bool:
    """Whether text starts like a snapshot (``open`` tells snapshots from session files)."""
    return text.lstrip("\ufeff").startswith(MAGIC)


def decode(data: bytes, source: str) -> str:
    """The bytes of a snapshot file as text (UTF-8), or a one-line SnapshotError."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise SnapshotError(
            f"{source}:{line}: byte 0x{data[e.start]:02x} is not UTF-8 text (expected the text "
            "'devmem-tui snapshot' writes)"
        ) from None


def _normalized(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    # The same line breaks the /proc/iomem parser sees, so that line numbers agree.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _header(snap: Snapshot, first: str) -> None:
    rest = first.rstrip(" \t")[len(MAGIC) :] if first.startswith(MAGIC) else None
    if rest is None or (rest and not rest.startswith(" ")):
        raise snap.error(
            1, f"not a devmem-tui snapshot (expected the first line '{MAGIC} {VERSION}')"
        )
    word = rest.strip()
    if not word.isdigit() or len(word) > 6:
        raise snap.error(
            1, f"snapshot format version {word!r} is not a number (expected '{MAGIC} {VERSION}')"
        )
    version = int(word)
    if version > VERSION:
        raise snap.error(
            1,
            f"snapshot format version {version} is newer than this devmem-tui reads "
            f"({VERSION}); upgrade devmem-tui",
        )
    if version < 1:
        raise snap.error(1, f"snapshot format version {version} does not exist (expected 1)")
    snap.version = version


def parse(text: str, source: str = "<snapshot>") -> Snapshot:
    """Read a snapshot (see the module docstring); SnapshotError (one line) if it is not one."""
    snap = Snapshot(source=source)
    nul = text.find("\x00")
    if nul >= 0:
        raise snap.error(text.count("\n", 0, nul) + 1, "binary data (a NUL byte): not a text file")
    text = _normalized(text)
    lines = text.split("\n")
    _header(snap, lines[0])
    # The [iomem] section is most of a large snapshot: it is cut out whole, up to the next
    # header line, and left to the /proc/iomem parser (no per-line work here).
    headers = _header_lines(text)
    bodies: dict[str, list[tuple[int, str]]] = {}
    iomem: tuple[int, list[str]] = (0, [])
    current: list[tuple[int, str]] | None = None
    name = ""
    ended = 0
    i = 1
    while i < len(lines):
        no, line = i + 1, lines[i].rstrip(" \t")
        i += 1
        if len(line) > MAX_LINE:
            raise snap.error(
                no, f"line is {len(line)} characters long (expected at most {MAX_LINE})"
            )
        bad = _CONTROL.search(line)
        if bad:
            raise snap.error(
                no,
                f"control character U+{ord(bad.group()):04X} in the "
                f"{'[' + name + '] section' if name else 'header'} (expected printable "
                "text; 'devmem-tui snapshot' writes such characters as \\xNN)",
            )
        if ended:
            if line.strip() and not line.lstrip().startswith("#"):
                raise snap.error(no, f"text after the [end] line at line {ended}")
            continue
        m = _SECTION.fullmatch(line)
        if m is not None:
            word = m.group(1)
            if word == END:
                ended = no
                continue
            if word not in SECTIONS:
                raise snap.error(
                    no,
                    f"unknown section [{word}] (expected one of "
                    + ", ".join(f"[{s}]" for s in SECTIONS)
                    + ", then [end])",
                )
            if word in snap.present:
                raise snap.error(
                    no, f"a second [{word}] section (the first starts at line {snap.present[word]})"
                )
            snap.present[word] = no
            name = word
            if word == IOMEM:
                nxt = (
                    headers[bisect.bisect_right(headers, i - 1)] if headers[-1] >= i else len(lines)
                )
                iomem = (i + 1, lines[i:nxt])
                i = nxt
                current = None
                continue
            current = bodies.setdefault(word, [])
            continue
        if current is None:
            if line.strip() and not line.lstrip().startswith("#"):
                raise snap.error(no, f"{_show(line)} before the first [section] header")
            continue
        current.append((no, line))
    if not ended:
        last = len(lines) if lines[-1] else max(len(lines) - 1, 1)
        raise snap.error(
            last, "the snapshot ends before its [end] line: truncated? (expected [end] last)"
        )
    for required in (KERNEL, IOMEM):
        if required not in snap.present:
            raise snap.error(ended, f"[end] comes before any [{required}] section")
    _keys(snap, bodies.get(SNAPSHOT, []), SNAPSHOT, SNAPSHOT_KEYS, snap.info)
    _keys(snap, bodies.get(KERNEL, []), KERNEL, KERNEL_KEYS, snap.kernel)
    _config(snap, bodies.get(CONFIG, []))
    _iomem(snap, *iomem)
    _memory(snap, bodies.get(MEMORY, []))
    _vmem(snap, bodies.get(VMEM, []))
    snap.log = [Value(t, n) for n, t in _content(bodies.get(LOG, []))]
    return snap


_HEADER_LINE = re.compile(r"(?m)^\[[a-z][a-z -]*\][ \t]*$")


def _header_lines(text: str) -> list[int]:
    """The 0-based indexes of the lines that look like section headers, ascending."""
    out, pos, line = [], 0, 0
    for m in _HEADER_LINE.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        out.append(line)
    return out or [-1]


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _content(body: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """The lines of a section that say something (not blank, not a comment)."""
    return ((no, line) for no, line in body if line.strip() and not _comment(line))


def _show(line: str) -> str:
    return repr(line if len(line) <= 60 else line[:57] + "...")


def _keys(
    snap: Snapshot, body: list[tuple[int, str]], section: str, known: tuple[str, ...], out: dict
) -> None:
    for no, line in _content(body):
        m = _KEY.fullmatch(line)
        if m is None or m.group(1) not in known:
            what = f"unknown key {m.group(1)!r}" if m else f"cannot read {_show(line)}"
            raise snap.error(
                no,
                f"{what} in [{section}] (expected KEY: VALUE with KEY one of {', '.join(known)})",
            )
        key = m.group(1)
        if key in out:
            raise snap.error(
                no, f"a second {key!r} in [{section}] (the first is at line {out[key].line})"
            )
        out[key] = Value(m.group(2), no)


def _config(snap: Snapshot, body: list[tuple[int, str]]) -> None:
    for no, line in body:
        if not line.strip():
            continue
        m = _CONFIG_SET.fullmatch(line)
        unset = _CONFIG_UNSET.fullmatch(line) if m is None else None
        if m is None and unset is None:
            if _comment(line):
                continue
            k = _KEY.fullmatch(line)
            if k is not None and k.group(1) == "source":
                if snap.config_source is not None or snap.config:
                    raise snap.error(
                        no, "'source:' must be the first line of [kernel config], once"
                    )
                snap.config_source = Value(k.group(2), no)
                continue
            raise snap.error(
                no,
                f"cannot read {_show(line)} in [kernel config] (expected source: FILE, "
                "CONFIG_NAME=VALUE or # CONFIG_NAME is not set)",
            )
        if m is not None:
            name, value = m.group(1), m.group(2)
        else:
            assert unset is not None
            name, value = unset.group(1), "n"
        if name in snap.config:
            raise snap.error(
                no, f"CONFIG_{name} a second time (the first is at line {snap.config[name].line})"
            )
        snap.config[name] = Value(value, no)


def _iomem(snap: Snapshot, first: int, lines: list[str]) -> None:
    """The [iomem] lines as they are (first: the file line of lines[0]), without the blank
    lines around them."""
    a, b = 0, len(lines)
    while b > a and not lines[b - 1].strip():
        b -= 1
    while a < b and not lines[a].strip():
        a += 1
    if a == b:
        raise snap.error(
            snap.present[IOMEM],
            "the [iomem] section is empty (expected the /proc/iomem lines, read as root)",
        )
    snap.iomem_line = first + a
    snap.iomem = "\n".join(lines[a:b]) + "\n"


def _memory(snap: Snapshot, body: list[tuple[int, str]]) -> None:
    seen: dict[int, int] = {}
    for no, line in _content(body):
        if line.startswith("memory"):
            m = _BLOCK.fullmatch(line)
            if m is None:
                raise snap.error(
                    no,
                    f"cannot read {_show(line)} in [memory blocks] (expected memoryN STATE "
                    "PHYS_INDEX REMOVABLE VALID_ZONES, e.g. memory32 online 00000020 1 Normal)",
                )
            snap.blocks.append(_block_row(snap, no, m, seen))
            continue
        m2 = _KEY.fullmatch(line)
        if m2 is None or m2.group(1) not in MEMORY_KEYS:
            raise snap.error(
                no,
                f"cannot read {_show(line)} in [memory blocks] (expected block_size_bytes: HEX, "
                "auto_online_blocks: STATE or memoryN rows)",
            )
        if m2.group(1) in snap.memory:
            raise snap.error(no, f"a second {m2.group(1)!r} in [memory blocks]")
        snap.memory[m2.group(1)] = Value(m2.group(2), no)


def _block_row(snap: Snapshot, no: int, m: re.Match[str], seen: dict[int, int]) -> BlockRow:
    block = int(m.group(1))
    state, phys, removable, zones_text = m.group(2), m.group(3), m.group(4), m.group(5)
    if block >= MAX_BLOCK_ID:
        raise snap.error(no, f"memory{block}: block number out of range")
    if block in seen:
        raise snap.error(no, f"memory{block} a second time (the first is at line {seen[block]})")
    if state not in BLOCK_STATES:
        raise snap.error(
            no, f"memory{block}: unknown state {state!r} (expected {', '.join(BLOCK_STATES)})"
        )
    if not re.fullmatch(r"[0-9a-f]{1,16}", phys) or int(phys, 16) != block:
        raise snap.error(
            no,
            f"memory{block}: phys_index {phys!r} is not the block's number "
            f"(expected {block:08x}, as sysfs prints it)",
        )
    if removable not in ("0", "1", "-"):
        raise snap.error(no, f"memory{block}: removable {removable!r} (expected 0, 1 or -)")
    zones = () if zones_text.strip() == "-" else tuple(zones_text.split())
    for z in zones:
        if z not in ZONE_WORDS:
            raise snap.error(
                no, f"memory{block}: unknown zone {z!r} (expected {', '.join(ZONE_WORDS)} or -)"
            )
    seen[block] = no
    return BlockRow(block, state, phys, removable, zones, no)


def _vmem(snap: Snapshot, body: list[tuple[int, str]]) -> None:
    for no, line in _content(body):
        m = _VMEM.fullmatch(line)
        if m is None or m.group(2) not in VMEM_KEYS:
            what = f"unknown key {m.group(2)!r}" if m else f"cannot read {_show(line)}"
            raise snap.error(
                no,
                f"{what} in [virtio-mem] (expected virtioN.KEY: VALUE with KEY one of "
                f"{', '.join(VMEM_KEYS)})",
            )
        index, key, value = int(m.group(1)), m.group(2), m.group(3)
        keys = snap.vmem.setdefault(index, {})
        if key in keys:
            raise snap.error(
                no, f"virtio{index}.{key} a second time (the first is at line {keys[key].line})"
            )
        keys[key] = Value(value, no)


# ----------------------------------------------------------------------------- render
def escape(text: str) -> str:
    """Text as a snapshot stores it: control characters (which ``parse`` refuses) as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render(snap: Snapshot) -> str:
    """The snapshot as text (``parse`` reads it back equal)."""
    out = [
        f"{MAGIC} {snap.version}",
        "# One machine's memory map and the kernel settings that decide who may touch physical",
        "# memory, read from text files under /proc, /sys and /boot by 'devmem-tui snapshot'.",
        "# Open it with 'devmem-tui open FILE' or 'devmem-tui --snapshot FILE'.",
    ]

    def head(section: str) -> None:
        out.append("")
        out.append(f"[{section}]")
        out.extend(f"# {escape(n)}" for n in snap.notes.get(section, []))

    def keys(values: dict[str, Value], order: tuple[str, ...]) -> None:
        for k in order:
            if k in values:
                out.append(f"{k}: {escape(values[k].text)}".rstrip(" \t"))

    head(SNAPSHOT)
    keys(snap.info, SNAPSHOT_KEYS)
    head(KERNEL)
    keys(snap.kernel, KERNEL_KEYS)
    if snap.config_source is not None or snap.config:
        head(CONFIG)
        if snap.config_source is not None:
            out.append(f"source: {escape(snap.config_source.text)}")
        for name, v in snap.config.items():
            out.append(
                f"# CONFIG_{name} is not set" if v.text == "n" else f"CONFIG_{name}={v.text}"
            )
    head(IOMEM)
    out.append(snap.iomem.rstrip("\n"))
    if snap.memory or snap.blocks or MEMORY in snap.notes:
        head(MEMORY)
        keys(snap.memory, MEMORY_KEYS)
        if snap.blocks:
            out.append(
                f"# {'block':<12} {'state':<14} {'phys_index':<10} {'removable':<9} valid_zones"
            )
        for b in snap.blocks:
            zones = " ".join(b.zones) or "-"
            out.append(
                f"{'memory' + str(b.block):<14} {b.state:<14} {b.phys_index:<10} "
                f"{b.removable:<9} {zones}"
            )
    if snap.vmem or VMEM in snap.notes:
        head(VMEM)
        for index in sorted(snap.vmem):
            for k in VMEM_KEYS:
                if k in snap.vmem[index]:
                    out.append(f"virtio{index}.{k}: {snap.vmem[index][k].text}")
    if snap.log or LOG in snap.notes:
        head(LOG)
        out.extend(escape(v.text) for v in snap.log)
    out.append("")
    out.append(f"[{END}]")
    return "\n".join(out) + "\n"
