"""The text tables and listings the commands print (the virtio-mem ones are in
vmem_tables.py): the preset list, whatis, live mappings, the compare table, the config and help.

Each is a function of the machine (or of the rows a command computed), so the TUI shows the
same facts in the same words where it shows them at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from devmem_tui.commands.predict import Prediction
from devmem_tui.commands.registry import CommandSpec, S
from devmem_tui.commands.settings import SETTINGS, Settings
from devmem_tui.engine import presets
from devmem_tui.engine.config import BACKPORTS, KEYS, KernelConfig
from devmem_tui.engine.devmem import rules
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.tree import F, Resource, flags_words
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.units import PAGE_SIZE, fmt_ranges, fmt_size

# What `config` and the TUI's config panel say when a probed driver runs under a config that
# cannot build it (the device keeps its state; no such kernel could be running it).
DRIVER_UNBUILDABLE = (
    "virtio-mem driver is running although this config cannot build it: "
    "no such kernel could be running it"
)


def eff_flags(res: Resource, cfg: KernelConfig | None) -> F:
    """Flags as the configured kernel sets them (``rules.eff_flags``: the virtio-mem parent
    is EXCLUSIVE only from 5.16), or the stored flags without a config."""
    if cfg is None:
        return res.flags
    return F(rules.eff_flags(res, cfg.switches))


def driver_unbuildable(machine: Machine) -> bool:
    """A virtio-mem driver was probed, but the config cannot build the driver."""
    running = [d for d in machine.vmem.values() if getattr(d, "probed", False)]
    return bool(running) and not machine.config.virtio_mem_buildable


# ----------------------------------------------------------------------------- map
def presets_text(current: str) -> str:
    """`machine`: every preset, the current one starred."""
    width = max(len(n) for n in presets.PRESETS)
    lines = [
        f"{'*' if n == current else ' '} {n:<{width}}  {d}" for n, d in presets.PRESETS.items()
    ]
    lines.append(f"(* = current machine: {current}; 'machine PRESET' loads one)")
    return "\n".join(lines)


def machine_summary(m: Machine) -> str:
    devices = (
        ", ".join(f"{name} at {vm.device.addr:#x}" for name, vm in m.vmem.items())
        or "no virtio-mem devices"
    )
    return (
        f"{len(m.tree)} resources, arch {m.config.arch}, {devices}; "
        f"config otherwise unchanged ({m.config.short()})"
    )


def chain_lines(m: Machine, chain: Sequence[Resource]) -> list[str]:
    """`whatis`: the resources containing an address, outermost first, as /proc/iomem lines
    with their flags; where the configured kernel sets a flag differently than stored (the
    virtioN parent's EXCLUSIVE bit, 5.16+), a note says so."""
    if not chain:
        return ["  in no resource (a hole in /proc/iomem)"]
    lines = []
    for depth, r in enumerate(chain):
        line = "  " + iomem_text.render_line(r, depth, flags=True)
        eff = int(eff_flags(r, m.config))
        if eff != int(r.flags):
            gained = F(eff & ~int(r.flags))
            lost = F(int(r.flags) & ~eff)
            note = " ".join(
                [*(f"+{w}" for w in flags_words(gained)), *(f"-{w}" for w in flags_words(lost))]
            )
            line += f"  (as this kernel sets it: {note})"
        lines.append(line)
    return lines


def prediction_lines(m: Machine, page: int, preds: Iterable[Prediction]) -> list[str]:
    """`whatis`: what each access of the page would get, one line each."""
    lines = [f"page {page:#x}-{page + PAGE_SIZE - 1:#x} under {m.config.short()}:"]
    for p in preds:
        assert p.verdict is not None  # whatis raises a prediction's error instead
        lines.append(f"  {p.op:<6} {p.verdict.message}")
    return lines


# ----------------------------------------------------------------------------- access
def maps_text(machine: Machine) -> str:
    """`maps`: the live /dev/mem mappings and their revoked pages."""
    if not machine.mappings:
        return "no live /dev/mem mappings"
    kinds = {
        m.id: ("private " if m.private else "shared ") + m.cache_type
        for m in machine.mappings.values()
    }
    width = max(12, *(len(k) for k in kinds.values()))
    lines = [f"{'map':<5} {'range':<35} {'size':>6}  {'kind':<{width}} revoked"]
    for m in machine.mappings.values():
        zapped = fmt_ranges(m.zapped) if m.zapped else "-"
        lines.append(
            f"{m.id:<5} {f'{m.start:#x}-{m.end:#x}':<35} {fmt_size(m.length):>6}  "
            f"{kinds[m.id]:<{width}} {zapped}"
        )
    return "\n".join(lines)


def compare_text(
    line: str,
    base: KernelConfig,
    rows: list[dict[str, Any]],
    unbuildable: list[str],
    eras: bool = True,
) -> str:
    """`compare`: one access under every kernel era and proposal (or the versions asked for),
    one row each."""
    width = max(len("kernel / proposal"), *(len(str(row["label"])) for row in rows))
    varied = "kernel and proposal varied" if eras else "kernel varied"
    out = [
        f"compare {line}   ({base.short()}, {varied})",
        f"{'kernel / proposal':<{width}}  {'outcome':<7}  {'bytes':>10}  deciding check",
    ]
    for row in rows:
        out.append(
            f"{row['label']!s:<{width}}  {row['outcome']!s:<7}  {row['nbytes']!s:>10}  "
            f"{row['decider']}"
        )
    if unbuildable:
        out.append(
            f"note: no {', '.join(unbuildable)} kernel could run the virtio-mem driver "
            "this map shows; the map is kept as it is"
        )
    return "\n".join(out)


# ----------------------------------------------------------------------------- config, help
def config_text(m: Machine) -> str:
    """`config`: every key with its value and choices, the derived switches, warnings."""
    cfg = m.config
    lines = []
    width = max(len(k) for k in KEYS)
    for key, (allowed, help_text) in KEYS.items():
        choices = f"  ({'/'.join(allowed)})" if allowed else ""
        lines.append(f"{key:<{width}}  {cfg.get(key):<15} {help_text}{choices}")
    lines.append("")
    lines.append("where each value comes from:")
    for key in KEYS:
        lines.append(f"  {key:<{width}}  {cfg.source(key)}")
    lines.append("")
    lines.append("derived:")
    lines.append(f"  STRICT_DEVMEM effective   {'y' if cfg.eff_strict_devmem else 'n'}")
    lines.append(f"  IO_STRICT_DEVMEM effective {'y' if cfg.eff_io_strict_devmem else 'n'}")
    lines.append(
        f"  strict_iomem_checks       {int(cfg.strict_iomem_checks)}"
        "   (strict_iomem(): default follows STRICT_DEVMEM)"
    )
    lines.append(f"  high_memory               {m.high_memory:#x}")
    built = "built" if cfg.virtio_mem_buildable else "not built"
    lines.append(f"  virtio-mem driver         {built}")
    lines.append(f"  lockdown effective        {cfg.eff_lockdown}")
    if cfg.x86:
        lines.append(f"  MTRRs (firmware)          {m.mtrr.describe()}")
    for what, change in BACKPORTS:
        has = "yes" if cfg.has(change) else "no"
        lines.append(f"  {change.commit}  {what:<44} {has}  ({change.where()})")
    warnings = cfg.warnings()
    if driver_unbuildable(m):
        warnings.append(f"{DRIVER_UNBUILDABLE} (the device keeps its state)")
    for w in warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def settings_text(settings: Settings) -> str:
    """`config`: the front-end settings, apart from the kernel config they are not part of."""
    lines = ["front-end settings (this session only; not kernel config):"]
    width = max(len(k) for k in SETTINGS)
    for key, value in settings.items():
        allowed, help_text = SETTINGS[key]
        choices = f"  ({'/'.join(allowed)})" if allowed else ""
        lines.append(f"  {key:<{width}}  {value:<6} {help_text}{choices}")
    return "\n".join(lines)


def config_rows(m: Machine, settings: Settings) -> list[dict[str, Any]]:
    """`config` as typed rows, ``kind`` saying which part of the table: every config key
    ("config", the value as the config holds it: a bool for on/off, an int for phys_bits),
    the derived values ("derived"), the front-end settings ("setting")."""
    cfg = m.config
    rows: list[dict[str, Any]] = [
        {
            "key": key,
            "value": getattr(cfg, key),
            "choices": list(allowed) if allowed else None,
            "help": help_text,
            "kind": "config",
        }
        for key, (allowed, help_text) in KEYS.items()
    ]
    derived = (
        ("strict_devmem_effective", cfg.eff_strict_devmem, "STRICT_DEVMEM as built"),
        ("io_strict_devmem_effective", cfg.eff_io_strict_devmem, "IO_STRICT_DEVMEM as built"),
        ("strict_iomem_checks", int(cfg.strict_iomem_checks), "strict_iomem() in resource.c"),
        ("high_memory", m.high_memory, "one past the top of directly mapped RAM"),
        ("virtio_mem_driver_built", cfg.virtio_mem_buildable, "VIRTIO_MEM can be built"),
    )
    rows += [
        {"key": k, "value": v, "choices": None, "help": h, "kind": "derived"} for k, v, h in derived
    ]
    for key, (allowed, help_text) in SETTINGS.items():
        rows.append(
            {
                "key": key,
                "value": getattr(settings, key),
                "choices": list(allowed) if allowed else None,
                "help": help_text,
                "kind": "setting",
            }
        )
    return rows


def help_text(specs: Iterable[CommandSpec[S]]) -> str:
    """`help`: the commands by group, one usage and summary each."""
    lines = []
    group = None
    for spec in specs:
        if spec.group != group:
            group = spec.group
            lines.append(f"{group}:")
        lines.append(f"  {spec.usages[0]:<38} {spec.summary}")
    lines.append("")
    lines.append("Numbers: 0x1000, 4096, 128M.  Ranges: START-END (inclusive) or START+SIZE.")
    lines.append("';' runs several commands from one line: set iomem relaxed; read 0xfec00000")
    lines.append(CONFIG_LETTERS)
    lines.append("'help COMMAND' explains one command.")
    return "\n".join(lines)


# What the mode letters of KernelConfig.short() mean (in `compare`, `whatis` and `record`).
CONFIG_LETTERS = (
    "In '6.16.0 x86_64 S iomem=default' the letters are the /dev/mem mode: S STRICT_DEVMEM,\n"
    "SI STRICT_DEVMEM and IO_STRICT_DEVMEM, N STRICT_DEVMEM off, X no /dev/mem (DEVMEM=n)."
)
