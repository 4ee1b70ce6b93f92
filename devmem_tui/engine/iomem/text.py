"""/proc/iomem as text: ``render`` prints a tree as the kernel's ``r_show`` does, ``parse``
reads such text back (flags inferred from names and nesting as the kernel sets them, see
``infer_flags``, or taken from a trailing annotation) and refuses malformed input with one line
naming file, line and problem.

Format (kernel/resource.c ``r_show``, read in a public copy of the source):
``%*s%0*llx-%0*llx : %s``, indent = 2 spaces per depth, addresses lowercase hex zero-padded to
8 digits (wider when needed), end inclusive. The indent depth is capped at ``MAX_IORES_LEVEL``
(5): deeper resources print at depth 5. ``parse`` undoes the cap by containment (a line at the
cap that lies inside the previous one must be its child: siblings never overlap).

Annotation (this project's extension, written by ``render(flags=True)``): a trailing
``[word ...]`` after the name. Words are ``tree.FLAG_WORDS`` (``busy exclusive sysram
driver_managed mergeable readonly``), ``desc=<IORES_DESC>`` and ``-mem`` (a resource without
IORESOURCE_MEM, never seen in practice). IORESOURCE_MEM is implied; ``[mem]`` is the plain
annotation. An annotation replaces inference for its line entirely. See docs/input-formats.md.
"""

from __future__ import annotations

import functools
import gc
import re
from dataclasses import dataclass

from devmem_tui.engine.errors import DevmemError, quoted
from devmem_tui.engine.iomem.tree import (
    DESCS,
    FLAG_WORDS,
    SYSTEM_RAM,
    F,
    Resource,
    ResourceTree,
    TreeBuilder,
    flags_words,
    too_deep,
)
from devmem_tui.engine.units import ADDR_MAX

#: ``MAX_IORES_LEVEL`` in kernel/resource.c: r_show never indents deeper than this.
MAX_IORES_LEVEL = 5
#: Files larger than this are refused before they are read.
MAX_INPUT_BYTES = 64 * 1024 * 1024
ONE_MIB = 1 << 20

# ----------------------------------------------------------------------------- names
# Characters that must never reach a terminal as they are: the C0 controls (ESC starts escape
# sequences: an OSC can retitle the window, CSI sequences move the cursor and recolour; CR,
# VT and FF move it too), DEL, the C1 controls (0x9b is CSI and 0x9d OSC on 8-bit terminals,
# 0x85 is NEL), the Unicode line and paragraph separators, and the bidirectional overrides
# and isolates that reorder the text after them. LF is left to the callers: it separates the
# lines of a message (a name never holds one: ``check_name``).
_CONTROLS = "\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{_CONTROLS}]")
#: One control, separator or bidi-override character (what ``escape_controls`` escapes).
CONTROL_CHAR = _UNSAFE
# Names in the annotated form (``render(flags=True)``): also LF, the backslash (the escape
# character itself) and spaces or tabs at either end (``parse`` strips those from a line).
_ENCODE = re.compile(f"[{_CONTROLS}\\n\\\\]|^[ \\t]+|[ \\t]+$")
# every backslash of an encoded name: group 1 holds the escapes encode_name writes
_DECODE = re.compile(r"\\(?:(\\|x[0-9a-f]{2}|u[0-9a-f]{4})|.{0,5})")


def _hex_escape(ch: str) -> str:
    r"""One character as the kernel's ``%pEh`` prints what it escapes (lib/string_helpers.c,
    ``string_escape_mem`` with ESCAPE_HEX: ``\xHH``); beyond 0xff, ``\uHHHH``."""
    n = ord(ch)
    return f"\\x{n:02x}" if n <= 0xFF else f"\\u{n:04x}"


