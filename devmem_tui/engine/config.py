"""Kernel configuration: version, arch, Kconfig options, boot parameters, counterfactuals.

The version switches are those of reference/devmem-policy.md §1.1; the Kconfig rules are §4.
``set`` is a live what-if: a combination Kconfig cannot build is accepted, and the effective
values (``eff_*``) and ``warnings()`` say what such a kernel would really be.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from devmem_tui.engine.errors import DevmemError

if TYPE_CHECKING:
    from devmem_tui.engine.devmem.rules import Switches

ON_OFF = ("on", "off")

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
PROPOSALS: tuple[str, ...] = ("rfc-2021", "busy-is-exclusive")


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


@dataclass
class KernelConfig:
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

    # policy.switches() of this config, kept until any field changes (not a dataclass field:
    # asdict(), equality and saved state never see it).
    _switches: ClassVar[Switches | None] = None

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name != "_switches":
            object.__setattr__(self, "_switches", None)

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

    # ------------------------------------------------------------------ version switches (§1.1)
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

    # ------------------------------------------------------------------ Kconfig (§4)
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
        if self.exclusive_system_ram and self.proposal != "rfc-2021":
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
