"""Snapshots of the five fixture machines (tests/fixtures/snapshot-roots/) load to the expected
machines: kernel, arch, config values and where each came from, the map exactly as
/proc/iomem printed it, and virtio-mem devices in the same state the simulator reaches when it
plugs the same memory itself; snapshot -> open -> export snapshot -> open round-trips."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.snapshot import build, export
from devmem_tui.engine.snapshot import format as fmt
from devmem_tui.engine.virtio_mem import driver
from devmem_tui.snapshot.collect import CollectError, collect

ROOTS = Path(__file__).parent / "fixtures" / "snapshot-roots"
WHEN = datetime.datetime(2025, 2, 1, 10, 5, tzinfo=datetime.UTC)
LOGS = {"qemu-debian61": "qemu-debian61.journal", "arm64-guest": "arm64-guest.dmesg"}
MACHINES = ("qemu-debian61", "server-cxl-kmem", "arm64-guest", "no-config")
# The q35 guest's map below 4 GiB ends its RAM at 2 GiB: OVMF's rule makes 2-4 GiB uncached
MTRRS = "MTRRs default WB; 0xa0000-0xfffff UC, 0x80000000-0xffffffff UC (inferred from the map)"


def snapshot_text(name: str, log: bool = True, anonymous: bool = False) -> str:
    log_name = LOGS.get(name) if log else None
    log_text = (ROOTS / log_name).read_text() if log_name else None
    got = collect(
        str(ROOTS / name),
        anonymous=anonymous,
        log_text=log_text,
        log_name=log_name or "",
        tool="devmem-tui test",
        now=WHEN,
    )
    assert got.warnings == []
    return fmt.render(got.snapshot)


def built(name: str, log: bool = True) -> build.Built:
    return build.build(fmt.parse(snapshot_text(name, log), f"{name}.snap"))


def _without_virtio_mem(text: str) -> str:
    """The map before the virtio-mem driver probed: no virtioN, no System RAM (virtio_mem)."""
    keep = [
        line
        for line in text.splitlines(keepends=True)
        if not re.search(r" : (virtio\d+|System RAM \(virtio_mem\))$", line.rstrip("\n"))
    ]
    return "".join(keep)


def simulated(
    b: build.Built, name: str, index: int, addr: int, size: int, req: int, block: int = 2 << 20
) -> Machine:
    """The same machine, its device added and plugged by the simulated driver itself."""
    iomem = (ROOTS / name / "proc" / "iomem").read_text()
    m = Machine.from_iomem_text(_without_virtio_mem(iomem), "x", b.machine.config)
    m.name = b.machine.name
    m.config.sources = dict(b.machine.config.sources)
    driver.add_device(m, "vmem0", addr, size, block, requested_size=req, index=index)
    m.drain_events()
    return m


# ----------------------------------------------------------------------------- the machines
def test_qemu_guest_debian_61_with_virtio_mem() -> None:
    b = built("qemu-debian61")
    m, cfg = b.machine, b.machine.config
    assert m.name == "debian-guest"
    assert (cfg.kernel, cfg.arch) == ("6.1.76", "x86_64")
    assert (cfg.devmem, cfg.strict_devmem, cfg.io_strict_devmem, cfg.pat) == (True,) * 4
    assert (cfg.iomem, cfg.auto_online, cfg.phys_bits) == ("default", "online_movable", 40)
    src = cfg.sources
    # Debian's release carries an ABI number (6.1.0-18); /proc/version has the sub-level
    assert src["kernel"] == (
        "snapshot qemu-debian61.snap: kernel release 6.1.0-18-amd64; sub-level from "
        "/proc/version (the Debian package version Debian 6.1.76-1)"
    )
    assert src["strict_devmem"] == (
        "snapshot qemu-debian61.snap: kernel config /boot/config-6.1.0-18-amd64: "
        "CONFIG_STRICT_DEVMEM=y"
    )
    assert src["iomem"] == "snapshot qemu-debian61.snap: kernel command line: no iomem="
    assert src["auto_online"].endswith(
        "/sys/devices/system/memory/auto_online_blocks: online_movable"
    )
    assert src["phys_bits"].endswith("/proc/cpuinfo: 40 bits physical, 48 bits virtual")
    assert "proposal" not in src and cfg.source("proposal") == "default"
    # the device: geometry from the map and the driver's log lines, state as the simulator
    # reaches it when it plugs the same 256 MiB itself
    vm = m.vmem["vmem0"]
    assert (vm.index, vm.device.addr, vm.device.region_size) == (0, 0x100000000, 4 << 30)
    assert (vm.device.block_size, vm.device.requested_size, vm.device.plugged_size) == (
        2 << 20,
        256 << 20,
        256 << 20,
    )
    assert vm.mm == {32: "Movable", 33: "Movable"}
    vm.check()
    assert b.notes.assumed == [MTRRS] and b.notes.warnings == []
    assert state.to_dict(m) == state.to_dict(
        simulated(b, "qemu-debian61", 0, 0x100000000, 4 << 30, 256 << 20)
    )


def test_qemu_guest_without_the_kernel_log_says_what_it_assumed() -> None:
    b = built("qemu-debian61", log=False)
    assert b.notes.assumed == [
        MTRRS,
        "vmem0: device block size 2M, requested size 256M (its added memory)",
    ]
    lines = b.lines()
    assert [x for x in lines if x.startswith("assumed:")] == [
        f"assumed: {MTRRS}; vmem0: device block size 2M, requested size 256M (its added memory)"
    ]
    assert b.machine.vmem["vmem0"].device.plugged_size == 256 << 20


def test_bare_metal_server_with_cxl_and_kmem() -> None:
    b = built("server-cxl-kmem")
    m, cfg = b.machine, b.machine.config
    assert (m.name, cfg.kernel, cfg.arch, cfg.phys_bits) == (
        "cxl-server-01",
        "6.8.12",
        "x86_64",
        46,
    )
    # Ubuntu's release (6.8.0-45-generic) and /proc/version carry an ABI number only; its
    # /proc/version_signature names the upstream release the kernel is based on
    assert cfg.sources["kernel"] == (
        "snapshot server-cxl-kmem.snap: kernel release 6.8.0-45-generic; sub-level from "
        "/proc/version_signature (the upstream version in the signature)"
    )
    assert (cfg.strict_devmem, cfg.io_strict_devmem, cfg.iomem) == (True, True, "relaxed")
    assert (
        cfg.sources["iomem"] == "snapshot server-cxl-kmem.snap: kernel command line: iomem=relaxed"
    )
    assert cfg.auto_online == "offline"
    assert m.vmem == {}
    chain = [r.name for r in m.tree.chain_at(0x490000000)]
    assert chain == ["CXL Window 0", "region0", "dax0.0", "System RAM (kmem)"]
    assert cfg.lockdown == "integrity"
    assert cfg.sources["lockdown"] == (
        "snapshot server-cxl-kmem.snap: /sys/kernel/security/lockdown: "
        "none [integrity] confidentiality"
    )
    lockdown, kmem = b.notes.warnings
    assert lockdown.startswith("that kernel runs with lockdown=integrity (")
    assert lockdown.endswith("'set lockdown none' shows what the checks beneath it decide")
    assert kmem.startswith("memory160, memory161 (System RAM (kmem)) are offline")
    # Secure Boot's lockdown refuses open() itself; beneath it, IO_STRICT_DEVMEM with
    # iomem=relaxed: busy MMIO is no longer exclusive
    session = Session(m)
    r = session.execute("read 0xfec00000")
    assert r is not None and r.outcome == "EPERM", r.message
    assert "security_locked_down(LOCKDOWN_DEV_MEM)" in "\n".join(r.trace)
    session.execute("set lockdown none")
    r = session.execute("read 0xfec00000")
    assert r is not None and r.outcome == "OK", r.message


def test_arm64_guest_with_virtio_mem() -> None:
    b = built("arm64-guest")
    m, cfg = b.machine, b.machine.config
    assert (cfg.arch, cfg.kernel, cfg.phys_bits) == ("arm64", "6.12.38", 48)
    assert cfg.sources["arch"] == "snapshot arm64-guest.snap: uname -m aarch64"
    assert cfg.sources["phys_bits"] == (
        "snapshot arm64-guest.snap: kernel config: CONFIG_ARM64_PA_BITS=48"
    )
    assert (cfg.strict_devmem, cfg.io_strict_devmem, cfg.auto_online) == (True, False, "online")
    vm = m.vmem["vmem0"]
    assert (vm.res_name, vm.device.requested_size, vm.device.plugged_size) == (
        "virtio1",
        2 << 30,
        2 << 30,
    )
    assert set(vm.mm.values()) == {"Normal"} and len(vm.mm) == 16
    # arm64 fixes high_memory at boot: hot-added memory does not raise it
    assert m.high_memory == 0x140000000
    sim = simulated(b, "arm64-guest", 1, 0x140000000, 16 << 30, 2 << 30)
    assert state.to_dict(m) == state.to_dict(sim)


def test_machine_without_a_kernel_config() -> None:
    b = built("no-config")
    m, cfg = b.machine, b.machine.config
    assert (cfg.kernel, cfg.arch, cfg.phys_bits) == ("5.15.167", "x86_64", 40)
    assert all(cfg.source(k) == "default" for k in ("devmem", "strict_devmem", "pat"))
    assert m.memory_block_size == 128 << 20
    (assumed,) = [x for x in b.lines() if x.startswith("assumed:")]
    assert assumed == (
        "assumed: no kernel config in the snapshot: devmem on, strict_devmem on, "
        "io_strict_devmem off kept; pat on kept (no kernel config); auto_online online_movable "
        "kept (no auto_online_blocks); MTRRs default WB; 0xa0000-0xfffff UC, "
        "0xc0000000-0xffffffff UC (inferred from the map); memory block size 128M (no "
        "block_size_bytes)"
    )
    assert "config: no kernel config in the snapshot; 'config' shows" in "\n".join(b.lines())


def test_a_debian_abi_release_takes_its_sub_level_from_proc_version() -> None:
    """Debian's release 6.1.0-56-amd64 carries an ABI number, not the sub-level; the package
    version at the end of /proc/version (Debian 6.1.192-2) has it. The one parser of kernel
    versions (kversion.parse_kernel) reads both."""
    text = snapshot_text("qemu-debian61").replace("6.1.0-18-amd64", "6.1.0-56-amd64")
    text = re.sub(
        r"(?m)^version: .*$",
        "version: Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) "
        "(x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for "
        "Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2",
        text,
    )
    b = build.build(fmt.parse(text, "deb.snap"))
    cfg = b.machine.config
    assert cfg.kernel == "6.1.192"
    assert cfg.sources["kernel"] == (
        "snapshot deb.snap: kernel release 6.1.0-56-amd64; sub-level from /proc/version (the "
        "Debian package version Debian 6.1.192-2)"
    )
    assert b.notes.warnings == []
    assert "machine debian-guest: kernel 6.1.192 x86_64 SI" in b.lines()[1]


def test_an_unknown_sub_level_is_taken_as_x_y_0_with_one_warning() -> None:
    """A copy without /proc/version: the release's ABI name gives no sub-level."""
    text = re.sub(r"(?m)^version: .*\n", "", snapshot_text("qemu-debian61"))
    b = build.build(fmt.parse(text, "abi.snap"))
    cfg = b.machine.config
    assert cfg.kernel == "6.1.0"
    assert cfg.sources["kernel"] == (
        "snapshot abi.snap: kernel release 6.1.0-18-amd64 (sub-level unknown)"
    )
    (warning,) = b.notes.warnings
    assert warning.startswith(
        "kernel 6.1.0: 6.1.0-18-amd64 is a distribution ABI name, not a sub-level: taken as "
        "6.1.0; the real sub-level is at the end of /proc/version on Debian"
    )
    assert "\n" not in warning and f"warning: {warning}" in b.lines()
    # the version given on the command line wins and needs no warning
    from devmem_tui.engine.config import KernelConfig

    given = KernelConfig()
    given.set_from("kernel", "6.1.150", "option --kernel")
    b = build.build(fmt.parse(text, "abi.snap"), given, keep=["kernel"])
    assert b.machine.config.kernel == "6.1.150" and b.notes.warnings == []