def escape_controls(text: str) -> str:
    r"""text with every control, separator and bidi-override character written as ``\xHH``
    (``\u2028``): what a terminal may show of text that comes from data (a resource name, a
    session file, a scenario line). LF is kept: it separates lines."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: _hex_escape(m.group()), text)


def _escape_one(ch: str) -> str:
    return "\\\\" if ch == "\\" else _hex_escape(ch)


def encode_name(name: str) -> str:
    r"""A name as ``render(flags=True)`` writes it, so that ``parse`` reads back exactly the
    same name: controls, separators, line breaks and the backslash escaped (``\x1b``, ``\\``),
    and spaces and tabs at either end as ``\x20`` / ``\x09``."""
    if _ENCODE.search(name) is None:
        return name
    return _ENCODE.sub(lambda m: "".join(_escape_one(c) for c in m.group()), name)


def decode_name(text: str) -> str:
    """Inverse of ``encode_name``, for annotated lines (plain lines are the kernel's raw
    ``%s`` and are read as they are). ValueError(the escape) for a backslash that
    ``encode_name`` never writes."""
    if "\\" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc is None:  # a backslash encode_name never writes: a damaged file
            raise ValueError(m.group())
        return "\\" if esc == "\\" else chr(int(esc[1:], 16))

    return _DECODE.sub(one, text)


def check_name(name: str, what: str = "name") -> str:
    """A resource name must not hold a line break: r_show prints one resource per line."""
    if "\n" in name or "\r" in name:
        # quoted() is repr: the \n or \r shows as such, and is not escaped a second time
        raise DevmemError(f"{what} {quoted(name)} holds a line break")
    return name


# ----------------------------------------------------------------------------- render


def annotation(res: Resource) -> str:
    """The ``[...]`` annotation that reproduces res's flags and desc exactly."""
    return _annotation(int(res.flags), res.desc)


# A map has a handful of distinct (flags, desc) pairs; computing the words (IntFlag arithmetic,
# ~1 us per operation) for each of 100k lines made render(flags=True) 7x slower than plain
# render (docs/performance.md). The result depends only on the two values, so cache it.
@functools.lru_cache(maxsize=1024)
def _annotation(flags_value: int, desc: str) -> str:
    flags = F(flags_value)
    words: list[str] = []
    if not flags & F.MEM:
        words.append("-mem")
    words.extend(flags_words(flags & ~F.MEM))
    if desc != "none":
        words.append(f"desc={desc}")
    return "[" + (" ".join(words) if words else "mem") + "]"


def render_line(res: Resource, depth: int, flags: bool = False) -> str:
    """One ``r_show`` line (without newline); depth is the true depth (0 = top level)."""
    shown = min(depth, MAX_IORES_LEVEL)
    if flags:
        return f"{'  ' * shown}{res.start:08x}-{res.end:08x} : {encode_name(res.name)} " + (
            annotation(res)
        )
    return f"{'  ' * shown}{res.start:08x}-{res.end:08x} : {res.name}"


def render(tree: ResourceTree, start: int = 0, end: int = ADDR_MAX, flags: bool = False) -> str:
    """The tree as ``cat /proc/iomem`` prints it (as root), one line per resource, each ending
    in a newline. With a range, only resources overlapping [start, end] (inclusive) are shown;
    their ancestors overlap it too, so every shown line keeps its context. ``flags`` appends
    the annotation so that ``parse`` gives back an identical tree."""
    out: list[str] = []
    whole = start == 0 and end == ADDR_MAX

    def visit(parent: Resource, depth: int) -> None:
        kids = parent.children if whole else tree.children_overlapping(parent, start, end)
        indent = "  " * min(depth, MAX_IORES_LEVEL)
        for r in kids:
            if flags:
                out.append(render_line(r, depth, True) + "\n")
            else:  # render_line's plain form, inlined: it is most of a 100k-line render
                out.append(f"{indent}{r.start:08x}-{r.end:08x} : {r.name}\n")
            if r.children:
                visit(r, depth + 1)

    visit(tree.root, 0)
    return "".join(out)


# ----------------------------------------------------------------------------- flag inference

