"""Command palette provider: every command of the registry (the same list as the REPL's
`help`) and every key action of the app.

Choosing a command that needs arguments puts it in the command bar to finish; one that
needs none runs at once. Choosing an action runs it as its key would.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from devmem_tui.commands.registry import CommandSpec, all_specs

if TYPE_CHECKING:
    from devmem_tui.frontends.tui.app import DevmemApp


def needs_args(spec: CommandSpec) -> bool:
    """True unless one of its usages is the bare name or only optional words."""
    for usage in spec.usages:
        rest = usage.split()[1:]
        if all(w.startswith("[") for w in rest):
            return False
    return True


def palette_entries(app: DevmemApp) -> list[tuple[str, str, Callable[[], object]]]:
    """(text, help, callback) for every command and action, commands first."""
    out: list[tuple[str, str, Callable[[], object]]] = []
    for spec in all_specs():
        if needs_args(spec):
            cb: Callable[[], object] = partial(app.prefill, spec.name + " ")
        else:
            cb = partial(app.run_command, spec.name)
        out.append((spec.usages[0], spec.summary, cb))
    for key, action, title, tip in app.action_entries():
        out.append((f"action: {title} ({key})", tip or title, partial(app.run_action, action)))
    return out


class DevmemCommands(Provider):
    async def discover(self) -> Hits:
        app = cast("DevmemApp", self.app)
        for text, help_text, cb in palette_entries(app):
            yield DiscoveryHit(text, cb, text=text, help=help_text)

    async def search(self, query: str) -> Hits:
        app = cast("DevmemApp", self.app)
        matcher = self.matcher(query)
        for text, help_text, cb in palette_entries(app):
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), cb, text=text, help=help_text)
