"""What the virtio-mem driver tells its callers: the report of one operation (requests with
the device's answers, memory blocks added and removed, trace, why it stopped), the answer to a
raw device request, and the per-block data the ``blocks`` tables are drawn from.

Plain data with no reference to the driver, so the driver, the commands and the tables can all
use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from devmem_tui.engine.units import fmt_size

TRACE_LIMIT = 400  # trace lines kept per report; the rest are counted


@dataclass(slots=True)
class RequestRecord:
    """One request the driver (or a raw command) sent, with the device's answer."""

    kind: str  # PLUG, UNPLUG, UNPLUG_ALL, STATE
    addr: int
    nb_blocks: int
    response: str  # ACK, NACK, BUSY, ERROR
    rc: int  # what the driver turned it into
    state: str = ""  # STATE answers: PLUGGED / UNPLUGGED / MIXED

    def call(self) -> str:
        if self.kind == "UNPLUG_ALL":
            return "UNPLUG_ALL"
        return f"{self.kind}({self.addr:#x}, {self.nb_blocks})"

    def text(self) -> str:
        ans = self.response + (f" {self.state}" if self.state else "")
        return f"{self.call()} -> {ans}"


@dataclass
class VmemReport:
    """What one operation made the driver do: requests with answers, memory blocks added and
    removed, warnings, and why the driver stopped short of the requested size if it did."""

    device: str
    action: str
    requests: list[RequestRecord] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    trace_omitted: int = 0
    warnings: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    runs: int = 0
    requested: int = 0
    plugged: int = 0
    driver_plugged: int = 0
    rc: int = 0  # what a callback the PM core or a caller checks returned (suspend: freeze)

    # -- building
    def want(self) -> bool:
        """True while trace lines are still kept (callers skip formatting otherwise)."""
        if len(self.trace) < TRACE_LIMIT:
            return True
        self.trace_omitted += 1
        return False

    def t(self, line: str) -> None:
        if self.want():
            self.trace.append(line)

    @property
    def settled(self) -> bool:
        return not self.pending

    def full_trace(self) -> list[str]:
        if self.trace_omitted:
            return [*self.trace, f"... {self.trace_omitted} more trace lines omitted"]
        return list(self.trace)

    # -- rendering
    def request_lines(self) -> list[str]:
        """Requests, runs of the same kind/size/answer at a constant stride folded into one
        line (a 1 TiB resize is 8192 PLUGs)."""
        out: list[str] = []
        reqs = self.requests
        i = 0
        while i < len(reqs):
            r = reqs[i]
            j = i + 1
            stride = None
            while j < len(reqs):
                q = reqs[j]
                if (q.kind, q.nb_blocks, q.response, q.state) != (
                    r.kind,
                    r.nb_blocks,
                    r.response,
                    r.state,
                ):
                    break
                step = q.addr - reqs[j - 1].addr
                if step == 0 or (stride is not None and step != stride):
                    break
                stride = step
                j += 1
            n = j - i
            if n >= 3:
                out.append(
                    f"{r.call()} .. {reqs[j - 1].call()}: {n} requests, each -> "
                    f"{r.response}{' ' + r.state if r.state else ''}"
                )
            else:
                out.extend(q.text() for q in reqs[i:j])
            i = j
        return out

    def text(self) -> str:
        lines = [self.action]
        lines.extend(f"warning: {w}" for w in self.warnings)
        if self.requests:
            lines.append(f"requests ({len(self.requests)}):")
            lines.extend(f"  {x}" for x in self.request_lines())
        else:
            lines.append("requests: none")
        if self.added:
            lines.append(f"added: {block_list(self.added)}")
        if self.removed:
            lines.append(f"removed: {block_list(self.removed)}")
        lines.append(
            f"plugged {fmt_size(self.plugged)} of requested {fmt_size(self.requested)}"
            + (
                ""
                if self.plugged == self.driver_plugged
                else f" (the driver believes {fmt_size(self.driver_plugged)})"
            )
        )
        if self.pending:
            lines.extend(f"pending: {p}" for p in self.pending)
        else:
            lines.append("settled")
        return "\n".join(lines)


def block_list(ids: list[int]) -> str:
    """[40, 41, 42, 47] -> 'memory40-memory42, memory47 (4 blocks)'."""
    parts: list[str] = []
    ordered = sorted(set(ids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        a, b = ordered[i], ordered[j]
        parts.append(f"memory{a}" if a == b else f"memory{a}-memory{b}")
        i = j + 1
    n = len(ordered)
    return f"{', '.join(parts)} ({n} block{'s' if n != 1 else ''})"


def sb_list(sbs: list[int]) -> str:
    """[63, 62, 61, 10] -> '63-61, 10' (descending runs)."""
    parts: list[str] = []
    i = 0
    while i < len(sbs):
        j = i
        while j + 1 < len(sbs) and sbs[j + 1] == sbs[j] - 1:
            j += 1
        parts.append(str(sbs[i]) if i == j else f"{sbs[i]}-{sbs[j]}")
        i = j + 1
    return ", ".join(parts)


@dataclass
class RawAnswer:
    """The answer to a raw device request (``plug``/``unplug``/``unplug-all``/``state``)."""

    outcome: str  # ACK NACK BUSY ERROR / PLUGGED UNPLUGGED MIXED
    message: str
    trace: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- table data
class SubBlock(IntEnum):
    """One sub-block as the ``blocks`` strip shows it (BBM: the whole memory block)."""

    PLUGGED = 0
    UNPLUGGED = 1  # PG_offline inside an added block, or not plugged at all
    PINNED = 2  # plugged, with pinned (unmovable) pages
    MISMATCH = 3  # the device disagrees with the driver (raw requests)


@dataclass(slots=True)
class BlockRow:
    """One memory block of a device as lsmem and the driver see it."""

    state: str  # online / offline / not added / unusable
    zones: str  # the zone when online, valid_zones when offline, '-' when not added
    driver: str  # the driver's state of the block (SBM) or of its big block (BBM)
    plugged: str  # plugged sub-blocks 'n/64', 'all' (BBM), '-'
    strip: bool  # it has a sub-block strip to show with --all (added or partly plugged)
    partial: bool  # partly plugged: its strip shows even without --all

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The columns neighbouring blocks must share to be merged into one row."""
        return self.state, self.zones, self.driver, self.plugged


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """Totals of one device's memory blocks, for the lines under the ``blocks`` table."""

    block_size: int  # the memory block size
    online: int  # bytes in online memory blocks
    offline: int  # bytes in offline memory blocks
    mem_total: int  # what the device adds to MemTotal (plugged parts of online blocks)
    mode: str  # 'SBM, sub-block 2M (64 per memory block)', 'kdump mode', 'no driver: ...'
