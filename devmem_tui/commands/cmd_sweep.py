"""sweep: what a one-page read, write, mmap or kcore gets across the whole address space, range
by range, and what another configuration (or a saved session) would change."""

from __future__ import annotations

from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session, command
from devmem_tui.commands.sweeps import diff_text, parse_job, sweep_text


@command(
    "sweep",
    "sweep read|write|mmap|kcore [RANGE]",
    "sweep read|write|mmap|kcore [RANGE] --vs KEY=VALUE...",
    "sweep read|write|mmap|kcore [RANGE] --vs-saved FILE",
    summary="the address space cut into ranges where a one-page access ends alike; --vs: what "
    "changes",
    forms=(
        "the address space cut into ranges where a one-page access ends alike",
        "the ranges whose outcome changes under the config with these keys changed",
        "the ranges whose outcome changes against a saved session or a snapshot",
    ),
    help="Every range where a 4 KiB access of any page gets the same outcome for the same\n"
    "reason: RANGE, SIZE, OUTCOME and the deciding check (kernel function, what it said,\n"
    "the resource it named; <page> stands for the page's own address or pfn). The row\n"
    "holding an address says what 'read ADDR' (mmap, kcore, write) says there. RANGE\n"
    "defaults to the physical address space (2^phys_bits on x86, 2^48 on arm64).\n"
    "Computed from the addresses where a rule's input changes (resource edges, the first\n"
    "MiB, high_memory, memory blocks...), not page by page.\n"
    "--vs KEY=VALUE...  the same machine under the config with these keys changed: only the\n"
    "                   ranges whose outcome changes, old -> new, with both deciding checks\n"
    "--vs-saved FILE    against a session saved with 'save', or a machine snapshot\n"
    "                   ('devmem-tui snapshot')\n"
    "Nothing is changed (mmap is decided, not mapped).\n"
    "Examples: sweep read    sweep mmap 0xfe000000-0xfeffffff\n"
    "          sweep read --vs io_strict_devmem=on    sweep mmap --vs kernel=5.15",
    group="access",
    mutates=False,
)
def cmd_sweep(session: Session, args: list[str]) -> Result:
    job = parse_job(session.machine, args, "sweep", open_path=session.user_path)
    data = {"op": job.op, "range": [job.lo, job.hi], "config": job.base.config.short()}
    if job.other is None:
        rows = job.rows
        return Result(True, "DONE", sweep_text(job), data=data, rows=[r.to_dict() for r in rows])
    data["vs"] = job.other_label
    data["vs_config"] = job.other.config.short()
    return Result(True, "DONE", diff_text(job), data=data, rows=[r.to_dict() for r in job.diff])
