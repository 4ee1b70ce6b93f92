"""kexec, kdump, vmcore, suspend: booting a new kernel without a system reset, crashing into a
kdump kernel and reading /proc/vmcore there, and suspend/hibernation - what the virtio-mem
driver does through each (engine/lifecycle.py)."""

from __future__ import annotations

from devmem_tui.commands.cmd_access import verdict_result
from devmem_tui.commands.numbers import parse_number
from devmem_tui.commands.registry import Result, expect_args, usage_error
from devmem_tui.commands.session import REGISTRY, Session, command
from devmem_tui.engine import lifecycle


def _boot_result(session: Session, rep: lifecycle.BootReport) -> Result:
    lines = list(rep.lines)
    for report in rep.reports:
        lines.extend(f"  {w}" for w in report.warnings)
    data = {"kernel": session.config.kernel, "dump": session.machine.dump is not None}
    return Result(True, "DONE", "\n".join(lines), trace=rep.trace, data=data)


def _kernel_arg(args: list[str]) -> str | None:
    return " ".join(args) if args else None


@command(
    "kexec",
    "kexec [KERNEL]",
    summary="boot a new kernel without a system reset: virtio-mem memory stays plugged, the "
    "new driver sends UNPLUG_ALL, then plugs again",
    help="kexec -e into KERNEL (a version as 'set kernel' takes it; default: the same one).\n"
    "Live mappings, pins and hwpoison marks of the old kernel are gone. Memory added with\n"
    "add_memory_driver_managed() is not in the firmware memory map, so the new kernel boots\n"
    "with the boot RAM only (high_memory back at its end); each virtio-mem driver finds\n"
    "memory plugged (plugged_size != 0), sends UNPLUG_ALL, and plugs up to the requested\n"
    "size again (virtio_mem_probe: unplug_all_required). Ends a kdump kernel, too.",
    group="vmem",
)
def cmd_kexec(session: Session, args: list[str]) -> Result:
    return _boot_result(session, lifecycle.kexec(session.machine, _kernel_arg(args)))


@command(
    "kdump",
    "kdump [KERNEL]",
    summary="the kernel crashes and kdump boots a crash kernel; 'vmcore' then reads the dump",
    help="The running kernel panics; the crash kernel (KERNEL, default the same version)\n"
    "boots. Its virtio-mem driver probes in kdump mode (5.16+, ce2814622e84): no memory is\n"
    "added, and /proc/vmcore's pfn_is_ram() callback asks the device with STATE requests,\n"
    "so unplugged memory reads as zeros. Before 5.16 the driver refuses to probe in a kdump\n"
    "kernel (-EBUSY) and /proc/vmcore reads unplugged memory raw; makedumpfile skips\n"
    "PG_offline pages either way.",
    group="vmem",
)
def cmd_kdump(session: Session, args: list[str]) -> Result:
    return _boot_result(session, lifecycle.kdump(session.machine, _kernel_arg(args)))


@command(
    "vmcore",
    "vmcore ADDR [LEN]",
    summary="in a kdump kernel: read the crashed kernel's memory from /proc/vmcore",
    help="read_vmcore() of the PT_LOAD holding ADDR (LEN defaults to 4096): the crashed\n"
    "kernel's System RAM is copied; outside it nothing is in the dump (zeros here); in a\n"
    "virtio-mem device the kdump-mode driver's pfn_is_ram() answers from STATE requests:\n"
    "plugged memory is copied, unplugged memory zero-filled by read_from_oldmem(). The\n"
    "message notes the PG_offline pages makedumpfile would leave out.",
    group="access",
    mutates=False,
)
def cmd_vmcore(session: Session, args: list[str]) -> Result:
    expect_args(REGISTRY["vmcore"], args, 1, 2)
    addr = parse_number(args[0], "address")
    length = parse_number(args[1], "length") if len(args) > 1 else 4096
    return verdict_result(lifecycle.read_vmcore(session.machine, addr, length))


@command(
    "suspend",
    "suspend [mem|freeze|disk]",
    summary="suspend (mem: to RAM, the default; freeze: to idle) or hibernate (disk) and "
    "resume: what the virtio-mem driver allows",
    help="echo STATE > /sys/power/state. virtio_mem_freeze() refuses suspend-to-RAM with\n"
    "memory plugged unless the device negotiated VIRTIO_MEM_F_PERSISTENT_SUSPEND (6.10+\n"
    "driver; QEMU offers it from 9.2 when the machine can wake up: 'vmem add ...\n"
    "persistent-suspend=on'); suspend-to-idle is always allowed; before 6.10 every freeze\n"
    "fails. Hibernation is always refused by a bound virtio-mem driver (and by lockdown).\n"
    "A refused suspend is EPERM; nothing changes.",
    group="vmem",
)
def cmd_suspend(session: Session, args: list[str]) -> Result:
    spec = REGISTRY["suspend"]
    expect_args(spec, args, 0, 1)
    state = args[0].lower() if args else "mem"
    if state not in lifecycle.SUSPEND_STATES:
        raise usage_error(spec, f"suspend: {args[0]!r} is not mem, freeze or disk")
    rep = lifecycle.suspend(session.machine, state)
    return Result(
        True,
        "DONE" if rep.ok else "EPERM",
        rep.message,
        trace=rep.trace,
        data={"state": state, "ok": rep.ok},
    )