_BAR = re.compile(r"[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")  # 0000:00:02.0
_DRIVER_RAM = re.compile(r"System RAM \((.+)\)")  # add_memory_driver_managed() names
_BUSY_NAMES = re.compile(
    r"IOAPIC \d+|HPET \d+|Local APIC|pnp [0-9a-f]{2}:[0-9a-f]{2}|PNP[0-9A-F]{4}:[0-9A-F]{2}"
    r"|PCI MMCONFIG.*|PCI ECAM|GICD|GICR"
)
_ROMS = frozenset({"Video ROM", "Adapter ROM", "System ROM"})
# e820 type names (arch/x86/kernel/e820.c e820_type_to_string) -> IORES_DESC_*
_E820_DESC = {
    "Reserved": "reserved",
    "Soft Reserved": "soft_reserved",
    "Persistent Memory": "persistent_memory",
    "Persistent Memory (legacy)": "persistent_memory_legacy",
    "ACPI Tables": "acpi_tables",
    "ACPI Non-volatile Storage": "acpi_nv_storage",
    "Unusable memory": "none",
}
# e820 types that do_mark_busy() leaves not busy when they start at or above 1 MiB.
_E820_NOT_BUSY = frozenset(
    {"Reserved", "Soft Reserved", "Persistent Memory", "Persistent Memory (legacy)"}
)
_VIRTIO = re.compile(r"virtio\d+")
_REGION = re.compile(r"region\d+")
_DAX = re.compile(r"dax\d+\.\d+")
_DEVICE_NODE = re.compile(r"[^\s@]+@[0-9a-f]+")  # a device-tree node: pl011@9000000
_BUS_WINDOW = re.compile(r"PCI Bus .*|pcie?@[0-9a-f]+")


_MEM = F.MEM
_MEM_BUSY = F.MEM | F.BUSY
_ROM = F.MEM | F.BUSY | F.READONLY
_SYSRAM_BUSY = SYSTEM_RAM | F.BUSY
_DRIVER_MANAGED = SYSTEM_RAM | F.BUSY | F.SYSRAM_DRIVER_MANAGED
_VIRTIO_MEM_RAM = _DRIVER_MANAGED | F.SYSRAM_MERGEABLE
_SYSRAM_BUSY_I = int(_SYSRAM_BUSY)  # plain ints: IntFlag arithmetic is slow per line
_BUSY_I = int(F.BUSY)


def infer_flags(name: str, start: int, parent: Resource | None) -> tuple[F, str]:
    """Flags and desc the kernel gives a resource of this name, start and parent (parent None
    = top level).

    Models: ``e820_type_to_iomem_type``/``do_mark_busy``/``e820_type_to_iores_desc``
    (arch/x86/kernel/e820.c: every e820 range starting below 1 MiB is busy; Reserved, Soft
    Reserved and Persistent Memory at or above 1 MiB are not); ``request_standard_resources``
    (kernel image lines under System RAM are SYSTEM_RAM|BUSY); ``probe_roms`` (ROMs are
    BUSY|READONLY); ``pci_claim_resource`` (bus windows and BARs are not busy);
    ``__request_region`` (a driver claim is always busy); ``virtio_mem_create_resource``
    (``virtioN`` is SYSTEM_RAM, not busy; EXCLUSIVE from 5.16 is the kernel-version logic's
    business, or an annotation's); ``register_memory_resource`` (``System RAM (drv)`` is
    SYSTEM_RAM|BUSY|DRIVER_MANAGED, virtio-mem's also MERGEABLE); drivers/cxl (``CXL Window
    N`` MEM with desc cxl, ``regionN`` MEM, not busy); ``dev_dax_kmem_probe`` in
    drivers/dax/kmem.c (the ``daxN.M`` claim is set to plain IORESOURCE_SYSTEM_RAM, BUSY clear,
    so that add_memory can nest under it; read in the source, all versions since 5.1);
    ``of_io_request_and_map`` (GICv3 GICD/GICR are requested, so busy); arm64's
    ``reserve_memblock_reserved_regions()`` -> ``reserve_region_with_split()`` (the
    ``reserved`` lines inside System RAM are MEM|BUSY, the parent's type plus BUSY, not System
    RAM). The busy-ness of ROMs,
    APICs, HPET, MMCONFIG and BARs is recalled, not read in the source.

    Names nobody names: under a PCI bus window a device resource (not busy); under any other
    resource a claim (busy, with its parent's desc, as ``__request_region_locked`` sets
    ``res->desc = parent->desc``; so are ``pnp`` claims); at the top level a device-tree node
    resource such as ``pl011@9000000`` (amba_device_add requests it without BUSY) or else a
    claim or firmware/arch-reserved space (busy, as do_mark_busy's default)."""
    if name == "System RAM":
        return _SYSRAM_BUSY, "none"
    if name.startswith("System RAM ("):
        m = _DRIVER_RAM.fullmatch(name)
        if m:  # virtio-mem adds with MHP_MERGE_RESOURCE -> merge_system_ram_resource
            return (_VIRTIO_MEM_RAM if m.group(1) == "virtio_mem" else _DRIVER_MANAGED), "none"
    if parent is not None and int(parent.flags) & _SYSRAM_BUSY_I == _SYSRAM_BUSY_I:
        if name == "reserved":
            # arm64 reserve_memblock_reserved_regions() -> reserve_region_with_split():
            # flags = resource_type(parent) | IORESOURCE_BUSY, i.e. MEM|BUSY, not System RAM
            return _MEM_BUSY, "none"
        return _SYSRAM_BUSY, "none"  # Kernel code/rodata/data/bss, Crash kernel
    desc = _E820_DESC.get(name)
    if desc is not None:
        busy = start < ONE_MIB or name not in _E820_NOT_BUSY
        return (_MEM_BUSY if busy else _MEM), desc
    if name in _ROMS:
        return _ROM, "none"
    if name == "Video RAM area":
        return _MEM_BUSY, "none"
    if _BUS_WINDOW.fullmatch(name) or _BAR.fullmatch(name):
        return _MEM, "none"
    if _BUSY_NAMES.fullmatch(name):
        if parent is not None and name.startswith("pnp "):
            return _MEM_BUSY, parent.desc  # pnp/system.c: request_mem_region, desc inherited
        return _MEM_BUSY, "none"
    if _VIRTIO.fullmatch(name):
        return SYSTEM_RAM, "none"
    if name.startswith("CXL Window "):
        return _MEM, "cxl"
    if _REGION.fullmatch(name):
        return _MEM, "none"
    if _DAX.fullmatch(name):
        return SYSTEM_RAM, "none"  # dev_dax_kmem_probe: flags = IORESOURCE_SYSTEM_RAM
    if parent is None:
        return (_MEM if _DEVICE_NODE.fullmatch(name) else _MEM_BUSY), "none"
    if not int(parent.flags) & _BUSY_I and _BUS_WINDOW.fullmatch(parent.name):
        return _MEM, "none"
    return _MEM_BUSY, parent.desc  # a claim: __request_region gives it its parent's desc


