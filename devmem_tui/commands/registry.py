"""The command registry: every command's usage, help and handler in one place.

The parser, help, the REPL's completer, the TUI's palette and the scenario player all read this
registry, so they cannot drift apart. Handlers never print; they return a ``Result``.

A handler is ``def handler(session, args: list[str]) -> Result`` registered with
``@command("read", "read ADDR [LEN]", summary=..., help=...)``. Placeholders in usage strings
name the argument kind used for completion (see ``ARG_KINDS``); lowercase words are literals;
``[X]`` is optional; ``a|b`` is a choice. A handler raises ``UsageError`` (or any
``DevmemError``) for a command that cannot run; it must validate everything before it changes
any state, so a failed command leaves the session exactly as it was.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devmem_tui.engine.errors import DevmemError

if TYPE_CHECKING:
    from devmem_tui.commands.session import Session


class UsageError(DevmemError):
    """The command cannot run (bad syntax, unknown name, bad number)."""


# Placeholder -> argument kind, for completion and help.
ARG_KINDS: dict[str, str] = {
    "ADDR": "addr",
    "LEN": "size",
    "SIZE": "size",
    "OFFSET": "size",
    "RANGE": "range",
    "DEV": "device",
    "MAP": "mapping",
    "FILE": "file",
    "PRESET": "preset",
    "KEY": "config_key",
    "VALUE": "config_value",
    "memoryN": "memblock",
    "NAME": "resource",
    "COMMAND": "command",
    "DURATION": "duration",
    "TEXT": "text",
    "OUTCOME": "outcome",
}


@dataclass
class Result:
    """What a command returns. ``ok`` is False only for usage errors and failed ``expect``s;
    an access that the kernel refuses (EPERM...) is ok=True with that outcome."""

    ok: bool
    outcome: str | None
    message: str
    trace: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    expect_failed: bool = False

    def to_json(self, line: int) -> dict[str, Any]:
        return {
            "line": line,
            "command": self.command,
            "ok": self.ok,
            "outcome": self.outcome,
            "message": self.message,
            "trace": list(self.trace),
        }


Handler = Callable[["Session", list[str]], Result]


@dataclass
class CommandSpec:
    name: str
    usages: list[str]
    summary: str
    help: str
    handler: Handler
    group: str = "general"
    mutates: bool = True
    aliases: tuple[str, ...] = ()

    def usage_text(self) -> str:
        return "\n".join(f"  {u}" for u in self.usages)

    def full_help(self) -> str:
        text = f"{self.usages[0]}\n    {self.summary}\n"
        if len(self.usages) > 1:
            text += "usage:\n" + self.usage_text() + "\n"
        if self.help:
            text += (
                "\n"
                + "\n".join(f"  {line}" if line else "" for line in self.help.strip().splitlines())
                + "\n"
            )
        return text.rstrip("\n")


REGISTRY: dict[str, CommandSpec] = {}
ALIASES: dict[str, str] = {}
GROUP_ORDER = ("map", "config", "access", "vmem", "session", "scenario", "general")


def command(
    name: str,
    *usages: str,
    summary: str,
    help: str = "",
    group: str = "general",
    mutates: bool = True,
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register a command handler."""

    def deco(fn: Handler) -> Handler:
        REGISTRY[name] = CommandSpec(
            name, list(usages) or [name], summary, help, fn, group, mutates, aliases
        )
        for a in aliases:
            ALIASES[a] = name
        return fn

    return deco


def lookup(word: str) -> CommandSpec:
    load_all()
    key = ALIASES.get(word, word)
    spec = REGISTRY.get(key)
    if spec is None:
        close = difflib.get_close_matches(word, list(REGISTRY) + list(ALIASES), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "; type 'help' for the list"
        raise UsageError(f"unknown command {word!r}{hint}")
    return spec


def usage_error(spec: CommandSpec, problem: str) -> UsageError:
    return UsageError(f"{problem}; usage: {' | '.join(spec.usages)}")


def expect_args(spec: CommandSpec, args: list[str], lo: int, hi: int | None = None) -> None:
    """Raise a usage error naming the usage when the argument count is outside [lo, hi]."""
    hi = lo if hi is None else hi
    if len(args) < lo:
        raise usage_error(spec, f"{spec.name}: missing argument")
    if hi >= 0 and len(args) > hi:
        raise usage_error(spec, f"{spec.name}: unexpected argument {args[hi]!r}")


_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


def split_line(line: str) -> list[str]:
    """Split a command line into words; '#' starts a comment; "double quotes" group words."""
    words: list[str] = []
    for m in _TOKEN.finditer(line):
        if m.group(2) is not None and m.group(2).startswith("#"):
            break
        words.append(m.group(1) if m.group(1) is not None else m.group(2))
    return words


def usage_tokens(usage: str) -> list[str]:
    return usage.split()[1:]


_LOADED = False


def load_all() -> None:
    """Import every command module so that they register (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib
    import pkgutil

    import devmem_tui.commands as pkg

    for mod in sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)):
        if mod.startswith("cmd_"):
            importlib.import_module(f"devmem_tui.commands.{mod}")


def all_specs() -> list[CommandSpec]:
    load_all()
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    return sorted(REGISTRY.values(), key=lambda s: (order.get(s.group, 99), s.name))
