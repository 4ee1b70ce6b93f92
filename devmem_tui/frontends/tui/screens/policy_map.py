"""The policy map (key `M`): the physical address space as a vertical strip of ranges coloured
by outcome, one range per line group, the scale per range and not per byte. The cursor moves
range by range; Enter shows the deciding trace of the range (of its first page); `r` `w` `m`
`k` pick the access; `d` compares with the session's config with KEY=VALUE changes (before and
after side by side, changed ranges marked ◆); `n` jumps to the next change.

It reads the session's machine and never changes it: a sweep decides, it does not map.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from devmem_tui.commands.sweeps import SweepJob, parse_job
from devmem_tui.engine.devmem.sweep import access
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.machine import Machine
from devmem_tui.frontends.output import display, outcome_style
from devmem_tui.frontends.tui.policy import MapLine, legend, line_text, map_lines
from devmem_tui.frontends.tui.screens.prompt import GotoScreen
from devmem_tui.frontends.tui.styles import text_without_color


class PolicyMapScreen(ModalScreen[None]):
    """See the module docstring (modal: the main screen's keys, such as `p` plug, do not
    reach through). ``job`` and ``lines`` are what is shown (tests read them)."""

    BINDINGS = [
        Binding("escape,q,M", "close", "Close", id="map.close"),
        Binding("r", "op('read')", "read", id="map.read"),
        Binding("w", "op('write')", "write", id="map.write"),
        Binding("m", "op('mmap')", "mmap", id="map.mmap"),
        Binding("k", "op('kcore')", "kcore", id="map.kcore"),
        Binding("d", "diff", "Diff", id="map.diff", tooltip="compare with KEY=VALUE changes"),
        Binding("n", "next_change", "Next change", id="map.next", show=False),
        Binding("x", "no_diff", "No diff", id="map.nodiff", show=False),
    ]

    def __init__(self, machine: Callable[[], Machine], op: str = "read") -> None:
        super().__init__()
        self._machine = machine
        self.op = op
        self.settings: list[str] = []  # the KEY=VALUE words of the diff, if any
        self.job: SweepJob | None = None
        self.lines: list[MapLine] = []
        self.trace = ""  # the trace pane as plain text (tests)

    def compose(self) -> ComposeResult:
        yield Static(id="map-head")
        yield OptionList(id="map-list")
        yield Static(id="map-trace")
        yield Footer()

    def on_mount(self) -> None:
        self.rebuild()
        self.query_one(OptionList).focus()

    # ------------------------------------------------------------------ building
    def rebuild(self, keep: int | None = None) -> None:
        """Sweep again (after a change of op or diff) and redraw, the cursor on the range
        holding ``keep`` (else where it was)."""
        ol = self.query_one(OptionList)
        if keep is None and self.lines and ol.highlighted is not None:
            keep = self.lines[ol.highlighted].start
        args = [self.op, *(["--vs", *self.settings] if self.settings else [])]
        self.job = parse_job(self._machine(), args, "policy map")
        self.lines = map_lines(self.job)
        ol.clear_options()
        ol.add_options(Option(self._plain(line_text(ln))) for ln in self.lines)
        at = 0
        if keep is not None:
            at = next((i for i, ln in enumerate(self.lines) if ln.start <= keep <= ln.end), 0)
        ol.highlighted = at
        self.query_one("#map-head", Static).update(self._plain(self._head()))
        self._show_trace(None)

    def _plain(self, text: Text) -> Text:
        """Under NO_COLOR, emphasis instead of colour (the glyphs tell outcomes apart)."""
        return text_without_color(text) if self.app.no_color else text

    def _head(self) -> Text:
        job = self.job
        assert job is not None
        t = Text()
        t.append(f"policy map · {job.op} · {job.base.config.short()}", style="bold")
        if job.other is not None:
            changed = sum(ln.changed for ln in self.lines)
            t.append(display(f"  vs  {job.other_label} ({job.other.config.short()})"), style="bold")
            t.append(f" · {changed} range{'s' if changed != 1 else ''} change")
            t.append("  (left strip: before, right: after)", style="dim")
        else:
            t.append(f" · {len(self.lines)} ranges")
        t.append("\n")
        t.append_text(legend(self.lines))
        t.append(
            "\nr w m k: access · d: compare · n: next change · enter: trace · esc: close", "dim"
        )
        return t

    def _show_trace(self, line: MapLine | None) -> None:
        pane = self.query_one("#map-trace", Static)
        if line is None or self.job is None:
            self.trace = ""
            pane.update(Text("enter: the deciding trace of the range under the cursor", "dim"))
            return
        t = Text()
        sides = [("", self.job.base)]
        if self.job.other is not None:
            sides = [("before: ", self.job.base), ("after: ", self.job.other)]
        verdicts = [(prefix, access(m, self.job.op, line.start)) for prefix, m in sides]
        # a diff shows where the two traces part: the checks they share are counted, once
        same = 0
        if len(verdicts) == 2:
            a, b = verdicts[0][1].trace, verdicts[1][1].trace
            while same < min(len(a), len(b)) and a[same] == b[same]:
                same += 1
            if same:
                names = ", ".join(dict.fromkeys(tr.split("(")[0] for tr in a[:same]))
                t.append(display(f"alike before and after: {names}") + "\n", style="dim")
        for prefix, v in verdicts:
            glyph, style = outcome_style(v.outcome.value)
            t.append(f"{prefix}{glyph} ", style=style)
            t.append(display(v.message) + "\n", style="bold")
            for tr in v.trace[same:]:
                t.append(f"    {display(tr)}\n", style="dim")
        self.trace = t.plain
        pane.update(self._plain(t))

    # ------------------------------------------------------------------ events and keys
    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self._show_trace(self.lines[event.option_index])

    def action_close(self) -> None:
        self.dismiss(None)

    def action_op(self, op: str) -> None:
        if op != self.op:
            self.op = op
            self.rebuild()

    def action_diff(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            words = text.split()
            old = self.settings
            self.settings = words
            try:
                self.rebuild()
            except DevmemError as e:
                self.settings = old
                self.trace = display(f"✗ {e}")
                self.query_one("#map-trace", Static).update(Text(self.trace, "bold red"))

        now = " ".join(self.settings)
        self.app.push_screen(
            GotoScreen(
                "Compare with KEY=VALUE ... (e.g. kernel=5.15 iomem=relaxed; x: no diff)"
                + (f"; now: {now}" if now else ""),
                placeholder="io_strict_devmem=on",
            ),
            done,
        )

    def action_no_diff(self) -> None:
        if self.settings:
            self.settings = []
            self.rebuild()

    def action_next_change(self) -> None:
        ol = self.query_one(OptionList)
        start = (ol.highlighted or 0) + 1
        order = list(range(start, len(self.lines))) + list(range(start))
        for i in order:
            if self.lines[i].changed:
                ol.highlighted = i
                return