def test_non_root_snapshot_is_refused_and_says_sudo() -> None:
    with pytest.raises(CollectError) as e:
        collect(str(ROOTS / "nonroot"))
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.endswith(
        "nonroot/proc/iomem shows every address as 00000000-00000000: it was read without "
        "root (the kernel shows zeros to readers without CAP_SYS_ADMIN); run it again as "
        "root: sudo devmem-tui snapshot; nothing was written"
    )


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", MACHINES)
def test_snapshot_open_export_round_trips_the_map_exactly(name: str) -> None:
    text = snapshot_text(name)
    iomem = (ROOTS / name / "proc" / "iomem").read_text()
    assert fmt.parse(text).iomem == iomem
    first = build.build(fmt.parse(text, "a.snap"))
    assert iomem_text.render(first.machine.tree) == iomem
    again = fmt.render(export.from_machine(first.machine, "devmem-tui test"))
    second = build.build(fmt.parse(again, "b.snap"))
    assert fmt.parse(again).iomem == iomem
    a, b = state.to_dict(first.machine), state.to_dict(second.machine)
    a["config"].pop("sources")
    b["config"].pop("sources")
    assert a == b


@pytest.mark.parametrize("name", MACHINES)
def test_format_round_trips(name: str) -> None:
    snap = fmt.parse(snapshot_text(name))
    assert fmt.parse(fmt.render(snap)) == snap


