"""Kernel configuration: version, arch, Kconfig options, boot parameters, counterfactuals.

``KernelConfig`` holds what ``set`` changes and answers the version switches (each property
names the commit that introduced the behaviour) and the Kconfig dependencies. ``set`` is a live
what-if: a combination Kconfig cannot build is accepted, and the effective values (``eff_*``)
and ``warnings()`` say what such a kernel would really be. ``Switches`` is the same
configuration as the /dev/mem rules read it on every page: plain fields, computed once per
config state (``KernelConfig.switches``).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Any

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.journal import Journaled

ON_OFF = ("on", "off")

# The counterfactual patches ``set proposal`` can apply, and how verdicts label them.
RFC_2021 = "rfc-2021"
BUSY_IS_EXCLUSIVE = "busy-is-exclusive"
COUNTERFACTUAL = {
    RFC_2021: "rfc-2021 = v1/v2 of David Hildenbrand's 2021 /dev/mem series, never merged",
    BUSY_IS_EXCLUSIVE: "busy-is-exclusive = Dan Williams' counter-proposal in the 2021 "
    "thread, never merged",
}

# Config key -> (allowed values or None for free-form, one-line help).
KEYS: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "kernel": (None, "kernel version MAJOR.MINOR, e.g. 4.10, 4.14, 5.7, 5.15, 6.1, 6.11, 6.16"),
    "arch": (("x86_64", "arm64"), "architecture"),
    "pat": (ON_OFF, "x86 Page Attribute Table (its mmap hook re-checks devmem up to 6.15)"),
    "devmem": (ON_OFF, "CONFIG_DEVMEM: /dev/mem exists"),
    "strict_devmem": (ON_OFF, "CONFIG_STRICT_DEVMEM: devmem_is_allowed() filters every page"),
    "io_strict_devmem": (ON_OFF, "CONFIG_IO_STRICT_DEVMEM: busy (claimed) ranges are exclusive"),
    "iomem": (("default", "strict", "relaxed"), "the iomem= boot parameter"),
    "auto_online": (
        ("offline", "online", "online_kernel", "online_movable"),
        "memhp_default_state / auto_online_blocks for hot-added memory",
    ),
    "proposal": (
        ("none", "rfc-2021", "busy-is-exclusive"),
        "counterfactual patches from the 2021 thread (none = the kernel as released)",
    ),
    "migration": (ON_OFF, "the host is migrating: virtio-mem answers BUSY to (un)plug"),
    "phys_bits": (None, "CPU physical address bits (x86 mmap limit), 36..52"),
}

# Preset version list for `compare`: one kernel per era of the policy timeline.
ERAS: tuple[str, ...] = ("4.10", "4.14", "5.7", "5.15", "6.1", "6.11", "6.16")
PROPOSALS: tuple[str, ...] = (RFC_2021, BUSY_IS_EXCLUSIVE)


@functools.lru_cache(maxsize=256)
def parse_version(text: str) -> tuple[int, int]:
    """'6.1' -> (6, 1); accepts 3.0 .. 7.x.

    Cached (a pure function of an immutable str; errors are raised, never cached): every
    version switch reads ``KernelConfig.version``, thousands of times per 1 TiB virtio-mem
    resize (cfg.version 2.8 us -> 0.4 us, at_least 7.2 -> 0.7 us; docs/performance.md)."""
    parts = text.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise DevmemError(f"kernel version {text!r} is not MAJOR.MINOR (e.g. 6.1)")
    major, minor = int(parts[0]), int(parts[1])
    if not (3 <= major <= 7) or minor > 99:
        raise DevmemError(f"kernel version {text!r} is outside 3.0 .. 7.x")
    return major, minor


@dataclass(frozen=True, slots=True)
class Switches:
    """The configuration as the /dev/mem and /proc/kcore rules ask for it: one plain field per
    kernel feature (the ``KernelConfig`` properties of the same name re-parse the version on
    every access, too slow for the per-page path). Made by ``KernelConfig.switches``."""

    x86: bool
    arm64: bool
    arch: str
    devmem: bool  # CONFIG_DEVMEM: /dev/mem exists
    strict_devmem: bool  # effective CONFIG_STRICT_DEVMEM
    io_strict_devmem: bool  # effective CONFIG_IO_STRICT_DEVMEM
    strict_iomem_checks: bool  # strict_iomem() in kernel/resource.c
    iomem: str  # the iomem= boot parameter
    pat: bool
    phys_bits: int
    proposal: str
    counterfactual: str | None  # the verdict label of the proposal, None for a real kernel
    lowmem_ram_zero_fill: bool  # 4.11+: devmem_is_allowed() returns 2 for low-MiB RAM
    xlate_uses_memremap: bool  # 4.14+: xlate_dev_mem_ptr() uses memremap()
    ram_test_region_intersects: bool  # 4.18+: the x86 RAM test is region_intersects()
    revoke_hook: bool  # 5.8+: __request_region() calls revoke_iomem() (a stub without IO_STRICT)
    revoke_on_request: bool  # 5.8+ with IO_STRICT_DEVMEM: claims revoke /dev/mem mappings
    ioremap_checks_nested: bool  # 5.13+: __ioremap_check_mem() walks resources at any depth
    kcore_state_filter: bool  # 5.14+: kcore zero-fills offline and PageOffline pages
    exclusive_system_ram: bool  # 5.16+: SYSTEM_RAM|EXCLUSIVE is exclusive whatever iomem= says
    virtio_parent_exclusive: bool  # the virtio-mem parent resource carries EXCLUSIVE
    region_intersects_descends: bool  # 6.12+: region_intersects() looks into descendants
    pat_recheck_without_strict: bool  # x86 PAT up to 6.15: the mmap hook re-runs the check


@dataclass
class KernelConfig(Journaled):
    kernel: str = "6.16"
    arch: str = "x86_64"
    pat: bool = True
    devmem: bool = True
    strict_devmem: bool = True
    io_strict_devmem: bool = False
    iomem: str = "default"
    auto_online: str = "online_movable"
    proposal: str = "none"
    migration: bool = False
    phys_bits: int = 46

    def __setattr__(self, name: str, value: object) -> None:
        # The config of a machine is part of its state: the machine's undo journal
        # (journal.py) records the old value while a transaction is open.
        super().__setattr__(name, value)
        # Any change drops the cached ``switches`` (cached_property keeps it in __dict__).
        self.__dict__.pop("switches", None)

    @cached_property
    def switches(self) -> Switches:
        """This configuration as the rules read it, computed on first use and kept until a
        field changes. A cached_property, not a dataclass field: ``asdict()``, equality and
        saved state never see it, and once cached, reading it is a plain attribute lookup
        (one per verdict)."""
        return Switches(
            x86=self.x86,
            arm64=self.arch == "arm64",
            arch=self.arch,
            devmem=self.devmem,
            strict_devmem=self.eff_strict_devmem,
            io_strict_devmem=self.eff_io_strict_devmem,
            strict_iomem_checks=self.strict_iomem_checks,
            iomem=self.iomem,
            pat=self.pat,
            phys_bits=self.phys_bits,
            proposal=self.proposal,
            counterfactual=COUNTERFACTUAL.get(self.proposal),
            lowmem_ram_zero_fill=self.lowmem_ram_zero_fill,
            xlate_uses_memremap=self.at_least(4, 14),
            ram_test_region_intersects=self.ram_test_region_intersects,
            revoke_hook=self.at_least(5, 8),
            revoke_on_request=self.revoke_on_request,
            ioremap_checks_nested=self.at_least(5, 13),
            kcore_state_filter=self.kcore_state_filter,
            exclusive_system_ram=self.exclusive_system_ram,
            virtio_parent_exclusive=self.virtio_parent_exclusive,
            region_intersects_descends=self.region_intersects_descends,
            pat_recheck_without_strict=self.pat_recheck_without_strict,
        )

    # ------------------------------------------------------------------ set / show
    def set(self, key: str, value: str) -> None:
        """Validate and apply one ``set KEY VALUE``; nothing changes on error."""
        key = key.strip().lower()
        if key not in KEYS:
            raise DevmemError(f"unknown config key {key!r}; valid keys: {', '.join(KEYS)}")
        allowed, _ = KEYS[key]
        value = value.strip()
        if key == "kernel":
            major, minor = parse_version(value)
            self.kernel = f"{major}.{minor}"
            return
        if key == "phys_bits":
            if not value.isdigit() or not 36 <= int(value) <= 52:
                raise DevmemError(f"phys_bits {value!r} must be a number from 36 to 52")
            self.phys_bits = int(value)
            return
        assert allowed is not None
        if value.lower() not in allowed:
            raise DevmemError(f"{key} cannot be {value!r}; valid values: {', '.join(allowed)}")
        value = value.lower()
        if allowed == ON_OFF:
            setattr(self, key, value == "on")
        else:
            setattr(self, key, value)

    def get(self, key: str) -> str:
        v = getattr(self, key)
        if isinstance(v, bool):
            return "on" if v else "off"
        return str(v)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KernelConfig:
        cfg = cls()
        names = {f.name for f in fields(cls)}
        for k, v in data.items():
            if k not in names:
                raise DevmemError(f"unknown config key {k!r} in saved state")
            cfg.set(k, ("on" if v else "off") if isinstance(v, bool) else str(v))
        return cfg

    def copy(self) -> KernelConfig:
        return KernelConfig(**asdict(self))

    # ------------------------------------------------------------------ version switches
    @property
    def version(self) -> tuple[int, int]:
        return parse_version(self.kernel)

    def at_least(self, major: int, minor: int) -> bool:
        return self.version >= (major, minor)

    @property
    def x86(self) -> bool:
        return self.arch == "x86_64"

    @property
    def lowmem_ram_zero_fill(self) -> bool:
        """4.11+ (a4866aa81251): x86 devmem_is_allowed returns 2 for low-MiB RAM."""
        return self.at_least(4, 11)

    @property
    def ram_test_region_intersects(self) -> bool:
        """4.18+: the x86 RAM test is region_intersects() != DISJOINT, not page_is_ram()."""
        return self.at_least(4, 18)

    @property
    def revoke_on_request(self) -> bool:
        """5.8+ (3234ac664a87) and only with IO_STRICT_DEVMEM: claims revoke /dev/mem maps."""
        return self.at_least(5, 8) and self.eff_io_strict_devmem

    @property
    def devkmem_exists(self) -> bool:
        return not self.at_least(5, 13)

    @property
    def kcore_state_filter(self) -> bool:
        """5.14+ (0daa322b8ff9): kcore zero-fills offline sections and PageOffline pages."""
        return self.at_least(5, 14)

    @property
    def exclusive_system_ram(self) -> bool:
        """5.16+ (a9e7b8d4f663): iomem_is_exclusive denies SYSTEM_RAM|EXCLUSIVE regardless of
        iomem=; the virtio-mem parent gets EXCLUSIVE. The rfc-2021 patch carries the virtio-mem
        half of this too (its parent is EXCLUSIVE)."""
        return self.at_least(5, 16)

    @property
    def virtio_parent_exclusive(self) -> bool:
        """Whether the virtio-mem parent resource ``virtioN`` carries ``IORESOURCE_EXCLUSIVE``.

        ``virtio_mem_create_resource()`` (drivers/virtio/virtio_mem.c) requests it with
        ``IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE`` from 5.16 (2128f4e21aa2), plain
        ``IORESOURCE_SYSTEM_RAM`` on 5.8-5.15. Decided from the config, not from the flags
        stored when the device probed, so that ``set kernel`` later changes the answer.
        rfc-2021 carried the EXCLUSIVE parent in every version; busy-is-exclusive replaces the
        series, so the parent stays plain SYSTEM_RAM (only the busy added blocks are fenced)."""
        if self.proposal == RFC_2021:
            return True
        if self.proposal == BUSY_IS_EXCLUSIVE:
            return False
        return self.exclusive_system_ram

    @property
    def region_intersects_descends(self) -> bool:
        """6.12+ (b4afe4183ec7, CVE-2024-49878): region_intersects looks into descendants."""
        return self.at_least(6, 12)

    @property
    def pat_recheck_without_strict(self) -> bool:
        """x86 up to 6.15: with STRICT_DEVMEM=n and PAT, the mmap hook re-runs
        devmem_is_allowed() (removed by 1b3f2bd04d90 in 6.16)."""
        return self.x86 and self.pat and not self.at_least(6, 16)

    @property
    def virtio_mem_merges_resources(self) -> bool:
        """~5.10+: MHP_MERGE_RESOURCE merges adjacent System RAM (virtio_mem) siblings."""
        return self.at_least(5, 10)

    @property
    def virtio_mem_subblock_size(self) -> int:
        """Minimum SBM sub-block size: 4 MiB (MAX_ORDER) before ~5.19, pageblock 2 MiB after."""
        return 0x200000 if self.at_least(5, 19) else 0x400000

    # ------------------------------------------------------------------ Kconfig
    @property
    def eff_devmem(self) -> bool:
        return self.devmem

    @property
    def eff_strict_devmem(self) -> bool:
        """STRICT_DEVMEM depends on DEVMEM."""
        return self.devmem and self.strict_devmem

    @property
    def eff_io_strict_devmem(self) -> bool:
        """IO_STRICT_DEVMEM depends on STRICT_DEVMEM."""
        return self.eff_strict_devmem and self.io_strict_devmem

    @property
    def strict_iomem_checks(self) -> bool:
        """``strict_iomem()`` in kernel/resource.c: the default follows STRICT_DEVMEM (not
        IO_STRICT_DEVMEM); "relaxed" clears it, then "strict" sets it."""
        value = self.eff_strict_devmem
        if "relaxed" in self.iomem:
            value = False
        if "strict" in self.iomem:
            value = True
        return value

    @property
    def virtio_mem_buildable(self) -> bool:
        """VIRTIO_MEM: x86_64 from 5.8, arm64 from 5.18; from 5.16 it depends on
        EXCLUSIVE_SYSTEM_RAM, i.e. !DEVMEM || STRICT_DEVMEM."""
        if self.x86:
            arch_ok = self.at_least(5, 8)
        else:
            arch_ok = self.at_least(5, 18)
        if not arch_ok:
            return False
        if self.exclusive_system_ram and self.proposal != RFC_2021:
            return (not self.devmem) or self.strict_devmem
        return True

    def virtio_mem_unbuildable_reason(self) -> str:
        if self.x86 and not self.at_least(5, 8):
            return "virtio-mem was merged in 5.8 (x86-64)"
        if not self.x86 and not self.at_least(5, 18):
            return "virtio-mem supports arm64 from 5.18"
        return (
            "VIRTIO_MEM depends on EXCLUSIVE_SYSTEM_RAM (5.16+), which needs "
            "!DEVMEM || STRICT_DEVMEM"
        )

    def warnings(self) -> list[str]:
        """Plain statements about combinations Kconfig cannot build, and what follows."""
        out = []
        if self.strict_devmem and not self.devmem:
            out.append(
                "STRICT_DEVMEM depends on DEVMEM: with devmem off it cannot be set (treated as off)"
            )
        if self.io_strict_devmem and not self.eff_strict_devmem:
            out.append(
                "IO_STRICT_DEVMEM depends on STRICT_DEVMEM: it cannot be set here (treated as off)"
            )
        if not self.virtio_mem_buildable:
            out.append(
                f"no virtio-mem driver in this kernel: {self.virtio_mem_unbuildable_reason()}"
            )
        if self.iomem != "default" and not self.eff_strict_devmem:
            out.append("iomem= only matters to the x86 PAT mmap hook when STRICT_DEVMEM is off")
        if self.proposal != "none":
            out.append(
                f"proposal {self.proposal} is a counterfactual: no released kernel does this"
            )
        return out

    def short(self) -> str:
        """One line for toolbars and tables, e.g. '6.16 x86_64 S I iomem=default'."""
        modes = []
        if not self.devmem:
            modes.append("X")
        elif not self.eff_strict_devmem:
            modes.append("N")
        else:
            modes.append("S" + ("I" if self.eff_io_strict_devmem else ""))
        text = f"{self.kernel} {self.arch} {''.join(modes)} iomem={self.iomem}"
        if self.proposal != "none":
            text += f" proposal={self.proposal}"
        return text
