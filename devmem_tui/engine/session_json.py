"""save/open: the whole session (one Machine) as versioned JSON.

The document is ``{"format": "devmem-tui-session", "version": 1, ...}`` with the resource tree
(nested like /proc/iomem, flags as the annotation words), the kernel config, every virtio-mem
device (its own ``to_dict()``: device blocks plus driver state), live mappings with their
zapped ranges, the clock, pinned ranges (unmovable and long-term), hwpoisoned pfns,
``high_memory``, the next mapping id, the firmware's MTRR layout and, in a kdump kernel, the
crashed kernel's dump image. Keys added after version 1 was fixed are optional: an older file
opens with their defaults. Addresses are hex strings so tools like ``jq`` (doubles) cannot
round them.

``from_dict`` validates everything and builds a new Machine; it never touches an existing one,
so a failed ``open`` leaves the session as it was. ``to_dict(from_dict(d)) == d`` for every
document ``to_dict`` produced.
"""

from __future__ import annotations

import functools
import json
from dataclasses import fields
from typing import Any

from devmem_tui.engine import json_fields, presets
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.devmem.memtype import MEMTYPES
from devmem_tui.engine.errors import DevmemError, quoted_value
from devmem_tui.engine.interfaces import MAX_CLOCK, DumpImage, PfnSet
from devmem_tui.engine.iomem.text import check_name
from devmem_tui.engine.iomem.tree import DESCS, FLAG_WORDS, F, Resource, TreeBuilder, too_deep
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.mm import hotplug
from devmem_tui.engine.mtrr import MtrrLayout
from devmem_tui.engine.units import ADDR_MAX
from devmem_tui.engine.virtio_mem import codec as vmem_codec

FORMAT = "devmem-tui-session"
VERSION = 1


class StateError(DevmemError):
    """A session file that cannot be opened; str() is one line."""


# ----------------------------------------------------------------------------- helpers
def _hex(n: int) -> str:
    return f"{n:#x}"


