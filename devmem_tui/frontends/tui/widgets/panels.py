"""Details of the selection, the access log, and the scenario narration panel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import RichLog, Static

from devmem_tui.commands.predict import predictions
from devmem_tui.engine.units import fmt_ranges
from devmem_tui.frontends.output import outcome_style
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.widgets.text_pane import TextPane

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine


def details_text(machine: Machine, addr: int, entry: model.Entry | None = None) -> Text:
    """The resource chain at addr with flags, the device block there, and what read, mmap
    and kcore would get (predictions that change nothing)."""
    t = Text()
    t.append(f"{addr:#x}", style="bold")
    if entry is not None and entry.kind == "hole":
        t.append(
            f"  hole {model.fmt_range(entry.start, entry.end)} "
            f"({model.human_size(entry.end - entry.start + 1)})",
            style="dim",
        )
    t.append("\n")
    chain = machine.tree.chain_at(addr)
    if not chain:
        t.append("  no resource: a hole in /proc/iomem\n", style="dim")
    for depth, res in enumerate(chain):
        kind = model.resource_kind(res, machine.config)
        glyph, style, word = model.KINDS[kind]
        t.append("  " * (depth + 1))
        t.append(glyph + " ", style=style)
        t.append(f"{model.fmt_range(res.start, res.end)} : ")
        t.append(res.name, style=style)
        t.append(f"  [{model.flags_text(res, machine.config)}]\n", style="dim")
    hit = model.device_at(machine, addr)
    if hit is not None:
        name, dev = hit
        d = dev.device
        idx = (addr - d.addr) // d.block_size
        plugged = d.blocks.is_set(idx)
        mb = addr // machine.memory_block_size
        try:
            state = machine.memory_state(addr)
        except Exception as e:  # the view must not die on an engine corner case
            state = f"? ({e})"
        t.append(
            f"  {name} block {idx} ({'plugged' if plugged else 'unplugged'}), "
            f"memory{mb}, page state {state}\n"
        )
    for mp in machine.mappings.values():
        if mp.start <= addr <= mp.end:
            zapped = f", revoked {fmt_ranges(mp.zapped)}" if mp.zapped else ""
            t.append(
                f"  mapping {mp.id} {mp.start:#x}-{mp.end:#x}{zapped}\n",
                style="red" if mp.zapped else "",
            )
    for p in predictions(machine, addr):
        outcome, detail, trace = p.outcome, p.detail, p.trace
        glyph, style = outcome_style(outcome)
        op = p.op if p.op != "mmap" or addr % 4096 == 0 else f"mmap@{model.page_floor(addr):#x}"
        t.append(f"  {op:<5} ", style="bold")
        t.append(f"{glyph} {outcome:<7}", style=style)
        if detail:
            t.append(f" {detail}")
        t.append("\n")
        if trace:
            t.append(f"        {trace[-1]}\n", style="dim")
    return t


class DetailsPanel(TextPane, can_focus=True):
    """The details of the current selection (``update(text)``); focusable to scroll it."""


class AccessLog(RichLog):
    """Each command with its outcome and trace. The app keeps the same lines as plain text
    in ``app.transcript`` (RichLog holds writes until it is sized, so tests read that)."""

    def __init__(self, **kw: object) -> None:
        super().__init__(
            max_lines=5000,
            wrap=True,
            markup=False,
            highlight=False,
            auto_scroll=True,
            min_width=20,
            **kw,  # type: ignore[arg-type]
        )


class ScenarioPanel(Static):
    """Narration, progress and expect results of a scenario being stepped."""
