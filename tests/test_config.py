"""KernelConfig: keys, version switches, Kconfig coherence, iomem= and strict_iomem()."""

import pytest

from devmem_tui.engine.config import KernelConfig
from devmem_tui.engine.errors import DevmemError


def cfg(**kw: str) -> KernelConfig:
    c = KernelConfig()
    for k, v in kw.items():
        c.set(k, v)
    return c


@pytest.mark.parametrize(
    ("strict", "iomem", "expected"),
    [
        ("on", "default", True),
        ("off", "default", False),
        ("on", "relaxed", False),
        ("off", "strict", True),
    ],
)
def test_strict_iomem_follows_strict_devmem(strict: str, iomem: str, expected: bool) -> None:
    # strict_iomem_checks defaults from STRICT_DEVMEM, not IO_STRICT_DEVMEM (pitfall 1).
    c = cfg(strict_devmem=strict, iomem=iomem, io_strict_devmem="off")
    assert c.strict_iomem_checks is expected


@pytest.mark.parametrize(
    ("version", "switch", "on"),
    [
        ("4.10", "lowmem_ram_zero_fill", False),
        ("4.11", "lowmem_ram_zero_fill", True),
        ("4.17", "ram_test_region_intersects", False),
        ("4.18", "ram_test_region_intersects", True),
        ("5.13", "kcore_state_filter", False),
        ("5.14", "kcore_state_filter", True),
        ("5.15", "exclusive_system_ram", False),
        ("5.16", "exclusive_system_ram", True),
        ("6.11", "region_intersects_descends", False),
        ("6.12", "region_intersects_descends", True),
        ("6.15", "pat_recheck_without_strict", True),
        ("6.16", "pat_recheck_without_strict", False),
    ],
)
def test_version_switches(version: str, switch: str, on: bool) -> None:
    assert getattr(cfg(kernel=version), switch) is on


def test_revocation_needs_io_strict_and_5_8() -> None:
    assert not cfg(kernel="6.1").revoke_on_request
    assert cfg(kernel="6.1", io_strict_devmem="on").revoke_on_request
    assert not cfg(kernel="5.7", io_strict_devmem="on").revoke_on_request


def test_kconfig_io_strict_needs_strict() -> None:
    c = cfg(strict_devmem="off", io_strict_devmem="on")
    assert not c.eff_io_strict_devmem
    assert any("IO_STRICT_DEVMEM depends on STRICT_DEVMEM" in w for w in c.warnings())


def test_kconfig_virtio_mem_needs_exclusive_system_ram_on_5_16() -> None:
    assert not cfg(kernel="6.1", strict_devmem="off").virtio_mem_buildable
    assert cfg(kernel="5.15", strict_devmem="off").virtio_mem_buildable
    assert cfg(kernel="6.1", strict_devmem="off", devmem="off").virtio_mem_buildable
    assert not cfg(kernel="5.7").virtio_mem_buildable
    assert not cfg(kernel="5.17", arch="arm64").virtio_mem_buildable
    assert cfg(kernel="5.18", arch="arm64").virtio_mem_buildable


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("kernel", "banana", "is not X.Y, X.Y.Z"),
        ("kernel", "2.6", "outside"),
        ("colour", "on", "unknown config key"),
        ("iomem", "loose", "valid values: default, strict, relaxed"),
        ("phys_bits", "99", "36 to 52"),
    ],
)
def test_bad_set_changes_nothing(key: str, value: str, problem: str) -> None:
    c = KernelConfig()
    before = c.to_dict()
    with pytest.raises(DevmemError) as e:
        c.set(key, value)
    assert problem in str(e.value)
    assert c.to_dict() == before


def test_round_trip() -> None:
    c = cfg(kernel="5.15", iomem="relaxed", pat="off", arch="arm64")
    assert KernelConfig.from_dict(c.to_dict()) == c


def test_switches_are_computed_once_per_config_state() -> None:
    c = KernelConfig()
    sw = c.switches
    assert c.switches is sw and sw.exclusive_system_ram and sw.counterfactual is None
    c.set("kernel", "5.15")
    assert c.switches is not sw and not c.switches.exclusive_system_ram
    c.proposal = "v1-2021"  # any field, however it is assigned
    assert c.switches.virtio_parent_exclusive and c.virtio_parent_exclusive
    assert (c.switches.counterfactual or "").startswith("v1-2021 = ")
    # not a field: saved state, copies and equality never see it
    assert "switches" not in c.to_dict() and c.copy() == c
