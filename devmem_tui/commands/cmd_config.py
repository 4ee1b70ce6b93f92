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
    summary="show the kernel configuration, where each value came from, derived switches and "
    "Kconfig warnings",
    help="Where each value came from: default, a preset, an option on the command line\n"
    "(--kernel ...), the set command, or a snapshot (its kernel config, kernel command\n"
    "line, sysfs, /proc/cpuinfo...: see docs/snapshot.md).",
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
    + ".\nkernel takes X.Y (the line's first release, X.Y.0), X.Y.Z, a `uname -r` string\n"
    "(6.12.118+deb13-amd64) or a /proc/version line (quote it: '#' starts a comment); a\n"
    "distribution ABI name such as 6.1.0-56-amd64 has no sub-level and is taken as X.Y.0.\n"
    "lockdown: Secure Boot usually boots the kernel locked down (integrity): open() of\n"
    "/dev/mem then fails with EPERM; confidentiality also refuses /proc/kcore.\n"
    "Front-end settings (kept by the session, not the kernel config; 'save' does not\n"
    "write them): "
    + ", ".join(f"{k} ({'|'.join(v[0]) if v[0] else 'DURATION'})" for k, v in SETTINGS.items())
    + ".\nExamples: set iomem relaxed    set kernel 6.1.113    set lockdown integrity    "
    "set trace short",
    group="config",
)
def cmd_set(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["set"]
    if len(args) > 2 and args[0].lower() == "kernel":
        args = [args[0], " ".join(args[1:])]  # a /proc/version line is many words
    expect_args(spec, args, 2)
    key, value = args
    if is_setting(key):
        session.settings.set(key, value)
        return Result(True, "DONE", f"{key.lower()} = {session.settings.get(key)}")
    if key.strip().lower() not in KEYS:
        raise UsageError(
            f"unknown config key {key!r}; valid keys: {', '.join(KEYS)}; "
            f"front-end settings: {', '.join(SETTINGS)}"
        )
    version = session.config.set_from(key, value, "set command")
    if key == "migration":
        for dev in session.machine.vmem.values():
            dev.device.migration = session.config.migration
    session.machine.emit(EventKind.CONFIG, key.lower(), value=session.config.get(key.lower()))
    msg = f"{key.lower()} = {session.config.get(key.lower())}"
    if version is not None and version.origin:
        msg += f" (sub-level from {version.origin})"
    warnings = session.config.warnings()
    if version is not None and version.warning:
        warnings.insert(0, version.warning)
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
