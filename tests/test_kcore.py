"""/proc/kcore: read_kcore() by version and memory state. The cases are numbered K1-K10 here
(K1 low RAM ... K10 RAM above 1 MiB); each names the check that decides it."""

from __future__ import annotations

import pytest
from layouts import config, l1

from devmem_tui.commands.session import Session
from devmem_tui.engine.machine import Machine


def offline_block_a(m: Machine) -> Machine:
    """Block A (0x280000000-0x287ffffff) added but its memory block offline."""
    vm = m.vmem["vmem0"]
    vm.online = [(0x290000000, 0x293FFFFFF)]  # type: ignore[attr-defined]
    vm.offline = [(0x280000000, 0x287FFFFFF)]  # type: ignore[attr-defined]
    return m


def poisoned(m: Machine) -> Machine:
    m.hwpoison.add(0x100)
    return m


K = [
    # id, kernel, prepare, addr, outcome, trace substring, message substring
    (
        "K1",
        "6.1",
        None,
        0x1000,
        "OK",
        "read_kcore(0x1000): KCORE_RAM, online page -> copied",
        "System RAM contents",
    ),
    ("K1-4.10", "4.10", None, 0x1000, "OK", "kern_addr_valid() -> copied", ""),
    (
        "K2",
        "6.1",
        None,
        0x9F000,
        "ZEROS",
        "read_kcore(0x9f000): not in any KCORE_RAM entry",
        "all zero-filled",
    ),
    ("K2-5.13", "5.13", None, 0x9F000, "ZEROS", "not in any KCORE_RAM entry", ""),
    ("K3", "6.1", None, 0xFE000000, "ZEROS", "not in any KCORE_RAM entry", ""),
    ("K4", "6.1", None, 0x294000000, "ZEROS", "read_kcore(0x294000000) [5.14+]: PageOffline", ""),
    (
        "K5",
        "5.13",
        None,
        0x294000000,
        "OK",
        "no state filter before 5.14",
        "raw PageOffline memory, unplugged virtio-mem memory",
    ),
    (
        "K6",
        "6.1",
        offline_block_a,
        0x280000000,
        "ZEROS",
        "[5.14+]: pfn_to_online_page() NULL (memory block offline) -> zero-filled",
        "",
    ),
    (
        "K7",
        "5.13",
        offline_block_a,
        0x280000000,
        "OK",
        "no state filter before 5.14",
        "raw contents of an offline memory block",
    ),
    ("K8", "6.1", None, 0x288000000, "ZEROS", "read_kcore(0x288000000): not in any KCORE_RAM", ""),
    ("K8-5.13", "5.13", None, 0x288000000, "ZEROS", "not in any KCORE_RAM entry", ""),
    ("K9", "6.1", poisoned, 0x100000, "ZEROS", "[5.14+]: is_page_hwpoison() -> zero-filled", ""),
    ("K9-5.13", "5.13", poisoned, 0x100000, "OK", "no state filter before 5.14", "hwpoisoned page"),
    (
        "K10",
        "6.1",
        None,
        0x100000,
        "OK",
        "read_kcore(0x100000): KCORE_RAM, online page",
        "System RAM contents",
    ),
]


@pytest.mark.parametrize(
    ("kid", "kernel", "prepare", "addr", "outcome", "trace", "text"), K, ids=[k[0] for k in K]
)
def test_kcore_vector(
    kid: str, kernel: str, prepare: object, addr: int, outcome: str, trace: str, text: str
) -> None:
    m = l1(config(kernel, "S"))
    if prepare is not None:
        m = prepare(m)  # type: ignore[operator]
    r = Session(m).execute(f"kcore {addr:#x}")
    assert r is not None and r.ok
    assert r.outcome == outcome, r.message
    assert any(trace in line for line in r.trace), r.trace
    assert text in r.message
    assert r.data["nbytes"] == 4096


@pytest.mark.parametrize("mode", ["S", "SI", "N", "X"])
def test_kcore_ignores_devmem_rules(mode: str) -> None:
    """K10 versus test_policy_vectors #8: the same RAM page, EPERM through /dev/mem, data
    through kcore, whatever STRICT_DEVMEM, IO_STRICT_DEVMEM or even DEVMEM say."""
    m = l1(config("6.1", mode))
    assert m.kcore(0x100000).outcome == "OK"
    assert not any("devmem_is_allowed" in line for line in m.kcore(0x100000).trace)


def test_kcore_mixed_range_lists_zero_ranges() -> None:
    m = l1(config("6.1", "S"))
    v = m.kcore(0x9E000, 0x3000)  # RAM page, partial RAM page, PCI window page
    assert v.outcome == "OK"
    assert v.data_pages == [(0x9E000, 0x9EFFF)]
    assert v.zero_pages == [(0x9F000, 0xA0FFF)]
    assert "zero-filled: 0x9f000-0xa0fff" in v.message


def test_kcore_hwpoison_splits_a_run() -> None:
    m = poisoned(l1(config("6.1", "S")))
    v = m.kcore(0xFF000, 0x3000)
    assert v.zero_pages == [(0xFF000, 0x100FFF)]  # ROM page (no entry) + poisoned RAM page
    assert v.data_pages == [(0x101000, 0x101FFF)]
    assert m.kcore(0x101000, 0x1000).outcome == "OK"


def test_kcore_across_virtio_mem_states() -> None:
    """Block C: plugged sub-blocks read, PageOffline ones zero-filled (5.14+)."""
    m = l1(config("6.1", "S"))
    v = m.kcore(0x293FFF000, 0x2000)
    assert v.data_pages == [(0x293FFF000, 0x293FFFFFF)]
    assert v.zero_pages == [(0x294000000, 0x294000FFF)]


def test_kcore_under_a_proposal() -> None:
    """Labelled like every verdict under a proposal, but the answer is the released one."""
    m = l1(config("6.1", "S", proposal="v1-2021"))
    v = m.kcore(0x294000000)
    assert v.counterfactual is not None and "v1-2021" in v.message
    assert v.outcome == "ZEROS"


def test_kcore_zero_length_and_limits() -> None:
    s = Session(l1(config("6.1", "S")))
    r = s.execute("kcore 0x1000 0")
    assert r is not None and r.outcome == "OK" and r.data["nbytes"] == 0
    r = s.execute("kcore 0xffffffffffffff00 0x1000")
    assert r is not None and not r.ok and "2^64" in r.message