def test_anonymous_leaves_out_the_host_and_unknown_boot_parameters() -> None:
    text = snapshot_text("no-config", anonymous=True)
    snap = fmt.parse(text)
    assert "host" not in snap.info and "root" not in snap.info
    assert snap.kernel["cmdline"].text == ""  # root=, console=, rw and init's arguments
    assert "alice@devbox" not in text and "devbox" not in text
    assert snap.kernel["version"].text.startswith("Linux version 5.15.167 (gcc (GCC) 12.2.1")
    assert build.build(snap, None).machine.name == "snapshot"
    full = fmt.parse(snapshot_text("qemu-debian61", anonymous=True)).kernel["cmdline"].text
    assert full == "memhp_default_state=online_movable"


def test_the_kernel_log_gives_the_drivers_values_of_its_last_probe() -> None:
    snap = fmt.parse(snapshot_text("qemu-debian61"))
    assert {k: v.text for k, v in snap.vmem[0].items()} == {
        "block_size": "0x200000",
        "memory_block_size": "0x8000000",
        "subblock_size": "0x200000",
        "plugged_size": "0x0",
        "requested_size": "0x10000000",
    }
    assert [v.text for v in snap.log][:2] == [
        "virtio_mem virtio0: start address: 0x100000000",
        "virtio_mem virtio0: region size: 0x100000000",
    ]
    assert all(v.text.startswith("virtio_mem virtio0: ") for v in snap.log)  # no other lines


