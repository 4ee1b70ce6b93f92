"""Built-in machines: ``devmem_tui/presets/NAME.iomem`` (the boot-time /proc/iomem, annotated
where inference is not enough) + ``NAME.json`` (arch, description, where the layout facts come
from, and the virtio-mem devices the driver probes at boot).

This module only reads them; ``Machine.from_preset`` builds the machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem.tree import ResourceTree
from devmem_tui.engine.mtrr import MtrrLayout

DEFAULT = "qemu-x86-virtio-mem"
ARCHES = ("x86_64", "arm64")
_DEVICE_KEYS = ("name", "addr", "region_size", "block_size", "requested_size", "index")


@dataclass(frozen=True)
class DeviceSpec:
    """One virtio-mem device as QEMU's ``-device virtio-mem-pci`` describes it."""

    name: str
    addr: int
    region_size: int
    block_size: int
    requested_size: int
    index: int  # N of the "virtioN" parent resource (virtio device enumeration order)


@dataclass(frozen=True)
class PresetInfo:
    name: str
    arch: str
    description: str
    source: str
    devices: tuple[DeviceSpec, ...]
    mtrr: MtrrLayout | None = None  # x86: the firmware's MTRRs (None: inferred from the map)


def _preset_dir() -> str:
    return str(importlib_resources.files("devmem_tui") / "presets")


def _names() -> list[str]:
    """Preset names (a NAME.json with its NAME.iomem), the default first."""
    d = _preset_dir()
    names = [
        f[: -len(".json")]
        for f in os.listdir(d)
        if f.endswith(".json") and os.path.exists(os.path.join(d, f[:-5] + ".iomem"))
    ]
    return sorted(names, key=lambda n: (n != DEFAULT, n))


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DevmemError(f"{what}: expected a number, got {value!r}")
    try:
        return value if isinstance(value, int) else int(value, 0)
    except ValueError:
        raise DevmemError(f"{what}: {value!r} is not a number") from None


@cache
def info(name: str) -> PresetInfo:
    """The parsed ``NAME.json`` (unknown name -> DevmemError listing the presets)."""
    if name not in PRESETS:
        raise DevmemError(f"unknown machine preset {name!r}; presets: {', '.join(PRESETS)}")
    path = os.path.join(_preset_dir(), name + ".json")
    with open(path, encoding="utf-8") as fh:
        meta = json.load(fh)
    arch = meta.get("arch")
    if arch not in ARCHES:
        raise DevmemError(f"{path}: arch must be one of {', '.join(ARCHES)}, not {arch!r}")
    devices = []
    for i, d in enumerate(meta.get("devices", [])):
        missing = [k for k in _DEVICE_KEYS if k not in d]
        if missing:
            raise DevmemError(f"{path}: device {i} lacks {', '.join(missing)}")
        devices.append(
            DeviceSpec(
                name=str(d["name"]),
                addr=_number(d["addr"], f"{path}: device {i} addr"),
                region_size=_number(d["region_size"], f"{path}: device {i} region_size"),
                block_size=_number(d["block_size"], f"{path}: device {i} block_size"),
                requested_size=_number(d["requested_size"], f"{path}: device {i} requested_size"),
                index=_number(d["index"], f"{path}: device {i} index"),
            )
        )
    mtrr = MtrrLayout.from_dict(meta["mtrr"], path) if "mtrr" in meta else None
    return PresetInfo(
        name,
        arch,
        str(meta.get("description", "")),
        str(meta.get("source", "")),
        tuple(devices),
        mtrr,
    )


def _load_descriptions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _names():
        with open(os.path.join(_preset_dir(), name + ".json"), encoding="utf-8") as fh:
            out[name] = str(json.load(fh).get("description", ""))
    return out


#: Preset name -> one-line description, read from the JSON files.
PRESETS: dict[str, str] = _load_descriptions()


def iomem_text_of(name: str) -> str:
    """The preset's .iomem text (with its comment header)."""
    info(name)  # validates the name
    with open(os.path.join(_preset_dir(), name + ".iomem"), encoding="utf-8") as fh:
        return fh.read()


# Resource names only one architecture has: x86 (e820/ACPI/APIC/legacy ROMs), arm64 virt/DT.
_X86_MARKERS = ("Local APIC", "IOAPIC ", "HPET ", "Video ROM", "System ROM", "PCI MMCONFIG")
_ARM64_MARKERS = ("GICD", "GICR", "pl011@", "pl031@", "pl061@", "pcie@")


def guess_arch(tree: ResourceTree) -> tuple[str | None, str]:
    """The arch a /proc/iomem belongs to, from names only one arch has, and the name that
    says so; (None, "") when it does not tell or contradicts itself."""
    x86 = arm = ""
    for _, r in tree.walk():
        if not x86 and r.name.startswith(_X86_MARKERS):
            x86 = r.name
        if not arm and r.name.startswith(_ARM64_MARKERS):
            arm = r.name
    if bool(x86) == bool(arm):
        return None, ""
    return ("x86_64", x86) if x86 else ("arm64", arm)
