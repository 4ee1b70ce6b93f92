"""config, set, help: the commands that describe the machine and the language itself."""

from __future__ import annotations

from devmem_tui.commands import render
from devmem_tui.commands.registry import Result, UsageError, expect_args
from devmem_tui.commands.session import REGISTRY, Session, all_specs, command, lookup
from devmem_tui.commands.settings import SETTINGS, is_setting
from devmem_tui.engine.config import KEYS
from devmem_tui.engine.interfaces import EventKind


@command(
    "config",
    "config",
    summary="show the kernel configuration, derived switches and Kconfig warnings",
    group="config",
    mutates=False,
)
def cmd_config(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["config"], args, 0)
    m = session.machine
    text = render.config_text(m) + "\n\n" + render.settings_text(session.settings)
    return Result(
        True,
        "DONE",
        text,
        data={"config": session.config.to_dict()},
        rows=render.config_rows(m, session.settings),
    )


@command(
    "set",
    "set KEY VALUE",
    summary="change one config key (a live what-if: the map, devices and mappings stay)",
    help="Kernel config keys: "
    + ", ".join(KEYS)
    + ".\nFront-end settings (kept by the session, not the kernel config; 'save' does not\n"
    + "write them): "
    + ", ".join(f"{k} ({'|'.join(v[0]) if v[0] else 'DURATION'})" for k, v in SETTINGS.items())
    + ".\nExamples: set iomem relaxed    set trace short    set pager off",
    group="config",
)
def cmd_set(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["set"], args, 2)
    key, value = args
    if is_setting(key):
        session.settings.set(key, value)
        return Result(True, "DONE", f"{key.lower()} = {session.settings.get(key)}")
    if key.strip().lower() not in KEYS:
        raise UsageError(
            f"unknown config key {key!r}; valid keys: {', '.join(KEYS)}; "
            f"front-end settings: {', '.join(SETTINGS)}"
        )
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
    return Result(True, "DONE", render.help_text(all_specs()))
