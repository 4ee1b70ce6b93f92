"""virtio-mem commands: vmem (list/add/resize), blocks, raw device requests (plug, unplug,
unplug-all, state), memory-block onlining (online, offline), pin/unpin, wait.

Raw requests bypass the guest driver, as a debugging host (or a buggy guest tool) would: the
device answers exactly as QEMU does; the driver is not told. Its ``plugged_size`` is re-read at
the next config refresh (virtio_mem_refresh_config() WARNs, then adopts the device's value);
its sub-block bitmap is never corrected, so a later driver PLUG of a block the host plugged
behind its back gets ERROR and virtio_mem_run_wq() marks the device broken
(drivers/virtio/virtio_mem.c).
"""

from __future__ import annotations

from typing import Any

from devmem_tui.commands import vmem_tables
from devmem_tui.commands.numbers import parse_duration, parse_number, parse_range, parse_size
from devmem_tui.commands.registry import Result, expect_args, usage_error
from devmem_tui.commands.session import REGISTRY, Session, command
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import EventKind
from devmem_tui.engine.mm import hotplug
from devmem_tui.engine.mm.memory_blocks import OFFLINE
from devmem_tui.engine.virtio_mem import driver as vd


def _report_data(report: vd.VmemReport) -> dict[str, Any]:
    return {
        "device": report.device,
        "requests": [
            {
                "request": r.kind,
                "addr": r.addr,
                "nb_blocks": r.nb_blocks,
                "response": r.response,
                "rc": r.rc,
                **({"state": r.state} if r.state else {}),
            }
            for r in report.requests
        ],
        "added": list(report.added),
        "removed": list(report.removed),
        "pending": list(report.pending),
        "warnings": list(report.warnings),
        "plugged": report.plugged,
        "requested": report.requested,
    }


