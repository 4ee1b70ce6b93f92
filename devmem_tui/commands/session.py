"""A Session: the machine being explored plus what the command layer remembers between lines.

``Session.execute(line)`` is the single way in for the REPL, the TUI and scenarios.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devmem_tui.commands.registry import Result, UsageError, lookup, split_line
from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.machine import Machine

DEFAULT_PRESET = "qemu-x86-virtio-mem"


@dataclass
class Session:
    machine: Machine
    last_result: Result | None = None
    recorder: Any = None  # commands.cmd_session.Recorder while `record FILE` is on
    listeners: list[Callable[[str, Result], None]] = field(default_factory=list)
    source: str = "<input>"  # file name for messages (scenarios)
    line_no: int = 0

    @classmethod
    def new(cls, preset: str = DEFAULT_PRESET, config: KernelConfig | None = None) -> Session:
        return cls(Machine.from_preset(preset, config))

    @property
    def config(self) -> KernelConfig:
        return self.machine.config

    def replace_machine(self, machine: Machine) -> None:
        self.machine = machine
        machine.emit("machine", machine.name)

    def execute(self, line: str) -> Result | None:
        """Run one line; None for a blank or comment line. Never raises for user input."""
        words = split_line(line)
        if not words:
            return None
        text = line.strip()
        try:
            spec = lookup(words[0])
            result = spec.handler(self, words[1:])
        except DevmemError as e:
            result = Result(False, None, f"error: {e}")
        except RecursionError:
            result = Result(False, None, "error: input nested too deeply")
        except Exception as e:  # a bug must not kill a front end: report it on one line
            result = Result(False, None, f"internal error: {type(e).__name__}: {e}")
        result.command = text
        if spec_name(words[0]) not in ("expect", "say", "pause"):  # scenario-only words
            self.last_result = result
        for listener in list(self.listeners):
            listener(text, result)
        return result


def spec_name(word: str) -> str:
    try:
        return lookup(word).name
    except UsageError:
        return word