def test_a_partly_unplugged_device_keeps_the_driver_and_mm_in_agreement() -> None:
    """The log asks for less than /proc/iomem shows added: the driver unplugged sub-blocks
    of its highest block without removing it (Sub Block Mode unplugs from the top)."""
    text = snapshot_text("qemu-debian61").replace(
        "virtio0.requested_size: 0x10000000", "virtio0.requested_size: 0xc000000"
    )
    b = build.build(fmt.parse(text, "p.snap"))
    vm = b.machine.vmem["vmem0"]
    vm.check()
    assert (vm.device.requested_size, vm.device.plugged_size) == (192 << 20, 192 << 20)
    assert vm.sbm_state_name(33) == "MOVABLE_PARTIAL" and vm.sbm_state_name(32) == "MOVABLE"
    assert b.notes.assumed == [
        MTRRS,
        "vmem0: the top 64M of memory33 unplugged (requested 192M < added 256M)",
    ]
    s = Session(b.machine)
    r = s.execute("kcore 0x10c000000")  # an unplugged sub-block: PG_offline
    assert r is not None and r.outcome == "ZEROS", r.message
    r = s.execute("vmem resize vmem0 512M")
    assert r is not None and r.ok, r.message
    assert vm.device.plugged_size == 512 << 20
    vm.check()


