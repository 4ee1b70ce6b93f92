"""The command registry: every command's usage, help and handler in one place.

The parser, help, the REPL's completer, the TUI's palette and the scenario player all read the
one registry (``commands.session.COMMANDS``), so they cannot drift apart. Handlers never print;
they return a ``Result``.

A handler is ``def handler(session, args: list[str]) -> Result`` registered with
``@command("read", "read ADDR [LEN]", summary=..., help=...)``; usage strings follow
``commands.grammar``. A command with several forms (usages) gives each its own short line
with ``forms=(...)``, one per usage in the same order: the command bar's hint narrows to the
form being typed and shows that line, and the help lists every form with its own.
A handler raises ``UsageError`` (or any ``DevmemError``) for a command
that cannot run; it must validate everything before it changes any state, so a failed command
leaves the session exactly as it was.

The registry is generic in the session type its handlers take, so this module needs no
session: ``commands.session`` makes the one ``Registry[Session]``.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

from devmem_tui.commands import grammar
from devmem_tui.commands.grammar import Slot
from devmem_tui.engine.errors import DevmemError

S = TypeVar("S")  # the session a handler runs in


class UsageError(DevmemError):
    """The command cannot run (bad syntax, unknown name, bad number)."""


class ConfirmNeeded(UsageError):
    """The command would destroy something (``record`` over an existing file): in a script
    it is a usage error naming the word that allows it; ``confirm`` is that command line,
    which the REPL and the TUI offer to run after asking ``question``."""

    def __init__(self, message: str, question: str, confirm: str) -> None:
        super().__init__(message)
        self.question = question
        self.confirm = confirm


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
    # A table command's rows as typed objects (addresses and sizes as integers): `run --json`
    # prints them as "data" (docs/cli.md has each command's row schema).
    rows: list[dict[str, Any]] | None = None

    def to_json(self, line: int) -> dict[str, Any]:
        out = {
            "line": line,
            "command": self.command,
            "ok": self.ok,
            "outcome": self.outcome,
            "message": self.message,
            "trace": list(self.trace),
        }
        if self.rows is not None:
            out["data"] = self.rows
        return out


Handler = Callable[[S, list[str]], Result]

# The group of the scenario-only words (say, expect, pause): see CommandSpec.scenario_only.
SCENARIO_GROUP = "scenario"
GROUP_ORDER = ("map", "config", "access", "vmem", "session", SCENARIO_GROUP, "general")


@dataclass
class CommandSpec(Generic[S]):
    name: str
    usages: list[str]
    summary: str
    help: str
    handler: Handler[S]
    group: str = "general"
    mutates: bool = True
    aliases: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()  # what each usage does, in the order of ``usages``

    # say, expect, pause: words that steer a scenario rather than the machine. They do not
    # replace the session's last result (an `expect` after `say` checks the command before
    # it), the recorder writes them without an `expect` line, and the TUI groups them around
    # the command they narrate or check. Set from the group; a plain attribute because the
    # session reads it for every line.
    scenario_only: bool = field(init=False)

    def __post_init__(self) -> None:
        self.scenario_only = self.group == SCENARIO_GROUP
        if self.forms and len(self.forms) != len(self.usages):
            raise ValueError(f"{self.name}: {len(self.usages)} usages, {len(self.forms)} forms")

    def form_summary(self, usage: str) -> str:
        """What one of the usages does: its line in ``forms``, else the command's summary."""
        if self.forms and usage in self.usages:
            return self.forms[self.usages.index(usage)]
        return self.summary

    @cached_property
    def usage_slots(self) -> tuple[list[Slot], ...]:
        """Every usage parsed into slots (``grammar.parse_usage``), once per command."""
        return tuple(grammar.parse_usage(u) for u in self.usages)

    @cached_property
    def takes_file(self) -> bool:
        return grammar.takes_file(self.usage_slots)

    @property
    def needs_args(self) -> bool:
        """True unless one of its usages is the bare name or only optional words."""
        return not any(grammar.takes_no_args(slots) for slots in self.usage_slots)

    def usage_text(self) -> str:
        """Every usage, each with what it does when the forms say."""
        if not self.forms:
            return "\n".join(f"  {u}" for u in self.usages)
        return "\n".join(f"  {u}\n      {f}" for u, f in zip(self.usages, self.forms, strict=True))

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


class Registry(Generic[S]):
    """Commands by name, aliases, and whether the command modules of ``package`` (its
    ``cmd_*`` modules, which register themselves on import) have been imported yet."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.specs: dict[str, CommandSpec[S]] = {}
        self.aliases: dict[str, str] = {}
        self.loaded = False

    def command(
        self,
        name: str,
        *usages: str,
        summary: str,
        help: str = "",
        group: str = "general",
        mutates: bool = True,
        aliases: tuple[str, ...] = (),
        forms: tuple[str, ...] = (),
    ) -> Callable[[Handler[S]], Handler[S]]:
        """Register a command handler."""

        def deco(fn: Handler[S]) -> Handler[S]:
            self.specs[name] = CommandSpec(
                name, list(usages) or [name], summary, help, fn, group, mutates, aliases, forms
            )
            for a in aliases:
                self.aliases[a] = name
            return fn

        return deco

    def load_all(self) -> None:
        """Import every command module so that they register (once). They are found by
        name, not imported here, because each imports the session that imports this
        registry."""
        if self.loaded:
            return
        self.loaded = True
        pkg = importlib.import_module(self.package)
        for mod in sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)):
            if mod.startswith("cmd_"):
                importlib.import_module(f"{self.package}.{mod}")

    def lookup(self, word: str) -> CommandSpec[S]:
        if not self.loaded:  # checked here: every executed line looks its command up
            self.load_all()
        key = self.aliases.get(word, word)
        spec = self.specs.get(key)
        if spec is None:
            close = difflib.get_close_matches(
                word, list(self.specs) + list(self.aliases), n=1, cutoff=0.6
            )
            hint = f"; did you mean {close[0]!r}?" if close else "; type 'help' for the list"
            raise UsageError(f"unknown command {word!r}{hint}")
        return spec

    def all_specs(self) -> list[CommandSpec[S]]:
        self.load_all()
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        return sorted(self.specs.values(), key=lambda s: (order.get(s.group, 99), s.name))


def usage_error(spec: CommandSpec[S], problem: str) -> UsageError:
    return UsageError(f"{problem}; usage: {' | '.join(spec.usages)}")


def expect_args(spec: CommandSpec[S], args: list[str], lo: int, hi: int | None = None) -> None:
    """Raise a usage error naming the usage when the argument count is outside [lo, hi]."""
    hi = lo if hi is None else hi
    for a in args:  # `read 0x1000 --flags`: an option this usage does not have
        if a.startswith("--") and a not in {
            alt.literal for slots in spec.usage_slots for slot in slots for alt in slot.alts
        }:
            raise usage_error(spec, f"{spec.name}: unknown option {a!r}")
    if len(args) < lo:
        raise usage_error(spec, f"{spec.name}: missing argument")
    if hi >= 0 and len(args) > hi:
        raise usage_error(spec, f"{spec.name}: unexpected argument {args[hi]!r}")
