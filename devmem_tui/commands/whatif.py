"""What-if machines: the session's machine under another configuration, for the commands that
compare without changing the session (``compare``, ``sweep --vs``, ``export policy-map``)."""

from __future__ import annotations

import copy

from devmem_tui.commands.registry import UsageError
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.machine import Machine


def scratch_machine(machine: Machine, config: KernelConfig) -> Machine:
    """A throwaway read-only view of ``machine`` under ``config`` for sweeps: it shares the
    resource tree, devices and live mappings (a sweep decides its accesses with ``dry_run``
    and changes none of them), so it costs O(1) whatever the machine holds, and has its own
    config and events, so the session's machine stays as it was. A command that changes the
    machine runs under another config through the journal instead (``compare``)."""
    m = copy.copy(machine)
    object.__setattr__(m, "config", config)  # not a change of the session's machine: no undo
    object.__setattr__(m, "events", [])
    return m


def parse_settings(words: list[str], option: str = "--vs") -> list[tuple[str, str]]:
    """``KEY=VALUE`` words as (key, value) pairs, checked against a copy of the default config
    so that a bad key or value is reported before anything runs."""
    if not words:
        raise UsageError(f"{option}: missing KEY=VALUE (e.g. {option} io_strict_devmem=on)")
    pairs: list[tuple[str, str]] = []
    probe = KernelConfig()
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key or not value:
            raise UsageError(f"{option}: {w!r} is not KEY=VALUE (e.g. kernel=5.15)")
        try:
            probe.set(key, value)
        except DevmemError as e:
            raise UsageError(f"{option} {w}: {e}") from None
        key = key.strip().lower()
        if any(k == key for k, _ in pairs):
            raise UsageError(f"{option}: {key} is given twice (give each KEY once)")
        pairs.append((key, value.strip()))
    return pairs


def with_settings(machine: Machine, pairs: list[tuple[str, str]]) -> Machine:
    """``machine`` seen under its config with ``pairs`` applied (a scratch machine)."""
    cfg = machine.config.copy()
    for key, value in pairs:
        cfg.set(key, value)
    return scratch_machine(machine, cfg)


def settings_text(pairs: list[tuple[str, str]]) -> str:
    return " ".join(f"{k}={v}" for k, v in pairs)
