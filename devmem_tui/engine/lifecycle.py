"""The machine-wide events a memory device's driver has to survive: kexec into a new kernel, a
crash into a kdump kernel and reading ``/proc/vmcore`` there, and suspend/hibernation.

kexec boots a new kernel without a system reset, so QEMU's virtio-mem devices keep their
plugged blocks. The old kernel's state is gone: live /dev/mem mappings, pins, hwpoison marks,
its memory blocks. Memory added with ``add_memory_driver_managed()`` (7b7b27214bba, 5.8) is not
in /sys/firmware/memmap, so kexec-tools hand the new kernel the boot RAM only, and
``high_memory`` starts from there again; the new virtio-mem driver finds memory plugged
(plugged_size != 0) and sends UNPLUG_ALL before it plugs up to the requested size again.

kdump: the crashed kernel's RAM is what ``/proc/vmcore`` serves, through the ELF header
(``elfcorehdr``) that describes its System RAM (``DumpImage``, captured at the crash; the model
takes it as up to date with memory hot(un)plug, as a udev reload of the kdump service or the
kernel's crash hotplug support keeps it). In the kdump kernel the virtio-mem driver only
probes in kdump mode (5.16+, ce2814622e84) and answers ``vmcore_cb->pfn_is_ram()`` with STATE
requests, so ``read_from_oldmem()`` zero-fills unplugged device memory; before 5.16 the driver
refuses to probe and the crashed kernel's unplugged memory is read raw. makedumpfile skips the
pages the crashed kernel had marked PG_offline either way (vmcoreinfo's
PAGE_OFFLINE_MAPCOUNT_VALUE). (The ``get_device_ram()`` callback that adds device RAM to the
header is only for architectures whose header the kdump kernel builds - s390 - not x86/arm64.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devmem_tui.engine.devmem.kcore import read_pages
from devmem_tui.engine.devmem.rw import UNPLUGGED
from devmem_tui.engine.devmem.verdict import Outcome, Verdict, check_end, fmt_ranges, op_text
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import DumpImage, EventKind, PfnSet
from devmem_tui.engine.iomem.tree import F
from devmem_tui.engine.mm import hotplug
from devmem_tui.engine.mm.memory_blocks import OFFLINE
from devmem_tui.engine.units import EPERM, PAGE_SHIFT, PAGE_SIZE, merge_ranges
from devmem_tui.engine.virtio_mem.driver import VirtioMem, devices, driver_supports_suspend
from devmem_tui.engine.virtio_mem.report import VmemReport

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike

_SYSTEM_RAM_BUSY = int(F.MEM | F.SYSRAM | F.BUSY)


@dataclass
class BootReport:
    """What a kexec or kdump did: what the old kernel lost, each device driver's probe report,
    and the trace."""

    lines: list[str] = field(default_factory=list)
    reports: list[VmemReport] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- kexec / kdump
def _capture_dump(machine: MachineLike) -> DumpImage:
    """The crashed kernel's memory as its elfcorehdr describes it: every busy System RAM
    resource at any depth (whole pages), and the PG_offline parts of online virtio-mem
    blocks (unplugged sub-blocks)."""
    segs: list[tuple[int, int]] = []
    for _, r in machine.tree.walk():
        if r.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            lo = (r.start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
            hi = ((r.end + 1) & ~(PAGE_SIZE - 1)) - 1
            if lo <= hi:
                segs.append((lo, hi))
    offline: list[tuple[int, int]] = []
    mbs = machine.memory_block_size
    for vm in devices(machine):
        if not vm.probed or vm.kdump:
            continue
        for mb, zone in sorted(vm.mm.items()):
            if zone == OFFLINE:
                continue
            pos = mb * mbs
            for a, b in vm.blockmode.plugged_ranges(mb):
                if a > pos:
                    offline.append((pos, a - 1))
                pos = b + 1
            if pos < (mb + 1) * mbs:
                offline.append((pos, (mb + 1) * mbs - 1))
    return DumpImage(machine.config.kernel, merge_ranges(segs), merge_ranges(offline))


def _boot(machine: MachineLike, kernel: str | None, crash: bool) -> BootReport:
    """Shared by kexec and kdump: validate, forget the old kernel, boot the new one."""
    cfg = machine.config
    new_cfg = cfg.copy()
    if kernel is not None:
        new_cfg.set("kernel", kernel)  # raises before anything changes
    rep = BootReport()
    old = cfg.kernel
    if crash:
        image = _capture_dump(machine)
        rep.trace.append(
            f"panic -> __crash_kexec(): the crash kernel boots; elfcorehdr: "
            f"{len(image.segments)} System RAM range(s) of {old}, PG_offline "
            f"{fmt_ranges(image.page_offline) or 'none'}"
        )
    else:
        rep.trace.append(
            "kernel_kexec() -> machine_kexec(): no system reset, devices keep their state"
        )
        if cfg.eff_lockdown != "none":
            rep.trace.append(
                f"lockdown={cfg.eff_lockdown}: kexec_load() is refused (LOCKDOWN_KEXEC); "
                "kexec_file_load() of a signed kernel is what boots here"
            )
    # the old kernel's state goes
    gone = len(machine.mappings)
    for mid, mp in list(machine.mappings.items()):
        machine.emit(EventKind.MAPPING_REMOVED, mid, start=mp.start, length=mp.length)
    machine.mappings.clear()
    machine.next_mapping = 1
    pins = sum(b - a + 1 for a, b, _ in hotplug.all_pins(machine))
    hotplug.clear_pins(machine)
    poisoned = len(machine.hwpoison)
    machine.hwpoison = PfnSet()  # an assignment: the undo journal records the old set
    devs = devices(machine)
    for vm in devs:
        vm.forget()
    if kernel is not None:
        cfg.set("kernel", kernel)
    machine.high_memory = 0
    boot_top = 0
    for _, r in machine.tree.walk():
        if r.flags.real & _SYSTEM_RAM_BUSY == _SYSTEM_RAM_BUSY:
            boot_top = max(boot_top, r.end + 1)
    machine.high_memory = boot_top
    machine.dump = image if crash else None
    head = (
        f"panic: kdump boots the crash kernel {cfg.kernel}"
        if crash
        else f"kexec into kernel {cfg.kernel}"
    )
    rep.lines.append(
        head
        + (f" (was {old})" if cfg.kernel != old else "")
        + f": {gone} mapping(s), {pins // PAGE_SIZE} pinned page(s) and {poisoned} hwpoison "
        "mark(s) of the old kernel are gone; high_memory starts at the boot RAM's end "
        f"{boot_top:#x} (driver-managed memory is not in the firmware memory map)"
    )
    for vm in devs:
        vm.kdump = crash
        report = vm.probe()
        vm.last_probe = report
        rep.reports.append(report)
        rep.trace.extend(report.full_trace())
        rep.lines.append(_device_line(vm, report))
    if crash:
        rep.lines.append("/proc/vmcore: 'vmcore ADDR [LEN]' reads the crashed kernel's memory")
    machine.emit(EventKind.MACHINE, "kexec")
    return rep


def _device_line(vm: VirtioMem, report: VmemReport) -> str:
    if not vm.probed:
        return f"{vm.name}: no driver ({vm.probe_error})"
    if vm.kdump:
        return (
            f"{vm.name}: driver in kdump mode: memory hot(un)plug disabled; it answers "
            "/proc/vmcore's pfn_is_ram() with STATE requests"
        )
    reqs = ", ".join(r.text() for r in report.requests[:3])
    more = f" (+{len(report.requests) - 3} more)" if len(report.requests) > 3 else ""
    return f"{vm.name}: {reqs or 'no requests'}{more}; plugged {report.plugged:#x}"


def kexec(machine: MachineLike, kernel: str | None = None) -> BootReport:
    """``kexec -e`` into ``kernel`` (default: the same version), keeping the machine's map
    (drivers claim their resources again) and config."""
    return _boot(machine, kernel, crash=False)


def kdump(machine: MachineLike, kernel: str | None = None) -> BootReport:
    """The kernel panics and kdump boots the crash kernel (``kernel``, default the same
    version); ``/proc/vmcore`` then holds the crashed kernel's memory (``read_vmcore``)."""
    return _boot(machine, kernel, crash=True)