# ----------------------------------------------------------------------------- parse


# One resource line: (lineno, depth, start, end, name, flags from an annotation or None,
# desc, narrow = both addresses written with at most 4 digits). A plain tuple: a NamedTuple
# costs seconds over the half a million lines of a 20 MB file.
_Line = tuple[int, int, int, int, str, "F | None", str, bool]


@dataclass
class _Ctx:
    source: str
    kernel_names: bool = False

    def err(self, lineno: int | None, what: str) -> DevmemError:
        where = f"{self.source}:{lineno}" if lineno is not None else self.source
        return DevmemError(f"{where}: {what}")


_FAST = re.compile(r"( *)([0-9a-f]+)-([0-9a-f]+) : (.+)")
_SLOW = re.compile(r"([^\s:]*?)[ \t]*:[ \t]*(.*)")
_ANNOT = re.compile(r"(.*?[ \t]+|)\[([^\[\]]*)\]")  # NAME [words], or just [words]
_ANNOT_WORD = re.compile(r"-?[a-z_]+|desc=\S*")
_HEX = frozenset("0123456789abcdefABCDEF")
_IOPORT_NAMES = frozenset(
    {
        "pic1",
        "pic2",
        "timer0",
        "timer1",
        "keyboard",
        "PCI conf1",
        "dma1",
        "dma2",
        "dma page reg",
        "fpu",
        "rtc0",
        "rtc_cmos",
        "vga+",
        "serial",
        "PNP0C09:00",
    }
)
_FLAG_HELP = ", ".join(FLAG_WORDS) + ", -mem, desc=" + "|".join(DESCS)


def _annotation_flags(ctx: _Ctx, lineno: int, body: str) -> tuple[F, str]:
    fl = F.MEM
    desc = "none"
    for word in body.split():
        if word == "-mem":
            fl &= ~F.MEM
        elif word in FLAG_WORDS:
            fl |= FLAG_WORDS[word]
        elif word.startswith("desc="):
            desc = word[5:]
            if desc not in DESCS:
                raise ctx.err(
                    lineno,
                    f"unknown desc {desc!r} in annotation (expected one of {', '.join(DESCS)})",
                )
        else:
            raise ctx.err(lineno, f"unknown annotation word {word!r} (expected {_FLAG_HELP})")
    return fl, desc


