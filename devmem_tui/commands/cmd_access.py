"""read, write, mmap, touch, munmap, maps, kcore, claim, release, compare: accesses through
/dev/mem and /proc/kcore, live mappings, driver claims, and one access across kernel eras."""

from __future__ import annotations

from typing import Any

from devmem_tui.commands import render
from devmem_tui.commands.numbers import parse_number, parse_range
from devmem_tui.commands.registry import Result, UsageError, expect_args, usage_error
from devmem_tui.commands.session import REGISTRY, Session, command, lookup
from devmem_tui.engine.config import ERAS, PROPOSALS, KernelConfig
from devmem_tui.engine.devmem import kcore, mappings, mmap, rw
from devmem_tui.engine.devmem.verdict import Verdict
from devmem_tui.engine.iomem.text import check_name

ACCESS_HELP = (
    "The outcome word is OK (real data moved), ZEROS (every byte zero-filled by the kernel),\n"
    "DROPPED (a write whose every byte the kernel discarded), SHORT (a short write count),\n"
    "or the errno the call returns (EPERM, EFAULT, EINVAL, EAGAIN, ENXIO, ...). The trace\n"
    "names each kernel check in the order it ran. Under lockdown (set lockdown integrity,\n"
    "what Secure Boot usually turns on) open() of /dev/mem itself fails with EPERM."
)


def verdict_result(v: Verdict) -> Result:
    """A Verdict as the command layer shows it: the one-line message plus detail lines."""
    message = v.message
    if v.notes:
        message += "\n" + "\n".join(f"  {n}" for n in v.notes)
    data = {
        "outcome": v.outcome.value,
        "nbytes": v.nbytes,
        "zero_pages": [list(r) for r in v.zero_pages],
        "data_pages": [list(r) for r in v.data_pages],
        "mapping": v.mapping,
        "counterfactual": v.counterfactual,
        "decider": v.decider,
    }
    return Result(True, v.outcome.value, message, list(v.trace), data)


def _addr_len(name: str, args: list[str]) -> tuple[int, int]:
    expect_args(REGISTRY[name], args, 1, 2)
    addr = parse_number(args[0], "address")
    length = parse_number(args[1], "length") if len(args) > 1 else 4096
    return addr, length


@command(
    "read",
    "read ADDR [LEN]",
    summary="read() /dev/mem at a physical address (LEN defaults to 4096)",
    help="read_mem(): valid_phys_addr_range() first (EFAULT), then devmem_is_allowed() page\n"
    "by page when STRICT_DEVMEM is on: 0 fails the whole call (EPERM), 2 zero-fills.\n"
    + ACCESS_HELP
    + "\nExample: read 0x1000    read 0x0 1M",
    group="access",
    mutates=False,
)
def cmd_read(session: Session, args: list[str]) -> Result:
    addr, length = _addr_len("read", args)
    return verdict_result(rw.read_mem(session.machine, addr, length))


@command(
    "write",
    "write ADDR [LEN]",
    summary="write() /dev/mem at a physical address (LEN defaults to 4096)",
    help="write_mem(): like read, but value 2 drops the bytes silently (DROPPED), and a\n"
    "mapping failure after progress returns a short count (SHORT). Earlier pages stay\n"
    "written when a later page fails with EPERM.\n" + ACCESS_HELP,
    group="access",
    mutates=False,
)
def cmd_write(session: Session, args: list[str]) -> Result:
    addr, length = _addr_len("write", args)
    return verdict_result(rw.write_mem(session.machine, addr, length))


@command(
    "kcore",
    "kcore ADDR [LEN]",
    summary="read the same physical range through /proc/kcore (no devmem rules)",
    help="read_kcore(): busy System RAM in whole pages is read; everything else, and from\n"
    "5.14 offline, PageOffline and hwpoisoned pages, is zero-filled. open() fails with\n"
    "EPERM under lockdown=confidentiality (LOCKDOWN_KCORE), not under integrity.",
    group="access",
    mutates=False,
)
def cmd_kcore(session: Session, args: list[str]) -> Result:
    addr, length = _addr_len("kcore", args)
    return verdict_result(kcore.read_kcore(session.machine, addr, length))