def _num(value: Any, what: str) -> int:
    """An address or size saved as a hex string (or, leniently, a JSON integer)."""
    if isinstance(value, bool):
        raise StateError(f"{what} is not a number: {quoted_value(value)}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        try:
            n = int(value, 0)
        except ValueError:
            raise StateError(f"{what} is not a number: {quoted_value(value)}") from None
    else:
        raise StateError(f"{what} is not a number: {quoted_value(value)}")
    if not 0 <= n <= ADDR_MAX:
        raise StateError(f"{what} {quoted_value(value)} is outside 0 .. 2^64 - 1")
    return n


def _flags_to_words(flags: F) -> list[str]:
    return list(_words_of(flags.real))


@functools.lru_cache(maxsize=256)
def _words_of(flags: int) -> tuple[str, ...]:
    """The annotation words of a flags value (a pure function of an int; a map repeats a
    handful of them, and IntFlag arithmetic made this half the cost of saving a big map)."""
    words = [w for w, bit in FLAG_WORDS.items() if flags & bit]
    known = 0
    for w in words:
        known |= FLAG_WORDS[w]
    extra = flags & ~known
    if extra:
        words.append(_hex(extra))  # bits with no annotation word survive as a number
    return tuple(words)


def _words_to_flags(words: Any, where: str) -> F:
    if not isinstance(words, list):
        raise StateError(f"{where}: flags must be a list of words")
    if all(type(w) is str for w in words):
        try:
            return _flags_of(tuple(words))
        except StateError:
            pass  # said again below, with where it was found
    return _flags_slow(words, where)


@functools.lru_cache(maxsize=256)
def _flags_of(words: tuple[str, ...]) -> F:
    """The flags of an annotation (a pure function of its words; a map repeats a handful of
    them, and IntFlag arithmetic costs ~1 us per operation: a third of opening a big map)."""
    return _flags_slow(list(words), "flags")


def _flags_slow(words: list[Any], where: str) -> F:
    flags = F(0)
    for w in words:
        if not isinstance(w, str):
            raise StateError(f"{where}: bad flag {quoted_value(w)}")
        if w in FLAG_WORDS:
            flags |= FLAG_WORDS[w]
        elif w.startswith("0x"):
            flags |= F(_num(w, f"{where}: flag"))
        else:
            raise StateError(f"{where}: unknown flag {quoted_value(w)}")
    return flags


def _ranges(pairs: list[tuple[int, int]]) -> list[list[str]]:
    return [[_hex(a), _hex(b)] for a, b in pairs]


def _parse_ranges(value: Any, what: str) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise StateError(f"{what} must be a list of [start, end] pairs")
    out = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise StateError(f"{what} must be a list of [start, end] pairs")
        a, b = _num(item[0], what), _num(item[1], what)
        if b < a:
            raise StateError(f"{what}: range {item[0]}-{item[1]} ends before it starts")
        out.append((a, b))
    return out


# ----------------------------------------------------------------------------- to_dict
def _resource_dict(r: Resource) -> dict[str, Any]:
    d: dict[str, Any] = {
        "start": _hex(r.start),
        "end": _hex(r.end),
        "name": r.name,
        "flags": _flags_to_words(r.flags),
    }
    if r.desc != "none":
        d["desc"] = r.desc
    if r.children:
        d["children"] = [_resource_dict(c) for c in r.children]
    return d


_MAPPING_HEX = ("start", "length")


def _mapping_dict(mp: Mapping) -> dict[str, Any]:
    """Every field of a Mapping (new simple fields are saved without changes here)."""
    d: dict[str, Any] = {}
    for f in fields(Mapping):
        v = getattr(mp, f.name)
        if f.name in _MAPPING_HEX:
            d[f.name] = _hex(v)
        elif f.name == "zapped":
            d[f.name] = _ranges(v)
        else:
            d[f.name] = v
    return d


def _mapping_from(d: Any, where: str) -> Mapping:
    if not isinstance(d, dict) or not isinstance(d.get("id"), str):
        raise StateError(f"corrupt session file: {where} needs an id")
    known = {f.name: f for f in fields(Mapping)}
    kwargs: dict[str, Any] = {}
    for k, v in d.items():
        f = known.get(k)
        if f is None:
            raise StateError(f"corrupt session file: {where} has unknown field {quoted_value(k)}")
        if k in _MAPPING_HEX:
            kwargs[k] = _num(v, f"{where} {k}")
        elif k == "zapped":
            kwargs[k] = _parse_ranges(v, f"{where} zapped")
        elif k == "id":
            kwargs[k] = v
        else:
            default = f.default
            if (
                isinstance(default, bool)
                and not isinstance(v, bool)
                or type(default) in (int, str)
                and type(v) is not type(default)
            ):
                raise StateError(f"corrupt session file: {where} {k} has the wrong type")
            kwargs[k] = v
    for k in ("start", "length"):
        if k not in kwargs:
            raise StateError(f"corrupt session file: {where} has no {k}")
    if kwargs.get("memtype", "") not in ("", *MEMTYPES):
        raise StateError(
            f"corrupt session file: {where} memtype {quoted_value(kwargs['memtype'])} is not "
            f"one of {', '.join(MEMTYPES)}"
        )
    return Mapping(**kwargs)


def to_dict(machine: Machine, resources: bool = True) -> dict[str, Any]:
    """The whole machine as a JSON-ready dict (format devmem-tui-session, version 1).
    ``resources=False`` leaves the resource tree out (the rest costs little on any map)."""
    d: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "name": machine.name,
        "config": machine.config.to_dict(),
        "memory_block_size": _hex(machine.memory_block_size),
        "high_memory": _hex(machine.high_memory),
        "clock": machine.clock,
        "resources": ([_resource_dict(c) for c in machine.tree.root.children] if resources else []),
        "vmem": [vmem_codec.to_dict(dev) for dev in machine.vmem.values()],
        "mappings": [_mapping_dict(mp) for mp in machine.mappings.values()],
        "next_mapping": machine.next_mapping,
        "pinned": _ranges(hotplug.pinned_ranges(machine)),
        "pinned_longterm": _ranges(hotplug.pinned_ranges(machine, hotplug.LONGTERM)),
        "hwpoison": [_hex(p) for p in sorted(machine.hwpoison)],
        "mtrr": machine.mtrr.to_dict(),
        "dump": _dump_dict(machine.dump),
    }
    if not resources:
        del d["resources"]
    return d


