"""Details of the selection and the scenario narration panel (the log is log_view.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from devmem_tui.commands.predict import predictions
from devmem_tui.engine.units import fmt_ranges, fmt_size
from devmem_tui.frontends.output import display, outcome_style
from devmem_tui.frontends.tui import model
from devmem_tui.frontends.tui.widgets.text_pane import TextPane
from devmem_tui.frontends.tui.widgets.wrapping import Para

if TYPE_CHECKING:
    from devmem_tui.engine.machine import Machine


PRED_OP_WIDTH = 5  # "kcore"; "mmap@0x..." is wider and pushes its own line


def details_text(machine: Machine, addr: int, entry: model.Entry | None = None) -> list[Para]:
    """The resource chain at addr with flags, the device block there, and what read, mmap
    and kcore would get (predictions that change nothing). Each line wraps under a hanging
    indent: a verdict's continuation lines start under its text, not at column 1."""
    out: list[Para] = []
    head = Text(f"{addr:#x}", style="bold")
    if entry is not None and entry.kind == "hole":
        head.append(
            f"  hole {model.fmt_range(entry.start, entry.end)} "
            f"({fmt_size(entry.end - entry.start + 1)})",
            style="dim",
        )
    out.append(Para(head, 2))
    chain = machine.tree.chain_at(addr)
    if not chain:
        out.append(Para(Text("  no resource: a hole in /proc/iomem", style="dim")))
    for depth, res in enumerate(chain):
        kind = model.resource_kind(res, machine.config)
        glyph, style, word = model.KINDS[kind]
        t = Text("  " * (depth + 1))
        t.append(glyph + " ", style=style)
        t.append(f"{model.fmt_range(res.start, res.end)} : ")
        t.append(display(res.name), style=style)
        t.append(f"  [{model.flags_text(res, machine.config)}]", style="dim")
        out.append(Para(t, 2 * depth + 6))
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
            state = display(f"? ({e})")
        out.append(
            Para(
                Text(
                    f"  {display(name)} block {idx} ({'plugged' if plugged else 'unplugged'}), "
                    f"memory{mb}, page state {state}"
                ),
                4,
            )
        )
    for mp in machine.mappings.values():
        if mp.start <= addr <= mp.end:
            zapped = f", revoked {fmt_ranges(mp.zapped)}" if mp.zapped else ""
            out.append(
                Para(
                    Text(
                        f"  mapping {display(mp.id)} {mp.start:#x}-{mp.end:#x}{zapped}",
                        style="red" if mp.zapped else "",
                    ),
                    4,
                )
            )
    for p in predictions(machine, addr):
        outcome, detail, trace = p.outcome, p.detail, p.trace
        glyph, style = outcome_style(outcome)
        op = p.op if p.op != "mmap" or addr % 4096 == 0 else f"mmap@{model.page_floor(addr):#x}"
        t = Text(f"  {op:<{PRED_OP_WIDTH}} ", style="bold")
        t.append(f"{glyph} {outcome:<7}", style=style)
        if detail:
            t.append(f" {display(detail)}")
        out.append(Para(t, 2 + max(len(op), PRED_OP_WIDTH) + 1 + 2 + 7 + 1))
        if trace:
            out.append(Para(Text(f"        {display(trace[-1])}", style="dim"), 10))
    return out


class DetailsPanel(TextPane, can_focus=True):
    """The details of the current selection (``update(content)``); focusable to scroll it."""

    ALLOW_MAXIMIZE = True


class ScenarioPanel(Static):
    """Narration, progress and expect results of a scenario being stepped."""


class Pane(Vertical):
    """A bordered pane that ``z`` can maximize (the tree and the block map with their
    headers and legends)."""

    ALLOW_MAXIMIZE = True