# ----------------------------------------------------------------------------- vmem
@command(
    "vmem",
    "vmem",
    "vmem add DEV ADDR SIZE [block=SIZE] [requested=SIZE] [unplugged-inaccessible=on|off] "
    "[persistent-suspend=on|off]",
    "vmem resize DEV SIZE",
    summary="list virtio-mem devices (info memory-devices), hot-add one, or set requested-size",
    forms=(
        "list virtio-mem devices (info memory-devices)",
        "hot-add a virtio-mem device",
        "set a device's requested-size: the driver plugs or unplugs to meet it",
    ),
    help=(
        "vmem: every device as QEMU 'info memory-devices' prints it (memaddr, node,\n"
        "requested-size, size = plugged, max-size, block-size, memdev), plus the usable\n"
        "region, the guest driver's mode (SBM/BBM) and state.\n"
        "vmem add vmem1 0x5c0000000 4G block=2M: a new device (on the default machine that\n"
        "address is free, above the PCI bus); its driver probes if the kernel config builds\n"
        "virtio-mem (else the region stays a hole). An address that overlaps something gets\n"
        "an error naming the nearest free aligned address.\n"
        "persistent-suspend=on: QEMU offers VIRTIO_MEM_F_PERSISTENT_SUSPEND (9.2+, a machine\n"
        "that can wake up), so suspend-to-RAM with memory plugged is allowed (6.10+ driver).\n"
        "vmem resize vmem0 1G: like QEMU 'qom-set vmem0 requested-size 1G'; the driver\n"
        "plugs or unplugs in the kernel's order and the result lists every request."
    ),
    group="vmem",
)
def cmd_vmem(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["vmem"]
    m = session.machine
    if not args:
        if not m.vmem:
            return Result(True, "DONE", "no virtio-mem devices", data={"devices": []}, rows=[])
        text = "\n".join(vmem_tables.info_text(vm) for vm in m.vmem.values())
        infos = [vm.info() for vm in m.vmem.values()]
        return Result(True, "DONE", text, data={"devices": infos}, rows=infos)
    sub = args[0]
    if sub == "add":
        if len(args) < 4:
            raise usage_error(spec, "vmem add: missing argument")
        name = args[1]
        addr = parse_number(args[2], "address")
        size = parse_size(args[3], "size")
        opts = _options(
            spec,
            args[4:],
            ("block", "requested", "unplugged-inaccessible", "persistent-suspend"),
        )
        block = (
            parse_size(opts["block"], "block size") if "block" in opts else vd.DEFAULT_BLOCK_SIZE
        )
        requested = parse_number(opts["requested"], "requested size") if "requested" in opts else 0
        inacc: bool | None = None
        if "unplugged-inaccessible" in opts:
            word = opts["unplugged-inaccessible"].lower()
            if word not in ("on", "off"):
                raise usage_error(spec, f"unplugged-inaccessible must be on or off, not {word!r}")
            inacc = word == "on"
        persistent = opts.get("persistent-suspend", "off").lower()
        if persistent not in ("on", "off"):
            raise usage_error(spec, f"persistent-suspend must be on or off, not {persistent!r}")
        try:
            vm = vd.add_device(
                m,
                name,
                addr,
                size,
                block,
                requested,
                unplugged_inaccessible=inacc,
                persistent_suspend=persistent == "on",
            )
        except DevmemError as e:
            raise DevmemError(str(e) + _free_hint(m, addr, size, block)) from None
        report = vm.last_probe
        lines = [
            f"{name}: virtio-mem-pci at {addr:#x}, {vd.fmt_size(size)}, block size "
            f"{vd.fmt_size(block)}"
        ]
        if vm.probed:
            lines.append(f"driver probed: {vm.res_name}, {vm.mode}")
        else:
            lines.append(f"no driver: {vm.probe_error}; the region is a hole")
        if report is not None and (report.requests or report.warnings):
            lines.append(report.text())
        return Result(
            True,
            "DONE",
            "\n".join(lines),
            trace=report.full_trace() if report else [],
            data=_report_data(report) if report else {},
        )
    if sub == "resize":
        expect_args(spec, args, 3)
        vm = vd.vmem_of(m, args[1])
        size = parse_number(args[2], "size")
        report = vm.resize(size)
        return Result(
            True, "DONE", report.text(), trace=report.full_trace(), data=_report_data(report)
        )
    raise usage_error(spec, f"vmem: unknown subcommand {sub!r}")


def free_address(m: Any, addr: int, size: int, align: int) -> int | None:
    """The ``align``-aligned address nearest ``addr`` where ``size`` bytes overlap no
    top-level resource and no virtio-mem device region (a device whose driver is not
    built has no resource), below the physical address limit; None when there is none."""
    taken = sorted(
        [(r.start, r.end) for r in m.tree.root.children]
        + [(vm.device.addr, vm.device.addr + vm.device.region_size - 1) for vm in m.vmem.values()]
    )
    limit = 1 << m.config.phys_bits
    best: int | None = None
    cursor = 0
    for start, end in [*taken, (limit, limit)]:
        lo = -(-cursor // align) * align
        hi = (start - size) // align * align
        if lo <= hi:
            here = min(max(addr // align * align, lo), hi)
            if best is None or abs(here - addr) < abs(best - addr):
                best = here
        cursor = max(cursor, end + 1)
    return best


def _free_hint(m: Any, addr: int, size: int, block: int) -> str:
    """For an overlap: where the device would fit (memory-block aligned, as the driver
    adds whole memory blocks)."""
    end = addr + size - 1
    overlaps = m.tree.overlapping(addr, end) or any(
        vm.device.addr <= end and addr < vm.device.addr + vm.device.region_size
        for vm in m.vmem.values()
    )
    if not overlaps:
        return ""
    align = max(block, m.memory_block_size)
    where = free_address(m, addr, size, align)
    if where is None:
        return f"; no free {vd.fmt_size(align)}-aligned range of {vd.fmt_size(size)} is left"
    return f"; the nearest free {vd.fmt_size(align)}-aligned address for it is {where:#x}"


def _options(spec: Any, words: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for w in words:
        key, eq, value = w.partition("=")
        key = key.lower()
        if not eq or key not in allowed or not value:
            raise usage_error(
                spec, f"unexpected argument {w!r} (options: {', '.join(a + '=' for a in allowed)})"
            )
        out[key] = value
    return out


# ----------------------------------------------------------------------------- blocks
@command(
    "blocks",
    "blocks [DEV] [--all]",
    summary="memory blocks of virtio-mem devices, lsmem-style, with sub-block strips",
    help=(
        "Columns: RANGE SIZE STATE BLOCK ZONES, the driver's block state (SBM UNUSED..\n"
        "MOVABLE_PARTIAL, BBM UNUSED/PLUGGED/ADDED) and plugged sub-blocks. Neighbouring\n"
        "blocks that match in every column are merged; --all lists one row per block and a\n"
        "sub-block strip for each (# plugged, . unplugged, ! pinned, ? device disagrees).\n"
        "Then each device's line (its blocks online and offline, sizes, MemTotal share),\n"
        "and, as lsmem prints them, the totals of the whole system's memory blocks (boot RAM\n"
        "included) with the virtio-mem share apart."
    ),
    group="vmem",
    mutates=False,
)
def cmd_blocks(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["blocks"]
    show_all = "--all" in args
    rest = [a for a in args if a != "--all"]
    if len(rest) > 1:
        raise usage_error(spec, f"blocks: unexpected argument {rest[1]!r}")
    for a in rest:
        if a.startswith("-"):
            raise usage_error(spec, f"blocks: unknown option {a!r}")
    m = session.machine
    devs = [vd.vmem_of(m, rest[0])] if rest else list(m.vmem.values())
    text = (
        "no virtio-mem devices"
        if not devs
        else "\n\n".join(
            (f"{vm.name}:\n" if len(devs) > 1 else "") + vmem_tables.blocks_table(vm, all=show_all)
            for vm in devs
        )
    )
    totals = vmem_tables.system_totals(m)
    text += "\n\n" + "\n".join(vmem_tables.totals_lines(totals))
    rows = [row for vm in devs for row in vmem_tables.blocks_data(vm, all=show_all)]
    return Result(
        True,
        "DONE",
        text,
        data={"devices": [vm.name for vm in devs], "totals": totals._asdict()},
        rows=rows,
    )


# ----------------------------------------------------------------------------- raw requests
def _raw(session: Session, name: str, args: list[str], kind: str) -> Result:
    spec = REGISTRY[name]
    if kind == "UNPLUG_ALL":
        expect_args(spec, args, 1)
        vm = vd.vmem_of(session.machine, args[0])
        ans = vm.raw_request("UNPLUG_ALL")
    else:
        expect_args(spec, args, 3)
        vm = vd.vmem_of(session.machine, args[0])
        addr = parse_number(args[1], "address")
        size = parse_number(args[2], "size")
        ans = vm.raw_request(kind, addr, size)
    msg = "\n".join([ans.message, *(f"warning: {w}" for w in ans.warnings)])
    return Result(
        True,
        ans.outcome,
        msg,
        trace=ans.trace,
        data={"device": vm.name, "request": kind, "outcome": ans.outcome},
    )


_RAW_HELP = (
    "A raw request on the device's queue, answered as QEMU answers it (ACK, NACK, BUSY,\n"
    "ERROR). SIZE must be a multiple of the device block size (else the device answers\n"
    "ERROR: no nb_blocks expresses it). It bypasses the guest driver: the driver keeps\n"
    "its own view until the next config refresh (vmem resize), where it WARNs and adopts\n"
    "the device's plugged_size; its sub-block bitmap is not corrected."
)


@command(
    "plug",
    "plug DEV ADDR SIZE",
    summary="raw PLUG request to a virtio-mem device",
    help=_RAW_HELP,
    group="vmem",
)
def cmd_plug(session: Session, args: list[str]) -> Result:
    return _raw(session, "plug", args, "PLUG")


@command(
    "unplug",
    "unplug DEV ADDR SIZE",
    summary="raw UNPLUG request to a virtio-mem device",
    help=_RAW_HELP,
    group="vmem",
)
def cmd_unplug(session: Session, args: list[str]) -> Result:
    return _raw(session, "unplug", args, "UNPLUG")


@command(
    "unplug-all",
    "unplug-all DEV",
    summary="raw UNPLUG_ALL request (ACK or BUSY)",
    help=_RAW_HELP,
    group="vmem",
)
def cmd_unplug_all(session: Session, args: list[str]) -> Result:
    return _raw(session, "unplug-all", args, "UNPLUG_ALL")


@command(
    "state",
    "state DEV ADDR SIZE",
    summary="STATE request: PLUGGED, UNPLUGGED or MIXED (ERROR outside the usable region)",
    group="vmem",
    mutates=False,
)
def cmd_state(session: Session, args: list[str]) -> Result:
    return _raw(session, "state", args, "STATE")


# ----------------------------------------------------------------------------- sysfs
def _sysfs_result(res: hotplug.SysfsResult) -> Result:
    data: dict[str, Any] = {"outcome": res.outcome}
    if res.reports:
        data.update(_report_data(res.reports[-1]))
    return Result(True, res.outcome, res.message, trace=res.trace, data=data)


_RANGE_HELP = (
    "A range of blocks is given as chmem(8) takes it: memory40-47 (its -b BLOCKRANGE), or\n"
    "an address range 0x140000000-0x17fffffff (or START+SIZE) whose start and end + 1 are\n"
    "aligned to the memory block size. As chmem does for a range, the blocks are written\n"
    "in ascending order, a block already in the state is skipped, and one that fails does\n"
    "not stop the rest; the first line says how much was done, the outcome is the first\n"
    "failure's (DONE when every block is in the state)."
)


@command(
    "online",
    "online memoryN|RANGE [kernel|movable]",
    summary="online a memory block (or a chmem-style range), as 'echo online > memoryN/state'",
    help=(
        "Without a zone the kernel picks it (contig-zones: the zone the block already\n"
        "touches, else the kernel zone); 'kernel' = online_kernel, 'movable' =\n"
        "online_movable. Fails with EINVAL when already online. The virtio-mem driver may\n"
        "add more memory afterwards (it waits for onlining past its offline threshold).\n"
        + _RANGE_HELP
    ),
    group="vmem",
)
def cmd_online(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["online"]
    expect_args(spec, args, 1, 2)
    lo, hi = _block_range(session, "online", args[0])
    how = args[1].lower() if len(args) > 1 else None
    if how not in (None, "kernel", "movable"):
        raise usage_error(spec, f"online: zone must be kernel or movable, not {args[1]!r}")
    if lo == hi:
        return _sysfs_result(hotplug.sysfs_online(session.machine, lo, how))
    return _sysfs_range(session, "online", args[0], lo, hi, how)


@command(
    "offline",
    "offline memoryN|RANGE",
    summary="offline a memory block (or a chmem-style range), as 'echo offline > memoryN/state'",
    help="Fails with EBUSY when unmovable pages are in its plugged memory (isolation fails),\n"
    "with EINTR when a long-term pinned page is (offline_pages() retries migrating it until\n"
    "a signal: the real write hangs until you interrupt it), EINVAL when already offline.\n"
    + _RANGE_HELP,
    group="vmem",
)
def cmd_offline(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["offline"], args, 1)
    lo, hi = _block_range(session, "offline", args[0])
    if lo == hi:
        return _sysfs_result(hotplug.sysfs_offline(session.machine, lo))
    return _sysfs_range(session, "offline", args[0], lo, hi, None)


def _block_range(session: Session, name: str, text: str) -> tuple[int, int]:
    """The memory blocks an argument names, first and last: memoryN (or N), memoryA-B
    (memoryA-memoryB too), or an address range whose start and end + 1 are aligned to the
    memory block size (chmem's RANGE and -b BLOCKRANGE)."""
    t = text.strip()
    body = t[len("memory") :] if t.lower().startswith("memory") else t
    if "-" in body and body.split("-", 1)[0].isdigit() and not body.startswith("0x"):
        a, b = body.split("-", 1)
        b = b.removeprefix("memory")
        if not b.isdigit() or int(b) < int(a):
            raise DevmemError(
                f"bad memory block range {text!r}: expected memoryA-B with A <= B, e.g. memory40-47"
            )
        return int(a), int(b)
    if body.isdigit() or t.lower().startswith("memory"):
        mb = hotplug.parse_memory_block(t)
        return mb, mb
    start, end = parse_range(t)
    mbs = session.machine.memory_block_size
    if start % mbs or (end + 1) % mbs:
        raise DevmemError(
            f"{name}: {start:#x}-{end:#x}: start and end + 1 must be aligned to the memory "
            f"block size ({vd.fmt_size(mbs)})"
        )
    return start // mbs, (end + 1) // mbs - 1


def _sysfs_range(
    session: Session, name: str, text: str, lo: int, hi: int, how: str | None
) -> Result:
    """online/offline of every memory block in [lo, hi], as chmem_range() (util-linux
    sys-utils/chmem.c) writes them: ascending, skipping blocks already in the state,
    going on after a failure."""
    m = session.machine
    mbs = m.memory_block_size
    exist = m.memory_blocks.existing(lo, hi)
    if not exist:
        hotplug.owning_group(m, lo)  # raises the one-line reason for the first block
        raise DevmemError(f"{name}: no memory block of memory{lo}-memory{hi} exists")
    want_online = name == "online"
    done, lines, trace = 0, [], []
    first_fail: hotplug.SysfsResult | None = None
    failed_at = -1
    last: hotplug.SysfsResult | None = None
    for mb in exist:
        zone = m.memory_blocks.zone_of(mb)
        if zone is None:  # the driver removed it while an earlier block was written
            lines.append(f"  memory{mb}: removed meanwhile")
            continue
        if (zone != OFFLINE) == want_online:
            done += 1
            lines.append(f"  memory{mb} already {name}" + (f" ({zone})" if want_online else ""))
            continue
        if want_online:
            res = hotplug.sysfs_online(m, mb, how)
        else:
            res = hotplug.sysfs_offline(m, mb)
        last = res
        trace.extend(res.trace)
        lines.extend("  " + ln for ln in res.message.splitlines())
        if res.outcome == "DONE":
            done += 1
        elif first_fail is None:
            first_fail, failed_at = res, mb
    total = hi - lo + 1
    span = f"memory{lo}-memory{hi} ({vd.fmt_size(total * mbs)})"
    if done == total:
        head = f"{name} {span}: all {total} memory blocks {name}"
    else:
        head = f"{name} {span}: could only {name} {vd.fmt_size(done * mbs)} of memory"
        missing = total - len(exist)
        if first_fail is not None:
            head += f"; memory{failed_at} failed with {first_fail.outcome}"
        if missing:
            head += f"; {missing} of the {total} blocks do not exist"
    outcome = first_fail.outcome if first_fail is not None else "DONE"
    data: dict[str, Any] = {"outcome": outcome, "done": done, "blocks": total}
    if last is not None and last.reports:
        data.update(_report_data(last.reports[-1]))
    return Result(True, outcome, "\n".join([head, *lines]), trace=trace, data=data)


# ----------------------------------------------------------------------------- pins
def _pin_range(args: list[str]) -> tuple[int, int]:
    addr = parse_number(args[0], "address")
    size = parse_size(args[1], "size") if len(args) > 1 else 4096
    end = addr + size - 1
    if end >= 1 << 64:
        raise DevmemError(f"range {addr:#x}+{size:#x} ends past 2^64 - 1")
    return addr, end


@command(
    "pin",
    "pin ADDR [SIZE] [unmovable|longterm]",
    summary="pin pages: unmovable (slab, page tables: offline fails with EBUSY) or a "
    "long-term pin (offline retries until a signal: EINTR)",
    help="Only pages in the page allocator can be pinned: System RAM that is online and, in a\n"
    "virtio-mem device, plugged. SIZE defaults to 4096; 'unpin' releases.\n"
    "unmovable (the default): offline_pages() fails isolation -> EBUSY, and the virtio-mem\n"
    "driver cannot fake-offline the sub-block. longterm = pin_user_pages(FOLL_LONGTERM)\n"
    "(RDMA, VFIO, io_uring buffers): the page is movable but never migrates, so offlining\n"
    "retries until interrupted -> EINTR. From 5.13 a long-term pin never sits in\n"
    "ZONE_MOVABLE: the page is migrated out first and nothing there stays pinned.",
    group="vmem",
)
def cmd_pin(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["pin"]
    expect_args(spec, args, 1, 3)
    kind = hotplug.UNMOVABLE
    if args[-1].lower() in hotplug.PIN_KINDS:
        kind = args[-1].lower()
        args = args[:-1]
    if len(args) > 2:
        raise usage_error(spec, f"pin: {args[2]!r} is not unmovable or longterm")
    if not args:
        raise usage_error(spec, "pin: missing argument")
    start, end = _pin_range(args)
    problem = hotplug.pin_problem(session.machine, start, end)
    if problem:
        raise DevmemError(f"cannot pin {start:#x}-{end:#x}: {problem}")
    res = hotplug.pin_pages(session.machine, start, end, kind)
    session.machine.emit(EventKind.BLOCKS, "pin", start=start, end=end)
    lines = []
    if res.pinned:
        where = ", ".join(f"{a:#x}-{b:#x}" for a, b in res.pinned)
        lines.append(f"pinned {where} ({'long-term pin' if kind == hotplug.LONGTERM else kind})")
    for a, b, mb in res.migrated:
        lines.append(
            f"{a:#x}-{b:#x} is in ZONE_MOVABLE (memory{mb}): FOLL_LONGTERM migrated those "
            "pages to a kernel zone before pinning them, so nothing there is pinned and "
            f"memory{mb} stays offlinable"
        )
    return Result(
        True,
        "DONE",
        "\n".join(lines),
        trace=res.trace,
        data={
            "range": [start & ~0xFFF, end | 0xFFF],
            "kind": kind,
            "pinned": [[a, b] for a, b in res.pinned],
            "migrated": [[a, b] for a, b, _mb in res.migrated],
            "pins": hotplug.pin_count(session.machine),
        },
    )


@command(
    "unpin", "unpin ADDR [SIZE]", summary="release pins made with 'pin' (any kind)", group="vmem"
)
def cmd_unpin(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["unpin"], args, 1, 2)
    start, end = _pin_range(args)
    freed = hotplug.remove_pin(session.machine, start, end)
    if not freed:
        raise DevmemError(f"nothing is pinned in {start:#x}-{end:#x}")
    session.machine.emit(EventKind.BLOCKS, "unpin", start=start, end=end)
    return Result(
        True,
        "DONE",
        f"unpinned {vd.fmt_size(freed)} in {start & ~0xFFF:#x}-{end | 0xFFF:#x}",
        data={
            "range": [start & ~0xFFF, end | 0xFFF],
            "freed": freed,
            "pins": hotplug.pin_count(session.machine),
        },
    )


# ----------------------------------------------------------------------------- wait
@command(
    "wait",
    "wait DURATION",
    summary="advance the simulated clock (50s, 5m); the driver's retry timer fires on it",
    help="The virtio-mem retry timer starts at 50 s and doubles up to 300 s while the\n"
    "driver keeps failing (-EBUSY, -ETXTBSY); a successful run resets it to 50 s.",
    group="vmem",
)
def cmd_wait(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["wait"], args, 1)
    seconds = parse_duration(args[0])
    m = session.machine
    start = m.clock
    reports = vd.advance(m, seconds)
    lines = [f"clock {start:g}s -> {m.clock:g}s"]
    trace: list[str] = []
    if not reports:
        lines.append("no timer fired")
    for r in reports:
        lines.append(r.text())
        trace.extend(r.full_trace())
    data: dict[str, Any] = {"clock": m.clock, "runs": [_report_data(r) for r in reports]}
    return Result(True, "DONE", "\n".join(lines), trace=trace, data=data)
