"""Command palette provider: every command of the registry (the same list as the REPL's
`help`) and every key action of the app.

Choosing a command that needs arguments puts it in the command bar to finish; one that
needs none runs at once. Choosing an action runs it as its key would.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from devmem_tui.commands.session import all_specs


class PaletteHost(Protocol):
    """What the palette needs of the app (``DevmemApp``): its key actions, and ways to run
    a command, put one in the command bar, or run an action."""

    def action_entries(self) -> list[tuple[str, str, str, str]]: ...

    def prefill(self, text: str) -> None: ...

    def run_command(self, line: str) -> Any: ...

    async def run_action(self, action: str) -> Any: ...


def palette_entries(app: PaletteHost) -> list[tuple[str, str, Callable[[], object]]]:
    """(text, help, callback) for every command and action, commands first."""
    out: list[tuple[str, str, Callable[[], object]]] = []
    for spec in all_specs():
        if spec.needs_args:
            cb: Callable[[], object] = partial(app.prefill, spec.name + " ")
        else:
            cb = partial(app.run_command, spec.name)
        out.append((spec.usages[0], spec.summary, cb))
    for key, action, title, tip in app.action_entries():
        out.append((f"action: {title} ({key})", tip or title, partial(app.run_action, action)))
    return out


class DevmemCommands(Provider):
    async def discover(self) -> Hits:
        app = cast(PaletteHost, self.app)
        for text, help_text, cb in palette_entries(app):
            yield DiscoveryHit(text, cb, text=text, help=help_text)

    async def search(self, query: str) -> Hits:
        app = cast(PaletteHost, self.app)
        matcher = self.matcher(query)
        for text, help_text, cb in palette_entries(app):
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), cb, text=text, help=help_text)