# ----------------------------------------------------------------------------- /proc/vmcore
def _in(ranges: list[tuple[int, int]], a: int, b: int) -> bool:
    return any(x <= a and b <= y for x, y in ranges)


def _overlaps(ranges: list[tuple[int, int]], a: int, b: int) -> list[tuple[int, int]]:
    return [(max(x, a), min(y, b)) for x, y in ranges if x <= b and a <= y]


def _vmcore_page(machine: MachineLike, dump: DumpImage, pfn: int) -> tuple[str | None, str]:
    """``read_vmcore()`` of one page (the first of a run whose pages all answer alike):
    None = zero-filled, else what the copy reads; and the trace line."""
    addr = pfn << PAGE_SHIFT
    name = f"read_vmcore({addr:#x})"
    if not _in(dump.segments, addr, addr + PAGE_SIZE - 1):
        return None, f"{name}: no PT_LOAD of the crashed kernel covers it -> not in the dump"
    for vm in devices(machine):
        if not vm.covers(addr):
            continue
        if vm.probed and vm.kdump:
            ram, why = vm.vmcore_pfn_is_ram(pfn)
            if not ram:
                return None, f"{name}: pfn_is_ram() -> {why}; read_from_oldmem() zero-fills"
            return f"the crashed kernel's RAM ({dump.kernel})", f"{name}: {why} -> copied"
        plugged = vm.device.blocks.is_set(vm.device.block_index(addr))
        why = vm.probe_error or "no driver"
        if not plugged:
            return (
                f"raw {UNPLUGGED}",
                f"{name}: no vmcore callback ({vm.name}: {why}) -> read raw",
            )
        return (
            f"the crashed kernel's RAM ({dump.kernel})",
            f"{name}: no vmcore callback ({vm.name}: {why}) -> copied",
        )
    return f"the crashed kernel's RAM ({dump.kernel})", f"{name}: PT_LOAD, oldmem -> copied"