def _dump_dict(dump: DumpImage | None) -> dict[str, Any] | None:
    if dump is None:
        return None
    return {
        "kernel": dump.kernel,
        "segments": _ranges(dump.segments),
        "page_offline": _ranges(dump.page_offline),
    }


def _dump_from(data: Any) -> DumpImage | None:
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("kernel"), str):
        raise StateError("corrupt session file: dump must be an object with a kernel")
    KernelConfig().set("kernel", data["kernel"])  # validates the version
    return DumpImage(
        data["kernel"],
        _parse_ranges(data.get("segments", []), "dump segments"),
        _parse_ranges(data.get("page_offline", []), "dump page_offline"),
    )


def _pretty(obj: Any, indent: int = 0) -> str:
    """JSON with one key per line, but short lists of scalars (flags, ranges) inline."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(k)}: {_pretty(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj:
        flat = json.dumps(obj)
        if len(flat) <= 80 and not any(isinstance(x, dict) for x in obj):
            return flat
        items = [inner + _pretty(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj)


def dumps(machine: Machine) -> str:
    return _pretty(to_dict(machine)) + "\n"


# ----------------------------------------------------------------------------- from_dict
def _build_resource(
    tree: TreeBuilder, parent: Resource, d: Any, where: str, level: int = 1
) -> None:
    deep = too_deep(where, level)
    if deep:
        raise StateError(f"corrupt session file: {deep}")
    if not isinstance(d, dict):
        raise StateError(f"{where}: a resource must be an object")
    name = d.get("name")
    if not isinstance(name, str):
        raise StateError(f"{where}: resource without a name")
    check_name(name, f"{where}: resource name")
    start, end = _num(d.get("start"), f"{where} start"), _num(d.get("end"), f"{where} end")
    desc = d.get("desc", "none")
    if desc not in DESCS:
        raise StateError(f"{where}: unknown desc {quoted_value(desc)}")
    res = Resource(start, end, name, _words_to_flags(d.get("flags", ["mem"]), where), desc)
    try:
        tree.add(parent, res)
    except DevmemError as e:
        raise StateError(f"resource tree is inconsistent: {e}") from None
    children = d.get("children", [])
    if not isinstance(children, list):
        raise StateError(f"{where}: children must be a list")
    for i, c in enumerate(children):
        _build_resource(tree, res, c, f"{where}/{i}", level + 1)


def from_dict(data: Any) -> Machine:
    """Build a new Machine from a saved document; StateError (one line) when it is not one."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError('not a devmem-tui session file (no "format": "devmem-tui-session")')
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError("session file has no format version")
    if version > VERSION:
        raise StateError(
            f"session file format version {version} is newer than this devmem-tui reads "
            f"({VERSION}); upgrade devmem-tui"
        )
    if version < 1:
        raise StateError(f"session file format version {version} is not supported")
    try:
        return _from_dict_v1(data)
    except StateError:
        raise
    except DevmemError as e:
        raise StateError(f"corrupt session file: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        detail = f"missing {e}" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise StateError(f"corrupt session file: {detail}") from None


def _from_dict_v1(data: dict[str, Any]) -> Machine:
    cfg_data = data["config"]
    if not isinstance(cfg_data, dict):
        raise StateError("corrupt session file: config must be an object")
    config = KernelConfig.from_dict(cfg_data)
    builder = TreeBuilder()
    resources = data["resources"]
    if not isinstance(resources, list):
        raise StateError("corrupt session file: resources must be a list")
    for i, d in enumerate(resources):
        _build_resource(builder, builder.root, d, f"resources/{i}")
    tree = builder.finish()
    name = data.get("name", "custom")
    if not isinstance(name, str):
        raise StateError("corrupt session file: name must be a string")
    check_name(name, "machine name")
    if "mtrr" in data:
        mtrr: MtrrLayout | None = MtrrLayout.from_dict(data["mtrr"], "session file")
    elif name in presets.PRESETS:  # older files: the preset's firmware
        mtrr = presets.info(name).mtrr
    else:
        mtrr = None  # inferred from the map
    machine = Machine(tree, config, name, mtrr=mtrr)
    bs = _num(data.get("memory_block_size", _hex(machine.memory_block_size)), "memory_block_size")
    if bs == 0 or bs & (bs - 1):
        raise StateError("corrupt session file: memory_block_size is not a power of two")
    machine.memory_block_size = bs
    clock = data.get("clock", 0.0)
    # `not 0 <= clock <= MAX_CLOCK` also refuses NaN and Infinity (json reads both)
    if isinstance(clock, bool) or not isinstance(clock, int | float) or not 0 <= clock <= MAX_CLOCK:
        raise StateError(
            f"corrupt session file: clock must be a number of seconds from 0 to {MAX_CLOCK:g}"
        )
    machine.clock = float(clock)

    vmem = data.get("vmem", [])
    if not isinstance(vmem, list):
        raise StateError("corrupt session file: vmem must be a list")
    for i, d in enumerate(vmem):
        if not isinstance(d, dict):
            raise StateError(f"corrupt session file: vmem/{i} must be an object")
        dev = vmem_codec.from_dict(machine, d)
        dev_name = dev.device.name or d.get("name")
        if not isinstance(dev_name, str) or dev_name in machine.vmem:
            raise StateError(f"corrupt session file: vmem/{i} has a bad or duplicate name")
        try:  # the driver's tracking must agree with the device and the MM (run by run)
            dev.check(indexes=False)
        except AssertionError as e:
            detail = " ".join(str(e).split()) or "its layers disagree"
            raise StateError(
                f"corrupt session file: {dev_name}: driver state does "
                f"not match the device ({detail})"
            ) from None
        machine.add_device(dev_name, dev)

    maps = data.get("mappings", [])
    if not isinstance(maps, list):
        raise StateError("corrupt session file: mappings must be a list")
    for i, d in enumerate(maps):
        mp = _mapping_from(d, f"mappings/{i}")
        if mp.length == 0 or mp.id in machine.mappings:
            raise StateError(f"corrupt session file: mappings/{i} is empty or a duplicate")
        machine.mappings[mp.id] = mp
    nxt = data.get("next_mapping", len(machine.mappings) + 1)
    if isinstance(nxt, bool) or not isinstance(nxt, int) or nxt < 1:
        raise StateError("corrupt session file: next_mapping must be a positive integer")
    machine.next_mapping = nxt
    hotplug.restore_pins(machine, _parse_ranges(data.get("pinned", []), "pinned"))
    hotplug.restore_pins(
        machine,
        _parse_ranges(data.get("pinned_longterm", []), "pinned_longterm"),
        hotplug.LONGTERM,
    )
    machine.dump = _dump_from(data.get("dump"))
    hw = data.get("hwpoison", [])
    if not isinstance(hw, list):
        raise StateError("corrupt session file: hwpoison must be a list of pfns")
    machine.hwpoison = PfnSet(_num(p, "hwpoison pfn") for p in hw)
    machine.high_memory = _num(data.get("high_memory", _hex(machine.high_memory)), "high_memory")
    machine.events.clear()  # building is not a change a view should replay
    return machine


# ----------------------------------------------------------------------------- text
def loads(text: str) -> Machine:
    try:
        data = json_fields.loads(text)
    except json.JSONDecodeError as e:
        if not text.strip():
            raise StateError("session file is empty") from None
        raise StateError(
            f"not a devmem-tui session file (bad JSON at line {e.lineno} column {e.colno}: "
            f"{e.msg}; truncated?)"
        ) from None
    except RecursionError:
        raise StateError("not a devmem-tui session file (JSON nested too deeply)") from None
    return from_dict(data)