def _known_word(word: str) -> bool:
    """A word this program writes in an annotation (``render(flags=True)``)."""
    if word.startswith("desc="):
        return word[5:] in DESCS
    return word == "-mem" or word in FLAG_WORDS


def _split_annotation(ctx: _Ctx, lineno: int, name: str) -> tuple[str, F | None, str]:
    """Strip a trailing ``[...]`` annotation. A bracket group counts as an annotation when
    every word in it looks like one (lowercase words, ``desc=``); otherwise it is part of the
    name, as in ``PCI MMCONFIG 0000 [bus 00-ff]``."""
    if not name.endswith("]"):
        return name, None, "none"
    m = _ANNOT.fullmatch(name)
    if m is None:
        return name, None, "none"
    body = m.group(2)
    if not all(_ANNOT_WORD.fullmatch(w) for w in body.split()):
        return name, None, "none"
    if ctx.kernel_names and not all(_known_word(w) for w in body.split()):
        return name, None, "none"
    fl, desc = _annotation_flags(ctx, lineno, body)
    if not m.group(1).strip():
        raise ctx.err(
            lineno, "missing name before the annotation (expected START-END : NAME [flags])"
        )
    # the annotated form is this program's own: its names are encoded (encode_name)
    try:
        return decode_name(m.group(1).rstrip(" \t")), fl, desc
    except ValueError as e:
        raise ctx.err(
            lineno,
            f"bad escape '{e}' in an annotated name "
            "(expected \\xHH, \\uHHHH, or \\\\ for a backslash)",
        ) from None


def _hex_value(ctx: _Ctx, lineno: int, text: str, what: str) -> int:
    if not text:
        raise ctx.err(
            lineno,
            f"missing {what} address (expected START-END : NAME, "
            "e.g. 00100000-7ffdffff : System RAM)",
        )
    if text[:2].lower() == "0x":
        raise ctx.err(
            lineno,
            f"{what} address {text!r} has a 0x prefix "
            "(expected plain hex digits, as /proc/iomem prints them)",
        )
    bad = next((c for c in text if c not in _HEX), None)
    if bad is not None:
        raise ctx.err(
            lineno,
            f"{what} address {text!r} has the non-hex character {bad!r} "
            "(expected hex digits 0-9 a-f)",
        )
    if len(text.lstrip("0")) > 16:
        raise ctx.err(
            lineno,
            f"{what} address {text[:24]}{'...' if len(text) > 24 else ''} is past 2^64 - 1 "
            "(expected at most ffffffffffffffff)",
        )
    if len(text) > 16:  # r_show prints at most 16 digits (a 64-bit value), never padded more
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise ctx.err(
            lineno,
            f"{what} address {shown} has {len(text)} digits (expected 1 to 16 hex digits)",
        )
    return int(text, 16)  # at most 16 digits: never past 2^64 - 1


def _indent_depth(ctx: _Ctx, lineno: int, indent: str) -> int:
    if not indent:
        return 0
    if "\t" in indent:
        if indent.strip("\t"):
            raise ctx.err(
                lineno,
                "indentation mixes tabs and spaces "
                "(expected 2 spaces per level, or one tab per level)",
            )
        return len(indent)
    if len(indent) % 2:
        raise ctx.err(
            lineno,
            f"odd indentation of {len(indent)} space"
            f"{'s' if len(indent) > 1 else ''} "
            "(expected 2 spaces per level)",
        )
    return len(indent) // 2