def read_vmcore(machine: MachineLike, addr: int, length: int = PAGE_SIZE) -> Verdict:
    """Read [addr, addr + length) of the crashed kernel's physical memory from
    ``/proc/vmcore`` (the PT_LOAD of that address): ZEROS when every byte was zero-filled
    (outside the dump, or unplugged virtio-mem memory the kdump driver reports as not RAM), OK
    when some of the crashed kernel's memory was copied. DevmemError outside a kdump kernel."""
    dump = machine.dump
    if dump is None:
        raise DevmemError("no /proc/vmcore: this is not a kdump kernel ('kdump' crashes into one)")
    op = op_text("vmcore", addr, length)
    check_end(op, addr, length)
    sw = machine.config.switches
    v = Verdict(op, Outcome.OK, counterfactual=sw.counterfactual)
    filtered = _overlaps(dump.page_offline, addr, addr + length - 1) if length else []
    if filtered:
        v.notes.append(
            f"makedumpfile excludes the PG_offline pages {fmt_ranges(filtered)} (the crashed "
            "kernel's unplugged virtio-mem memory): its dump holds no data there"
        )

    def decide(first: int, last: int) -> list[tuple[int, int, str | None, list[str]]]:
        kind, line = _vmcore_page(machine, dump, first)
        return [(first, last, kind, [line])]

    return read_pages(machine, v, "read_vmcore", "vmcore", addr, length, decide)


# ----------------------------------------------------------------------------- suspend
SUSPEND_STATES = ("mem", "freeze", "disk")


@dataclass
class SuspendReport:
    ok: bool
    message: str
    trace: list[str]
    reports: list[VmemReport]


def suspend(machine: MachineLike, state: str = "mem") -> SuspendReport:
    """``echo STATE > /sys/power/state``: ``mem`` (suspend-to-RAM) and ``freeze``
    (suspend-to-idle) call every driver's freeze callback (``virtio_mem_freeze()``: -EPERM
    fails the suspend); ``disk`` (hibernation) is vetoed by virtio-mem's PM notifier (6.10+;
    before, its freeze callback refused) and, under lockdown, by ``hibernation_available()``
    ("hibernate: Disable when the kernel is locked down", 5.4)."""
    if state not in SUSPEND_STATES:
        raise DevmemError(f"suspend: {state!r} is not one of {', '.join(SUSPEND_STATES)}")
    trace = [f"echo {state} > /sys/power/state"]
    reports: list[VmemReport] = []
    devs = [vm for vm in devices(machine) if vm.probed and not vm.kdump]
    if state == "disk":
        if machine.config.eff_lockdown != "none":
            trace.append("hibernation_available(): kernel locked down -> false -> -EPERM")
            return SuspendReport(
                False, "hibernation is refused: the kernel is locked down (EPERM)", trace, []
            )
        for vm in devs:
            rc, line = (
                vm.hibernate()
                if driver_supports_suspend(machine.config)
                else (
                    -EPERM,
                    f"virtio_mem {vm.res_name}: save/restore not supported.",
                )
            )
            trace.append(line)
            if rc:
                trace.append("PM_HIBERNATION_PREPARE / freeze -> -EPERM: hibernation aborted")
                return SuspendReport(
                    False,
                    f"hibernation refused by {vm.name}'s driver: virtio-mem memory cannot be "
                    "restored from an image (EPERM)",
                    trace,
                    [],
                )
        trace.append("no virtio-mem driver vetoes hibernation")
        return SuspendReport(True, "hibernated and resumed", trace, [])
    for vm in devs:
        report = vm.suspend(to_idle=state == "freeze")
        reports.append(report)
        trace.extend(report.full_trace())
        if report.rc:
            trace.append(f"dpm_suspend(): {vm.name} freeze -> {report.rc} -> suspend aborted")
            why = report.warnings[-1] if report.warnings else "freeze failed"
            return SuspendReport(
                False,
                f"suspend refused by {vm.name}'s driver: {why} (echo {state} > "
                "/sys/power/state fails with EPERM)",
                trace,
                reports,
            )
    what = "suspend-to-idle" if state == "freeze" else "suspend-to-RAM"
    done = f"{what} and resume: " + (
        ", ".join(f"{vm.name} reset and re-read its config" for vm in devs)
        or "no virtio-mem driver involved"
    )
    return SuspendReport(True, done, trace, reports)