@command(
    "mmap",
    "mmap ADDR LEN [private] [sync]",
    summary="mmap() /dev/mem; on success the mapping is named m1, m2, ...",
    help="mmap_mem(): valid_mmap_phys_addr_range() (EINVAL), range_is_allowed() over every\n"
    "page (EPERM; value 2 counts as allowed), the x86 PAT hook (EINVAL), remap_pfn_range()\n"
    "(EAGAIN on a PAT memtype conflict). 'private' maps MAP_PRIVATE; 'sync' opens /dev/mem\n"
    "with O_SYNC (uncached, PAT UC-). The message names the memory type the mapping got:\n"
    "x86 WB, or UC- where the firmware's MTRRs mark the range uncached (pat_x_mtrr_type);\n"
    "arm64 Device-nGnRnE for anything that is not memory.\nExample: mmap 0xfebd0000 4096",
    group="access",
)
def cmd_mmap(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["mmap"]
    expect_args(spec, args, 2, 4)
    addr = parse_number(args[0], "address")
    length = parse_number(args[1], "length")
    words = [w.lower() for w in args[2:]]
    for w in words:
        if w not in ("private", "sync"):
            raise usage_error(spec, f"mmap: unknown option {w!r} (private or sync)")
    if len(set(words)) != len(words):
        raise usage_error(spec, "mmap: an option is given twice")
    v = mmap.mmap_mem(session.machine, addr, length, "private" in words, sync="sync" in words)
    return verdict_result(v)


@command(
    "touch",
    "touch MAP [OFFSET]",
    summary="access a live mapping at OFFSET (default 0): the page, or SIGBUS if revoked",
    group="access",
    mutates=False,
)
def cmd_touch(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["touch"], args, 1, 2)
    offset = parse_number(args[1], "offset") if len(args) > 1 else 0
    return verdict_result(mappings.touch(session.machine, args[0], offset))


@command(
    "munmap",
    "munmap MAP",
    summary="drop a live mapping",
    group="access",
)
def cmd_munmap(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["munmap"], args, 1)
    m = mappings.munmap(session.machine, args[0])
    return Result(True, "DONE", f"unmapped {m.id} ({m.start:#x}-{m.end:#x})")


@command(
    "maps",
    "maps",
    summary="list live /dev/mem mappings and their revoked pages",
    group="access",
    mutates=False,
)
def cmd_maps(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["maps"], args, 0)
    m = session.machine
    rows = [
        {
            "id": mp.id,
            "start": mp.start,
            "end": mp.end,
            "length": mp.length,
            "private": mp.private,
            "sync": mp.sync,
            "memtype": mp.cache_type,
            "zapped": [list(z) for z in mp.zapped],
        }
        for mp in m.mappings.values()
    ]
    return Result(True, "DONE", render.maps_text(m), data={"mappings": rows}, rows=rows)


@command(
    "claim",
    "claim RANGE NAME [exclusive]",
    summary="a driver requests a memory region (request_mem_region[_exclusive]); may revoke",
    help="__request_region() on iomem_resource: the region becomes busy (and EXCLUSIVE with\n"
    "'exclusive'), nested under the non-busy resource containing it; a busy or partial\n"
    "conflict fails with -EBUSY. Then revoke_iomem() zaps live /dev/mem mappings of it\n"
    "(5.8+, CONFIG_IO_STRICT_DEVMEM only).\nExample: claim 0xfebd0000+4K mydrv",
    group="access",
)
def cmd_claim(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["claim"]
    expect_args(spec, args, 2, 3)
    start, end = parse_range(args[0])
    name = check_name(args[1], "claim: name")  # one resource per /proc/iomem line
    if len(args) == 3 and args[2].lower() != "exclusive":
        raise usage_error(spec, f"claim: unknown option {args[2]!r} (exclusive)")
    exclusive = len(args) == 3
    res, trace = mappings.claim(session.machine, start, end, name, exclusive)
    zapped = [line for line in trace if "unmap_mapping_range" in line]
    msg = f"claimed {res.label()} ({'busy, exclusive' if exclusive else 'busy'})"
    if zapped:
        msg += "\n  " + zapped[-1]
    return Result(True, "DONE", msg, trace)


@command(
    "release",
    "release NAME",
    summary="a driver releases its region (__release_region); mappings are not restored",
    group="access",
)
def cmd_release(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["release"], args, 1)
    res, trace = mappings.release(session.machine, args[0])
    return Result(True, "DONE", f"released {res.label()}", trace)


# ------------------------------------------------------------------------------ compare
COMPARABLE = ("read", "write", "mmap", "kcore")


def run_under(session: Session, config: KernelConfig, line: str) -> Result:
    """Run one access command on the session's machine under ``config`` and undo everything
    it changed (its mapping, the events, the config swap) through the machine's journal: the
    cost of a copy-on-write overlay, what the access changes, not a copy of every mapping."""
    m = session.machine
    txn = m.begin()
    try:
        m.config = config
        r = Session(m).execute(line)
    finally:
        m.rollback(txn)
    assert r is not None
    return r


@command(
    "compare",
    "compare COMMAND",
    summary="run one read/write/mmap/kcore under every kernel era and proposal, as a table",
    help="The same machine, map and config, with only the kernel version changed (eras "
    + ", ".join(ERAS)
    + ",\neach its line's first release X.Y.0), then the session's kernel under each "
    "proposal (counterfactual).\nA trailing kernel=V1,V2,... compares exactly those versions "
    "instead (sub-levels\nmatter where a fix was backported to stable). The session is not "
    "changed.\nExamples: compare read 0x1000    compare write 0x490000000 "
    "kernel=6.1.100,6.1.150",
    group="access",
    mutates=False,
)
def cmd_compare(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["compare"]
    versions: list[str] | None = None
    if args and args[-1].lower().startswith("kernel="):
        listed = [v for v in args[-1].split("=", 1)[1].split(",") if v]
        if not listed:
            raise usage_error(spec, "compare: kernel= needs versions, e.g. kernel=6.1.100,6.1.150")
        versions = []
        for v in listed:
            probe = KernelConfig()
            probe.set("kernel", v)  # a bad version is a one-line error before anything runs
            versions.append(v)
        args = args[:-1]
    if not args:
        raise usage_error(spec, "compare: missing command")
    sub = lookup(args[0]).name
    if sub not in COMPARABLE:
        raise usage_error(spec, f"compare: {sub!r} is not one of {', '.join(COMPARABLE)}")
    line = " ".join(args)
    base = session.config
    if versions is None:
        variants = [(era, "none") for era in ERAS] + [(base.kernel, p) for p in PROPOSALS]
    else:
        variants = [(v, "none") for v in versions]
    rows: list[dict[str, Any]] = []
    unbuildable: list[str] = []
    probed = any(getattr(d, "probed", False) for d in session.machine.vmem.values())
    for kernel, proposal in variants:
        cfg = base.copy()
        cfg.set("kernel", kernel)
        cfg.set("proposal", proposal)
        r = run_under(session, cfg, line)
        if not r.ok:
            raise UsageError(r.message.removeprefix("error: "))
        label = kernel if proposal == "none" else f"{kernel} {proposal} (counterfactual)"
        if probed and not cfg.virtio_mem_buildable and proposal == "none":
            unbuildable.append(kernel)
        rows.append(
            {
                "kernel": kernel,
                "version": cfg.kernel,
                "label": label,
                "proposal": proposal,
                "outcome": r.outcome,
                "nbytes": r.data.get("nbytes", 0),
                "decider": r.data.get("decider", ""),
            }
        )
    text = render.compare_text(line, base, rows, unbuildable, eras=versions is None)
    return Result(True, "DONE", text, data={"rows": rows}, rows=rows)
