"""A hypothesis state machine over virtio-mem: random resize / raw plug / raw unplug /
online / offline / pin / unpin / wait / claim / mmap / read / migration sequences on one
device, checking after every step that the three layers (QEMU device, driver tracking, Linux
MM + iomem) agree and that /dev/mem never reaches the device region (5.16+, STRICT_DEVMEM).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.devmem import mappings, mmap
from devmem_tui.engine.devmem.verdict import Outcome
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.mm import hotplug
from devmem_tui.engine.virtio_mem import core
from devmem_tui.engine.virtio_mem import driver as vd
from devmem_tui.engine.virtio_mem.bbm import BbmState

PRESET = Path(__file__).resolve().parent.parent / "devmem_tui" / "presets"
BOOT = (PRESET / "qemu-x86-virtio-mem.iomem").read_text()
ADDR = 0x140000000
REGION = 2 << 30  # 16 memory blocks keep each example quick
MBS = 0x8000000
FIRST_MB, N_MB = ADDR // MBS, REGION // MBS
M = 1 << 20


class VirtioMemMachine(RuleBasedStateMachine):
    vm: vd.VirtioMem
    m: Machine

    @initialize(
        kernel=st.sampled_from(["6.1", "6.16"]),
        io_strict=st.booleans(),
        auto=st.sampled_from(["online_movable", "online", "offline", "online_kernel"]),
        block=st.sampled_from([2 * M, 1 * M, 4 * M, 128 * M, 512 * M]),
    )
    def setup(self, kernel: str, io_strict: bool, auto: str, block: int) -> None:
        cfg = KernelConfig()
        cfg.set("kernel", kernel)
        cfg.set("io_strict_devmem", "on" if io_strict else "off")
        cfg.set("auto_online", auto)
        self.m = Machine(iomem_text.parse(BOOT), cfg)
        self.vm = vd.add_device(self.m, "vmem0", ADDR, REGION, block, index=0)
        self.block = block
        self.raw_used = False
        self.claims = 0

    # ------------------------------------------------------------------ host / driver
    @rule(n=st.integers(0, REGION // (2 * M)))
    def resize(self, n: int) -> None:
        size = n * 2 * M // self.block * self.block
        self.vm.resize(size)

    @rule(
        kind=st.sampled_from(["PLUG", "UNPLUG", "STATE", "UNPLUG_ALL"]),
        first=st.integers(0, 1 << 20),
        count=st.integers(0, 70),
        odd=st.booleans(),
    )
    def raw(self, kind: str, first: int, count: int, odd: bool) -> None:
        bs = self.vm.device.block_size
        addr = ADDR + first % (REGION // bs) * bs
        size = count * bs + (bs // 2 if odd else 0)
        ans = self.vm.raw_request(kind, addr, size)
        if odd and kind != "UNPLUG_ALL":
            assert ans.outcome == "ERROR"
        if ans.outcome == "ACK" and kind != "STATE":
            self.raw_used = True

    @rule(migration=st.booleans())
    def migrate(self, migration: bool) -> None:
        self.m.config.set("migration", "on" if migration else "off")

    @rule(seconds=st.sampled_from([1, 50, 100, 300, 5000]))
    def wait(self, seconds: int) -> None:
        vd.advance(self.m, seconds)

    # ------------------------------------------------------------------ user space
    @rule(i=st.integers(0, N_MB - 1), how=st.sampled_from([None, "kernel", "movable"]))
    def online(self, i: int, how: str | None) -> None:
        mb = FIRST_MB + i
        if mb in self.vm.mm:
            res = hotplug.sysfs_online(self.m, mb, how)
            assert res.outcome in ("DONE", "EINVAL")
            assert (
                (res.outcome == "EINVAL")
                or self.vm.mm.get(mb, "offline") != "offline"
                or mb not in self.vm.mm
            )
        else:
            try:
                hotplug.sysfs_online(self.m, mb, how)
            except DevmemError:
                pass
            else:
                raise AssertionError(f"memory{mb} does not exist but could be onlined")

    @rule(i=st.integers(0, N_MB - 1))
    def offline(self, i: int) -> None:
        mb = FIRST_MB + i
        if mb not in self.vm.mm:
            return
        was = self.vm.mm[mb]
        res = hotplug.sysfs_offline(self.m, mb)
        if was == "offline":
            assert res.outcome == "EINVAL"
        else:
            assert res.outcome in ("DONE", "EBUSY")

    @rule(i=st.integers(0, N_MB - 1), sb=st.integers(0, 63))
    def pin(self, i: int, sb: int) -> None:
        a = (FIRST_MB + i) * MBS + sb * 2 * M
        if hotplug.pin_problem(self.m, a, a + 0xFFF) is None:
            hotplug.add_pin(self.m, a, a + 0xFFF)

    @rule()
    def unpin_all(self) -> None:
        hotplug.remove_pin(self.m, ADDR, ADDR + REGION - 1)

    @rule(i=st.integers(0, REGION // (2 * M) - 1))
    def claim(self, i: int) -> None:
        if self.claims >= 2:
            return
        a = ADDR + i * 2 * M
        try:
            mappings.claim(self.m, a, a + 0xFFF, f"drv{self.claims}")
        except DevmemError:
            return
        self.claims += 1

    @rule(i=st.integers(0, REGION // 4096 - 1), private=st.booleans())
    def mmap(self, i: int, private: bool) -> None:
        v = self.m.mmap(ADDR + i * 4096, 4096, private)
        assert v.outcome not in (Outcome.OK, Outcome.ZEROS), v.message

    @rule(i=st.integers(0, REGION // 4096 - 1))
    def read(self, i: int) -> None:
        v = self.m.read(ADDR + i * 4096, 4096)
        assert v.outcome not in (Outcome.OK, Outcome.ZEROS), v.message

    # ------------------------------------------------------------------ invariants
    @invariant()
    def layers_agree(self) -> None:
        vm, dev, tree = self.vm, self.vm.device, self.m.tree
        assert dev.plugged_size == dev.blocks.total() * dev.block_size
        tree.check()
        vm.check()
        # the "System RAM (virtio_mem)" lines are exactly the added blocks, merged
        want: list[tuple[int, int]] = []
        for mb in sorted(vm.mm):
            a, b = mb * MBS, (mb + 1) * MBS - 1
            if want and want[-1][1] + 1 == a:
                want[-1] = (want[-1][0], b)
            else:
                want.append((a, b))
        assert vm.parent is not None
        got = [(r.start, r.end) for r in vm.parent.children if r.name == core.RESOURCE_NAME]
        assert got == want
        for mb, zone in vm.mm.items():
            state = self.m.memory_state(mb * MBS)
            assert state == "offline" if zone == "offline" else state in ("online", "page_offline")
        # without raw requests the driver's tracking is the device's bitmap
        if not self.raw_used:
            assert vm.plugged_size == dev.plugged_size
            bm = vm.blockmode
            per = bm.plug_unit // dev.block_size
            counted = 0
            for i in range(len(bm.states)):
                id_ = bm.first_id + i
                if vm.mode == "SBM":
                    mask = bm.sb_masks[i]
                    blk = dev.block_index(id_ * MBS)
                    for sb in range(bm.sbs_per_mb):
                        plugged = dev.blocks.all_set(blk + sb * per, per)
                        assert plugged == bool(mask >> sb & 1), (id_, sb)
                    counted += bin(mask).count("1") * per
                else:
                    blk = dev.block_index(id_ * bm.bb_size)
                    held = bm.states[i] in (BbmState.ADDED, BbmState.PLUGGED)
                    assert dev.blocks.all_set(blk, per) == held
                    counted += per if held else 0
            assert counted == dev.blocks.total()

    @invariant()
    def devmem_never_reaches_device_region(self) -> None:
        for addr in (ADDR, ADDR + REGION - 4096, ADDR + 3 * MBS + 0x201000):
            assert self.m.read(addr, 4096).outcome not in (Outcome.OK, Outcome.ZEROS)
            v = mmap.mmap_mem(self.m, addr, 4096, dry_run=True)
            assert v.outcome not in (Outcome.OK, Outcome.ZEROS)

    @invariant()
    def timer_is_sane(self) -> None:
        vm = self.vm
        assert core.RETRY_TIMER_MIN <= vm.retry_timer_s <= core.RETRY_TIMER_MAX
        if vm.timer_deadline is not None:
            assert vm.timer_deadline > self.m.clock - 1e-9 or vm.timer_deadline >= self.m.clock


TestVirtioMemStateful = VirtioMemMachine.TestCase
TestVirtioMemStateful.settings = settings(
    max_examples=100,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
