"""Front-end settings: how a session shows results, not what the simulated kernel does.

``set trace short`` and ``set pager off`` work in every front end, like the kernel config
keys, but they live on the ``Session`` (``Session.settings``), never in the ``KernelConfig``:
``config`` lists them apart, ``save`` does not write them, and a recorded scenario does not
restore them. Each front end reads the ones it uses:

- ``trace`` (on, short, off): how much of each command's kernel trace is printed; ``short``
  keeps the check that decided the outcome.
- ``pager`` (on, off): the REPL pages output taller than the terminal (``less -RXF``-style:
  colours kept, short output not paged, the text left on screen).
- ``autoplay_delay`` (a duration, 0.2s to 60s): the TUI's scenario auto-play step interval.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from devmem_tui.commands.numbers import parse_duration
from devmem_tui.engine.errors import DevmemError

TRACE_MODES = ("on", "short", "off")

# key -> (allowed words, or None for a duration; help)
SETTINGS: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "trace": (TRACE_MODES, "how much kernel trace results show (short: the deciding check)"),
    "pager": (("on", "off"), "page output taller than the terminal (REPL)"),
    "autoplay_delay": (None, "seconds between scenario steps in TUI auto-play, e.g. 1.5s"),
}
AUTOPLAY_MIN, AUTOPLAY_MAX = 0.2, 60.0


@dataclass
class Settings:
    trace: str = "on"
    pager: str = "on"
    autoplay_delay: float = 1.5

    def set(self, key: str, value: str) -> None:
        """Validate and apply one setting; nothing changes on error."""
        key = key.strip().lower()
        if key not in SETTINGS:
            raise DevmemError(f"unknown setting {key!r}; settings: {', '.join(SETTINGS)}")
        allowed, _ = SETTINGS[key]
        value = value.strip()
        if allowed is None:
            seconds = parse_duration(value)
            if not AUTOPLAY_MIN <= seconds <= AUTOPLAY_MAX:
                raise DevmemError(
                    f"{key} must be from {AUTOPLAY_MIN:g}s to {AUTOPLAY_MAX:g}s, not {value!r}"
                )
            setattr(self, key, seconds)
            return
        if value.lower() not in allowed:
            raise DevmemError(f"{key} cannot be {value!r}; valid values: {', '.join(allowed)}")
        setattr(self, key, value.lower())

    def get(self, key: str) -> str:
        value = getattr(self, key.strip().lower())
        return f"{value:g}s" if isinstance(value, float) else str(value)

    def items(self) -> list[tuple[str, str]]:
        return [(f.name, self.get(f.name)) for f in fields(self)]


def is_setting(key: str) -> bool:
    return key.strip().lower() in SETTINGS
