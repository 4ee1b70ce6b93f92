"""Lazily rendered traces (verdict.Line): a verdict's trace, detail and decider are formatted on
first read from values captured when the checks ran. Rendering after the machine changed must
give exactly the text rendering right away gives, and the public rule functions must render
what the lazy rules return."""

from __future__ import annotations

from functools import partial

import pytest

from devmem_tui.commands.session import Session
from devmem_tui.engine.devmem import arch_hooks, mmap, rw
from devmem_tui.engine.devmem import rules as policy
from devmem_tui.engine.devmem.verdict import Verdict, render, render_all
from devmem_tui.engine.machine import Machine

PAGE = 4096

# (preset, config changes): every era of the read path, both arches and both proposals.
SETUPS = [
    ("qemu-x86-virtio-mem", {}),
    ("qemu-x86-virtio-mem", {"kernel": "5.15", "io_strict_devmem": "on"}),
    ("qemu-x86-virtio-mem", {"kernel": "4.10"}),
    ("qemu-x86-virtio-mem", {"kernel": "4.13"}),
    ("qemu-x86-virtio-mem", {"kernel": "6.1", "strict_devmem": "off"}),
    ("qemu-x86-virtio-mem", {"proposal": "rfc-2021"}),
    ("qemu-x86-virtio-mem", {"proposal": "busy-is-exclusive"}),
    ("qemu-x86", {"iomem": "relaxed"}),
    ("arm64-virt", {}),
]


def machine(preset: str, changes: dict[str, str]) -> Machine:
    m = Machine.from_preset(preset)
    for k, v in changes.items():
        m.config.set(k, v)
    return m


def probes(m: Machine) -> list[tuple[int, int]]:
    """Addresses and lengths around every resource edge, plus multi-page and unaligned calls."""
    out = [(0, PAGE), (0x9F000, PAGE), (0x9FC00, 0x800), (0xA0000, 3 * PAGE), (0, 0x200000)]
    for _, r in m.tree.walk():
        for a in (r.start, r.end & ~(PAGE - 1), r.start + 0x10):
            out.append((a, PAGE))
        out.append((r.start, min(r.end - r.start + 1, 0x400000)))
    return out[:400]


def disturb(m: Machine) -> None:
    """Change everything a trace line could have read: config, tree, memory state."""
    s = Session(m)
    for line in (
        "set kernel 4.10",
        "set proposal none",
        "set strict_devmem off",
        "set iomem strict",
    ):
        s.execute(line)
    for _, r in list(m.tree.walk()):
        if not r.children and not r.busy and r.end - r.start >= PAGE:
            s.execute(f"claim {r.start:#x} {PAGE:#x} lazy-test exclusive")
    if m.vmem:
        s.execute(f"vmem resize {next(iter(m.vmem))} 0")


@pytest.mark.parametrize(("preset", "changes"), SETUPS)
def test_render_after_the_machine_changed_is_what_it_was(
    preset: str, changes: dict[str, str]
) -> None:
    m = machine(preset, changes)
    lazy: list[Verdict] = []
    eager: list[Verdict] = []
    for addr, length in probes(m):
        for call in (rw.read_mem, rw.write_mem, partial(mmap.mmap_mem, dry_run=True)):
            lazy.append(call(m, addr, length))
            v = call(m, addr, length)
            _ = v.trace  # rendered now, before anything changes
            eager.append(v)
    assert all(v._raw for v in lazy)  # nothing was rendered yet
    disturb(m)
    # The disturbance matters: the same calls now answer differently.
    again = [rw.read_mem(m, a, n).message for a, n in probes(m)[:60]]
    assert again != [v.message for v in eager[0:180:3]]
    for lz, eg in zip(lazy, eager, strict=True):
        assert lz.message == eg.message
        assert lz.trace == eg.trace
        assert lz.decider == eg.decider and lz.decider in lz.trace
        assert lz == eg


def test_public_rules_render_the_lazy_rules() -> None:
    m = machine("qemu-x86-virtio-mem", {})
    sw = m.config.switches
    for addr, _ in probes(m)[:120]:
        pfn = addr >> 12
        for public, lazy, args in (
            (policy.devmem_is_allowed, policy.devmem_is_allowed_lazy, (pfn,)),
            (policy.page_is_allowed, policy.page_is_allowed_lazy, (pfn,)),
            (arch_hooks.xlate_dev_mem_ptr, arch_hooks.xlate_dev_mem_ptr_lazy, (addr,)),
            (policy.range_is_allowed, policy.range_is_allowed_lazy, (pfn, 3 * PAGE)),
            (
                arch_hooks.valid_phys_addr_range,
                arch_hooks.valid_phys_addr_range_lazy,
                (addr, PAGE),
            ),
        ):
            value, lines = lazy(m, *args, sw)  # type: ignore[operator]
            assert public(m, *args, sw) == (value, render_all(lines))  # type: ignore[operator]
            assert all(isinstance(render(x), str) and render(x) for x in lines)


def test_verdict_setters_and_equality() -> None:
    m = machine("qemu-x86-virtio-mem", {})
    v = m.read(0x1000)
    w = m.read(0x1000)
    assert v == w and v.op == "read 0x1000"
    v.trace.append("extra")
    assert v != w
    v.detail = ("{} and {:#x}".format, "lazy", 16)
    assert v.detail == "lazy and 0x10" and "lazy and 0x10" in v.message


@pytest.mark.parametrize(
    ("addr", "length", "refused"),
    [
        (0, 1 << 64, True),  # a length of 2^64 from offset 0
        (1 << 64, 0, True),  # an offset past 2^64 - 1, even with count 0
        ((1 << 64) - 1, 1, False),  # the very last byte
        ((1 << 64) - 4096, 4097, True),  # one byte past the end
        (0, (1 << 64) - 1, False),  # the whole space but one byte (VFS-capped)
    ],
)
def test_end_check_on_the_fast_path(addr: int, length: int, refused: bool) -> None:
    """read_mem's inlined guard must refuse exactly what rw_verify_area() would."""
    from devmem_tui.engine.errors import DevmemError

    m = machine("qemu-x86-virtio-mem", {})
    for call in (rw.read_mem, rw.write_mem):
        if refused:
            with pytest.raises(DevmemError, match="EOVERFLOW"):
                call(m, addr, length)
        else:
            assert call(m, addr, length).outcome.value in {
                "EFAULT",
                "EPERM",
                "OK",
                "ZEROS",
                "DROPPED",
            }
