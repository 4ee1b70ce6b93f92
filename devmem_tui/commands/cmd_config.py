"""config, set, help: the commands that describe the machine and the language itself."""

from __future__ import annotations

from devmem_tui.commands.registry import (
    REGISTRY,
    Result,
    all_specs,
    command,
    expect_args,
    lookup,
)
from devmem_tui.commands.session import Session
from devmem_tui.engine.config import KEYS
from devmem_tui.engine.interfaces import EventKind


def config_text(session: Session) -> str:
    cfg = session.config
    m = session.machine
    lines = []
    width = max(len(k) for k in KEYS)
    for key, (allowed, help_text) in KEYS.items():
        choices = f"  ({'/'.join(allowed)})" if allowed else ""
        lines.append(f"{key:<{width}}  {cfg.get(key):<15} {help_text}{choices}")
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
    warnings = cfg.warnings()
    running = [d for d in m.vmem.values() if getattr(d, "probed", False)]
    if running and not cfg.virtio_mem_buildable:
        warnings.append(
            "virtio-mem driver is running although this config cannot build it: "
            "no such kernel could be running it (the device keeps its state)"
        )
    for w in warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


@command(
    "config",
    "config",
    summary="show the kernel configuration, derived switches and Kconfig warnings",
    group="config",
    mutates=False,
)
def cmd_config(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["config"], args, 0)
    return Result(True, "DONE", config_text(session), data={"config": session.config.to_dict()})


@command(
    "set",
    "set KEY VALUE",
    summary="change one config key (a live what-if: the map, devices and mappings stay)",
    help="Keys: " + ", ".join(KEYS) + ".\nExample: set iomem relaxed",
    group="config",
)
def cmd_set(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["set"], args, 2)
    key, value = args
    session.config.set(key, value)
    if key == "migration":
        for dev in session.machine.vmem.values():
            dev.device.migration = session.config.migration
    session.machine.emit(EventKind.CONFIG, key.lower(), value=session.config.get(key.lower()))
    msg = f"{key.lower()} = {session.config.get(key.lower())}"
    warnings = session.config.warnings()
    if warnings:
        msg += "\n" + "\n".join(f"warning: {w}" for w in warnings)
    return Result(True, "DONE", msg)


@command(
    "help",
    "help [COMMAND]",
    summary="list the commands, or explain one",
    group="general",
    mutates=False,
    aliases=("?",),
)
def cmd_help(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["help"], args, 0, 1)
    if args:
        spec = lookup(args[0])
        return Result(True, "DONE", spec.full_help())
    lines = []
    group = None
    for spec in all_specs():
        if spec.group != group:
            group = spec.group
            lines.append(f"{group}:")
        lines.append(f"  {spec.usages[0]:<38} {spec.summary}")
    lines.append("")
    lines.append("Numbers: 0x1000, 4096, 128M.  Ranges: START-END (inclusive) or START+SIZE.")
    lines.append("'help COMMAND' explains one command.")
    return Result(True, "DONE", "\n".join(lines))