def _parse_line_slow(ctx: _Ctx, lineno: int, line: str) -> _Line:
    """Everything the fast pattern does not take: tabs, odd spacing, and every error."""
    body = line.lstrip(" \t")
    depth = _indent_depth(ctx, lineno, line[: len(line) - len(body)])
    m = _SLOW.fullmatch(body)
    if m is None or "-" not in m.group(1):
        shown = body if len(body) <= 60 else body[:57] + "..."
        raise ctx.err(
            lineno,
            f"cannot read {shown!r} (expected START-END : NAME, "
            "e.g. 00100000-7ffdffff : System RAM)",
        )
    start_txt, end_txt = m.group(1).split("-", 1)
    start = _hex_value(ctx, lineno, start_txt, "start")
    end = _hex_value(ctx, lineno, end_txt, "end")
    name = m.group(2).rstrip()
    if not name:
        raise ctx.err(lineno, "missing name after ':' (expected START-END : NAME)")
    name, fl, desc = _split_annotation(ctx, lineno, name)
    narrow = len(start_txt) <= 4 and len(end_txt) <= 4
    return (lineno, depth, start, end, name, fl, desc, narrow)


def _tokenise(ctx: _Ctx, text: str) -> list[_Line]:
    """Pass 1: one _Line per resource line; syntax errors raise here."""
    out: list[_Line] = []
    fast = _FAST.fullmatch
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip(" \t")
        m = fast(line)
        if m is not None:
            indent, s, e, name = m.groups()
            if len(indent) % 2 == 0 and len(s) <= 16 and len(e) <= 16:
                fl: F | None = None
                desc = "none"
                if name.endswith("]"):
                    name, fl, desc = _split_annotation(ctx, lineno, name)
                out.append(
                    (
                        lineno,
                        len(indent) // 2,
                        int(s, 16),
                        int(e, 16),
                        name,
                        fl,
                        desc,
                        len(s) <= 4 and len(e) <= 4,
                    )
                )
                continue
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue  # blank lines and comments
        out.append(_parse_line_slow(ctx, lineno, line))
    return out


def _looks_like_ioports(lines: list[_Line]) -> bool:
    """/proc/ioports: r_show prints 4-digit addresses there (root->end < 0x10000), and has
    names such as ``PCI conf1``, ``pic1``, ``timer0``, ``keyboard``."""
    if all(ln[7] for ln in lines):
        return True
    return all(ln[3] <= 0xFFFF for ln in lines) and any(ln[4] in _IOPORT_NAMES for ln in lines)


def _check_whole_file(ctx: _Ctx, lines: list[_Line]) -> None:
    if not lines:
        raise ctx.err(
            None,
            "no resource lines: the file is empty (expected /proc/iomem "
            "lines like 00100000-7ffdffff : System RAM)",
        )
    first = lines[0][0]
    if _looks_like_ioports(lines):
        raise ctx.err(
            first,
            "this looks like /proc/ioports (I/O port ranges with 4-digit "
            "addresses and names like 'PCI conf1', 'pic1', 'timer0'), not "
            "/proc/iomem (expected memory ranges such as "
            "00100000-7ffdffff : System RAM)",
        )
    if all(ln[2] == 0 and ln[3] == 0 for ln in lines):
        raise ctx.err(
            first,
            "every address is 00000000-00000000: this /proc/iomem was read "
            "without root, and the kernel (r_show) shows zeros to readers "
            "without CAP_SYS_ADMIN; nothing was loaded (expected a copy "
            "saved as root: sudo cat /proc/iomem > FILE)",
        )


def _line_of(lines: list[_Line], built: list[Resource], res: Resource) -> int:
    """The line a resource came from: built[k] was made from lines[k]. For error messages
    only, so a search is fine (Resource compares by identity)."""
    return lines[built.index(res)][0]