def test_options_on_the_command_line_override_the_snapshot() -> None:
    snap = fmt.parse(snapshot_text("qemu-debian61"), "q.snap")
    from devmem_tui.engine.config import KernelConfig

    cfg = KernelConfig()
    cfg.set_from("strict_devmem", "off", "option --strict-devmem")
    b = build.build(snap, cfg, keep=["strict_devmem"])
    assert b.machine.config.strict_devmem is False
    assert b.machine.config.source("strict_devmem") == "option --strict-devmem"
    assert b.machine.config.io_strict_devmem is True  # still from the snapshot
    assert cfg.sources == {"strict_devmem": "option --strict-devmem"}  # the given one unchanged


def test_offline_virtio_mem_blocks() -> None:
    """auto_online_blocks offline: the driver's blocks are added but offline; the driver
    counts them against its offline threshold as it does when it adds them itself."""
    text = snapshot_text("qemu-debian61").replace(
        "auto_online_blocks: online_movable", "auto_online_blocks: offline"
    )
    for block in (
        "memory32       online         00000020   1         Movable",
        "memory33       online         00000021   1         Movable",
    ):
        assert block in text
        text = text.replace(
            block, block.replace("online ", "offline").replace("Movable", "Normal Movable")
        )
    b = build.build(fmt.parse(text, "off.snap"))
    vm = b.machine.vmem["vmem0"]
    assert vm.mm == {32: "offline", 33: "offline"} and vm.offline_size == 256 << 20
    vm.check()
    sim = simulated(b, "qemu-debian61", 0, 0x100000000, 4 << 30, 256 << 20)
    assert state.to_dict(b.machine) == state.to_dict(sim)
    r = Session(b.machine).execute("online memory32")
    assert r is not None and r.ok, r.message
    vm.check()


def test_big_block_mode_device() -> None:
    """A device block (1 GiB) larger than a memory block: Big Block Mode adds whole big
    blocks; the state is the one the simulated driver reaches plugging the same GiB."""
    text = snapshot_text("qemu-debian61")
    text = text.replace("virtio0.block_size: 0x200000", "virtio0.block_size: 0x40000000")
    text = text.replace("virtio0.subblock_size: 0x200000\n", "virtio0.big_block_size: 0x40000000\n")
    text = text.replace("virtio0.requested_size: 0x10000000", "virtio0.requested_size: 0x40000000")
    text = text.replace(
        "  100000000-10fffffff : System RAM (virtio_mem)",
        "  100000000-13fffffff : System RAM (virtio_mem)",
    )
    rows = "".join(
        f"memory{n:<8} online         {n:08x}   1         Movable\n" for n in range(34, 40)
    )
    text = text.replace(
        "memory33       online         00000021   1         Movable\n",
        "memory33       online         00000021   1         Movable\n" + rows,
    )
    b = build.build(fmt.parse(text, "bbm.snap"))
    vm = b.machine.vmem["vmem0"]
    vm.check()
    assert vm.mode == "BBM" and vm.device.plugged_size == 1 << 30 and len(vm.mm) == 8
    assert b.notes.warnings == [] and b.notes.assumed == [MTRRS]
    sim = simulated(b, "qemu-debian61", 0, 0x100000000, 4 << 30, 1 << 30, block=1 << 30)
    assert state.to_dict(b.machine) == state.to_dict(sim)