def _build(ctx: _Ctx, lines: list[_Line]) -> ResourceTree:
    """Pass 2: nest the lines, check them, infer flags. The tree exists only when every line
    is in place (``TreeBuilder``), so a failed parse leaves nothing half-loaded."""
    builder = TreeBuilder()
    root = builder.root
    add = builder.add
    # The open path: stack[d] is the resource at depth d. Before a line at depth d replaces
    # it, stack[d] is the previous sibling of that line (/proc/iomem lists a tree pre-order).
    stack: list[Resource] = []
    everything: list[Resource] = []
    for lineno, d, start, end, name, afl, adesc, _narrow in lines:
        if end < start:
            raise ctx.err(
                lineno,
                f"range {start:08x}-{end:08x} ends before it starts "
                "(expected START <= END, END inclusive)",
            )
        if d == MAX_IORES_LEVEL and len(stack) > MAX_IORES_LEVEL:
            # r_show prints everything at depth >= 5 at depth 5: the parent is the deepest
            # open resource (depth >= 4) that contains this one.
            i = len(stack) - 1
            while i >= MAX_IORES_LEVEL and not stack[i].contains(start, end):
                i -= 1
            d = i + 1
        elif d > len(stack):
            if not stack:
                raise ctx.err(
                    lineno,
                    f"the first resource line is indented to level {d} "
                    "(expected level 0, no indentation)",
                )
            raise ctx.err(
                lineno,
                f"indentation jumps from level {len(stack) - 1} to "
                f"level {d} (expected at most one level, 2 spaces, "
                "deeper than the line before)",
            )
        deep = too_deep(f"{start:08x}-{end:08x} ({name})", d + 1)
        if deep:
            raise ctx.err(lineno, deep)
        parent = stack[d - 1] if d > 0 else root
        prev = stack[d] if d < len(stack) else None
        del stack[d:]
        if parent is not root and not (parent.start <= start and end <= parent.end):
            at = _line_of(lines, everything, parent)
            raise ctx.err(
                lineno,
                f"{start:08x}-{end:08x} ({name}) is not inside its parent "
                f"{parent.label()} from line {at} "
                "(expected a range within it)",
            )
        if prev is not None and start <= prev.end:
            what = (
                "overlaps its sibling"
                if end >= prev.start
                else "comes after a sibling that starts higher,"
            )
            at = _line_of(lines, everything, prev)
            raise ctx.err(
                lineno,
                f"{start:08x}-{end:08x} ({name}) {what} {prev.label()} "
                f"from line {at} (expected siblings in ascending order, "
                "not overlapping)",
            )
        if afl is None:
            fl, desc = infer_flags(name, start, parent if parent is not root else None)
        else:
            fl, desc = afl, adesc
        res = add(parent, Resource(start, end, name, fl, desc))
        stack.append(res)
        everything.append(res)
    return builder.finish()


def parse(text: str, source: str = "<text>", *, kernel_names: bool = False) -> ResourceTree:
    """Read /proc/iomem text into a new ResourceTree (see the module docstring and
    docs/input-formats.md). Raises DevmemError ``SOURCE:LINE: problem (expected ...)``.

    ``kernel_names``: the text is what a kernel printed (a snapshot's ``[iomem]``), so a
    trailing ``[...]`` is an annotation only when every word in it is one this program
    writes; any other bracket group is part of the resource's name (a driver may name a
    resource ``foo [bar]``), where a hand-written file gets an error for the unknown word."""
    ctx = _Ctx(source, kernel_names)
    if len(text) > MAX_INPUT_BYTES:
        raise ctx.err(
            None,
            f"input is {len(text)} characters, more than the "
            f"{MAX_INPUT_BYTES // ONE_MIB} MiB limit (a real /proc/iomem "
            "is a few KiB)",
        )
    nul = text.find("\x00")
    if nul >= 0:
        lineno = text.count("\n", 0, nul) + 1
        raise ctx.err(
            lineno, "binary data (a NUL byte): not a text file (expected /proc/iomem text)"
        )
    # Pause the cyclic GC while half a million objects are created: it would rescan them
    # over and over (a 20 MB file parses in about half the time without it).
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        lines = _tokenise(ctx, text)
        _check_whole_file(ctx, lines)
        return _build(ctx, lines)
    finally:
        if gc_was_on:
            gc.enable()


def decode(data: bytes, source: str) -> str:
    """Bytes of a saved /proc/iomem to text: UTF-8 (ASCII in practice), no NUL bytes."""
    ctx = _Ctx(source)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ctx.err(
            1,
            "UTF-16 text (as PowerShell's '>' saves it), not plain text "
            "(expected UTF-8 or ASCII: save it again with 'cat /proc/iomem > FILE')",
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ctx.err(
            data.count(b"\n", 0, nul) + 1,
            "binary data (a NUL byte): not a text file (expected /proc/iomem text)",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        lineno = data.count(b"\n", 0, e.start) + 1
        raise ctx.err(
            lineno,
            f"byte 0x{data[e.start]:02x} is not UTF-8 text: binary data? "
            "(expected /proc/iomem text)",
        ) from None