@settings(max_examples=60, deadline=None)
@given(
    kernel=st.sampled_from(["5.8", "5.15", "6.1", "6.16"]),
    block=st.sampled_from([1 << 20, 2 << 20, 4 << 20, 128 << 20, 1 << 30]),
    online=st.sampled_from(["offline", "online", "online_kernel", "online_movable"]),
    sizes=st.lists(st.integers(0, 8), min_size=1, max_size=3),
)
def test_a_simulated_machine_exported_and_opened_is_the_same_machine(
    kernel: str, block: int, online: str, sizes: list[int]
) -> None:
    """Whatever state the simulated driver reaches when the host grows the device (in any
    mode, with memory online or offline, over several resizes), its snapshot opens to that
    same state. (After a shrink, QEMU's usable region and the driver's highest block id stay
    where they were, and x86 high_memory stays raised: no file of the guest shows them.)"""
    from devmem_tui.engine.config import KernelConfig

    cfg = KernelConfig()
    cfg.set("kernel", kernel)
    cfg.set("auto_online", online)
    m = Machine.from_preset("qemu-x86", cfg)
    try:
        vm = driver.add_device(m, "vmem0", 0x140000000, 4 << 30, block, index=0)
    except DevmemError:
        return
    for n in sorted(sizes):
        step = max(block, 64 << 20)
        vm.resize(min(n * step, 4 << 30))
    assume(vm.probed and not vm.broken and vm.timer_deadline is None and not vm.livelock)
    assume(vm.stop_rc == 0 and vm.plugged_size == vm.device.plugged_size)
    assume(vm.device.plugged_size == vm.device.requested_size)  # the driver got there
    m.drain_events()
    text = fmt.render(export.from_machine(m, "devmem-tui test"))
    b = build.build(fmt.parse(text, "sim.snap"), cfg)
    a, got = state.to_dict(m), state.to_dict(b.machine)
    a["config"].pop("sources", None)
    got["config"].pop("sources", None)
    # the preset's firmware MTRRs are not in a snapshot: the opened machine infers them
    assert got.pop("mtrr")["source"].startswith("inferred from the map")
    a.pop("mtrr")
    a["vmem"][0]["device"]["config_notifications"] = 0
    a["vmem"][0]["requested_size"] = got["vmem"][0]["requested_size"]
    assert got == a


def test_a_kernel_name_ending_in_brackets_is_part_of_the_name() -> None:
    """A snapshot's [iomem] is what the kernel printed: ``amdgpu [vram]`` is a name (a bracket
    group of words this program never writes), while ``load iomem`` of a hand-written file
    still says the word is unknown. The map opens and renders back exactly."""
    text = snapshot_text("qemu-debian61")
    iomem = fmt.parse(text).iomem
    line = next(x for x in iomem.splitlines() if x.endswith(" : Video ROM"))
    odd = iomem.replace(line, line.replace("Video ROM", "amdgpu [vram]"), 1)
    b = build.build(fmt.parse(text.replace(iomem, odd), "odd.snap"))
    assert iomem_text.render(b.machine.tree) == odd
    with pytest.raises(DevmemError, match="unknown annotation word 'vram'"):
        iomem_text.parse(odd, "hand.iomem")


def test_export_snapshot_keeps_every_name_exactly() -> None:
    """Names a plain /proc/iomem line cannot carry (spaces at an end, an escape byte, a
    backslash) go on annotated lines, encoded: the snapshot holds no control byte and opens
    to the same names."""
    s = Session.new()
    names = ["sp  ", "e\x1b]0;t\x07x", "back\\slash"]
    for i, name in enumerate(names):
        assert s.execute(f"claim {0xFD000000 + i * 0x1000:#x}+4K x{i}").ok  # type: ignore[union-attr]
        (res,) = s.machine.tree.find(f"x{i}")
        res.name = name  # a name no command line can type (an ESC), as a loaded file has it
    text = fmt.render(export.from_machine(s.machine, "devmem-tui test"))
    assert "\x1b" not in text and "\x07" not in text
    b = build.build(fmt.parse(text, "names.snap"))
    got = [r.name for _, r in b.machine.tree.walk() if 0xFD000000 <= r.start <= r.end < 0xFD003000]
    assert got == names
