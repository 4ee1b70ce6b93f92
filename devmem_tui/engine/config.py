"""Kernel configuration: version, arch, Kconfig options, boot parameters, counterfactuals.

``KernelConfig`` holds what ``set`` changes and answers the version switches (each property
names the commit that introduced the behaviour) and the Kconfig dependencies. ``set`` is a live
what-if: a combination Kconfig cannot build is accepted, and the effective values (``eff_*``)
and ``warnings()`` say what such a kernel would really be. ``Switches`` is the same
configuration as the /dev/mem rules read it on every page: plain fields, computed once per
config state (``KernelConfig.switches``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

from devmem_tui.engine.errors import DevmemError, quoted
from devmem_tui.engine.journal import Journaled
from devmem_tui.engine.kversion import Backport, KernelVersion, parse_kernel
from devmem_tui.engine.kversion import version_tuple as parse_version

ON_OFF = ("on", "off")

# The counterfactual patches ``set proposal`` can apply, and how verdicts label them.
V1_2021 = "v1-2021"
BUSY_IS_EXCLUSIVE = "busy-is-exclusive"
PROPOSAL_ALIASES = {"rfc-2021": V1_2021}  # the name earlier versions of this tool used
COUNTERFACTUAL = {
    V1_2021: "v1-2021 = v1/v2 of David Hildenbrand's 2021 series '/dev/mem: disallow access "
    "to explicitly excluded system RAM regions', replaced by v3, never merged",
    BUSY_IS_EXCLUSIVE: "busy-is-exclusive = 'all such cases should become mandatory "
    "exclusions', the idea Dan Williams raised against v1/v2 as a reductio; nobody proposed it",
}
LOCKDOWN_LEVELS = ("none", "integrity", "confidentiality")

# ----------------------------------------------------------------------------- stable backports
# Each version boundary that moved into stable lines, with the first sub-level per line.
#
# b4afe4183ec7 "resource: fix region_intersects() vs add_memory_driver_managed()" (mainline
# 6.12, CVE-2024-49878). First sub-levels from the kernel CNA's CVE record (CVE-2024-49878 in
# the CVE list, generated from the stable trees): 5.4.285, 5.10.227, 5.15.168, 6.1.113,
# 6.6.55, 6.10.14, 6.11.3; matching stable review mails: "5.4-stable review patch" (6 Nov
# 2024), the 518-patch 5.10 review (15 Oct 2024), "6.11-stable review patch" (8 Oct 2024).
REGION_INTERSECTS_DESCENDS = Backport(
    "b4afe4183ec7",
    (6, 12),
    (
        ((5, 4), 285),
        ((5, 10), 227),
        ((5, 15), 168),
        ((6, 1), 113),
        ((6, 6), 55),
        ((6, 10), 14),
        ((6, 11), 3),
    ),
)
# 3c9c79753436 "kernel/resource: make walk_mem_res() find all busy IORESOURCE_MEM resources"
# (mainline 5.13): x86 ioremap refuses System RAM at any depth. Stable: the review series of 17
# May 2021 carry it as [PATCH 5.10 186/289] (5.10.38-rc1) and [PATCH 5.11 222/329]
# (5.11.22-rc1); the linux-stable-rc pushes of 17/18 May 2021 put it on linux-5.10.y and
# linux-5.12.y (5.12.5-rc1, same cycle). So 5.10.38, 5.11.22, 5.12.5.
WALK_MEM_RES_DESCENDS = Backport(
    "3c9c79753436", (5, 13), (((5, 10), 38), ((5, 11), 22), ((5, 12), 5))
)
# 3234ac664a87 "/dev/mem: Revoke mappings when a driver claims the region" (mainline 5.8);
# stable: [PATCH 5.7 288/477] in the 5.7.6-rc1 review of 23 Jun 2020, so 5.7.6.
REVOKE_DEVMEM = Backport("3234ac664a87", (5, 8), (((5, 7), 6),))
# 61082ad6a6e1 "virtio-mem: support VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE" (mainline 5.16). Not
# in any stable line: AUTOSEL picked it for 5.15 and 5.10 (26 Nov 2021), David Hildenbrand
# NACKed both ("2. and 4. are part of v5.16-rc1 but not v5.15-stable": 2128f4e21aa2 and
# ce2814622e84 are prerequisites) and Sasha Levin dropped them.
UNPLUGGED_INACCESSIBLE = Backport("61082ad6a6e1", (5, 16))
BACKPORTS: tuple[tuple[str, Backport], ...] = (
    ("region_intersects() looks into descendants", REGION_INTERSECTS_DESCENDS),
    ("ioremap refuses nested System RAM", WALK_MEM_RES_DESCENDS),
    ("claims revoke /dev/mem mappings", REVOKE_DEVMEM),
)


def kernel_suggestions() -> list[tuple[str, str]]:
    """Versions worth typing: the eras, and each stable line's first sub-level with a
    backported change (completion, the TUI's kernel select)."""
    out = [(v, "era (the line's first release)") for v in ERA_VERSIONS]
    for what, change in BACKPORTS:
        for (major, minor), sub in change.stable:
            out.append((f"{major}.{minor}.{sub}", f"{change.commit}: {what}"))
    return out


# Config key -> (allowed values or None for free-form, one-line help).
KEYS: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "kernel": (
        None,
        "kernel version: X.Y (= X.Y.0), X.Y.Z, a uname -r string or a /proc/version line",
    ),
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
        ("none", V1_2021, BUSY_IS_EXCLUSIVE),
        "counterfactual patches from the 2021 thread (none = the kernel as released; "
        "rfc-2021 = v1-2021)",
    ),
    "lockdown": (
        LOCKDOWN_LEVELS,
        "kernel lockdown (5.4+; Secure Boot usually sets integrity): /dev/mem is refused from "
        "integrity on, /proc/kcore under confidentiality",
    ),
    "migration": (ON_OFF, "the host is migrating: virtio-mem answers BUSY to (un)plug"),
    "phys_bits": (None, "CPU physical address bits (x86 mmap limit), 36..52"),
}

# Preset version list for `compare`: one kernel per era of the policy timeline, each the
# first release of its line (X.Y.0).
ERAS: tuple[str, ...] = ("4.10", "4.14", "5.7", "5.15", "6.1", "6.11", "6.16")
PROPOSALS: tuple[str, ...] = (V1_2021, BUSY_IS_EXCLUSIVE)
ERA_VERSIONS: tuple[str, ...] = tuple(f"{era}.0" for era in ERAS)


def _sources(value: Any) -> dict[str, str]:
    """A saved ``sources`` record: config key -> one line of text."""
    if not isinstance(value, dict) or not all(
        k in KEYS and isinstance(v, str) and v and "\n" not in v for k, v in value.items()
    ):
        raise DevmemError("config sources must map config keys to one line of text")
    return dict(value)


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
    # 4.14+: xlate_dev_mem_ptr() uses memremap() (SME series, "x86/mm: Use proper encryption
    # attributes with /dev/mem"; its commit id was not established)
    xlate_uses_memremap: bool
    walk_mem_res: bool  # 4.15+: x86 ioremap asks walk_mem_res(), before walk_system_ram_range()
    ram_test_region_intersects: bool  # 4.18+: the x86 RAM test is region_intersects()
    walk_ram_descends: bool  # 5.1+: walk_system_ram_range() (page_is_ram) sees nested RAM
    revoke_hook: bool  # 5.8+, 5.7.6+: __request_region() calls revoke_iomem()/revoke_devmem()
    revoke_on_request: bool  # revoke_hook with IO_STRICT_DEVMEM: claims revoke mappings
    ioremap_checks_nested: bool  # 5.13+ (+stable): __ioremap_check_mem() walks at any depth
    kcore_state_filter: bool  # 5.14+: kcore zero-fills offline and PageOffline pages
    exclusive_system_ram: bool  # 5.16+: SYSTEM_RAM|EXCLUSIVE is exclusive whatever iomem= says
    virtio_parent_exclusive: bool  # the virtio-mem parent resource carries EXCLUSIVE
    region_intersects_descends: bool  # 6.12+: region_intersects() looks into descendants
    pat_recheck_without_strict: bool  # x86 PAT up to 6.15: the mmap hook re-runs the check
    lockdown_dev_mem: bool  # LOCKDOWN_DEV_MEM: open_port() refuses /dev/mem (5.4+)
    lockdown_kcore: bool  # LOCKDOWN_KCORE: open_kcore() refuses /proc/kcore (5.4+)
    lockdown: str  # the lockdown level in effect ('none' before 5.4)


@dataclass
class KernelConfig(Journaled):
    kernel: str = "6.16.0"
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
    lockdown: str = "none"
    # Where each value came from, for `config` (key -> "kernel config /boot/config-6.1.0-18-amd64:
    # CONFIG_STRICT_DEVMEM=y", "option --kernel", "set", ...); a key that is not here has its
    # default. Saved with the session; not part of equality (two configs with the same values
    # decide the same way, wherever the values came from).
    sources: dict[str, str] = field(default_factory=dict, compare=False)

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
            walk_mem_res=self.walk_mem_res,
            ram_test_region_intersects=self.ram_test_region_intersects,
            walk_ram_descends=self.walk_ram_descends,
            revoke_hook=self.revoke_hook,
            revoke_on_request=self.revoke_on_request,
            ioremap_checks_nested=self.ioremap_checks_nested,
            kcore_state_filter=self.kcore_state_filter,
            exclusive_system_ram=self.exclusive_system_ram,
            virtio_parent_exclusive=self.virtio_parent_exclusive,
            region_intersects_descends=self.region_intersects_descends,
            pat_recheck_without_strict=self.pat_recheck_without_strict,
            lockdown_dev_mem=self.eff_lockdown != "none",
            lockdown_kcore=self.eff_lockdown == "confidentiality",
            lockdown=self.eff_lockdown,
        )

    # ------------------------------------------------------------------ set / show
    def set(self, key: str, value: str) -> KernelVersion | None:
        """Validate and apply one ``set KEY VALUE``; nothing changes on error. For ``kernel``
        returns the parsed version (its ``warning`` says when the sub-level was unknown)."""
        key = key.strip().lower()
        if key not in KEYS:
            raise DevmemError(f"unknown config key {key!r}; valid keys: {', '.join(KEYS)}")
        allowed, _ = KEYS[key]
        value = value.strip()
        if key == "kernel":
            version = parse_kernel(value)
            self.kernel = version.text
            return version
        if key == "proposal":
            value = PROPOSAL_ALIASES.get(value.lower(), value)
        if key == "phys_bits":
            # ASCII digits only: '٤٦' and '²' pass str.isdigit; a 4301-digit value int() refuses
            ok = value.isascii() and value.isdigit() and len(value.lstrip("0")) <= 2
            if not ok or not 36 <= int(value) <= 52:
                raise DevmemError(f"phys_bits {quoted(value)} must be a number from 36 to 52")
            self.phys_bits = int(value)
            return None
        assert allowed is not None
        if value.lower() not in allowed:
            raise DevmemError(f"{key} cannot be {value!r}; valid values: {', '.join(allowed)}")
        value = value.lower()
        if allowed == ON_OFF:
            setattr(self, key, value == "on")
        else:
            setattr(self, key, value)
        return None

    def set_from(self, key: str, value: str, source: str) -> KernelVersion | None:
        """``set`` and record where the value came from (``sources``); nothing changes on
        error. Returns what ``set`` returns (the parsed version for ``kernel``)."""
        version = self.set(key, value)
        # a new dict, assigned: the undo journal records attribute assignments
        self.sources = {**self.sources, key.strip().lower(): source}
        return version

    def source(self, key: str) -> str:
        """Where the value of key came from ("default" when nothing set it)."""
        return self.sources.get(key, "default")

    def get(self, key: str) -> str:
        v = getattr(self, key)
        if isinstance(v, bool):
            return "on" if v else "off"
        return str(v)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["sources"]:  # only defaults: saved files stay as they were before sources
            del d["sources"]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KernelConfig:
        cfg = cls()
        types = {f.name: type(getattr(cfg, f.name)) for f in fields(cls)}
        for k, v in data.items():
            if k not in types:
                raise DevmemError(f"unknown config key {k!r} in saved state")
            if k == "sources":
                cfg.sources = _sources(v)
                continue
            # the JSON type to_dict writes: true/false for switches, an integer for
            # phys_bits, a string for the rest (not 1 for true, "46" or 46.0 for 46)
            want = types[k]
            if type(v) is not want:
                kinds = {bool: "true or false", int: "an integer", str: "a string"}
                raise DevmemError(f"config {k} must be {kinds[want]}, not {json.dumps(v)[:40]}")
            cfg.set(k, ("on" if v else "off") if isinstance(v, bool) else str(v))
        return cfg

    def copy(self) -> KernelConfig:
        return KernelConfig(**asdict(self))

    # ------------------------------------------------------------------ version switches
    @property
    def version(self) -> tuple[int, int, int]:
        """(X, Y, Z) of the configured kernel (``kernel`` holds the canonical X.Y.Z)."""
        return parse_version(self.kernel)

    def at_least(self, major: int, minor: int) -> bool:
        """The kernel's line is X.Y or later (a mainline boundary, whatever the sub-level)."""
        return self.version[:2] >= (major, minor)

    def has(self, change: Backport) -> bool:
        """The kernel carries ``change``: from its mainline release, or from the first
        sub-level of a stable line it was backported to."""
        return change.has(self.version)

    @property
    def x86(self) -> bool:
        return self.arch == "x86_64"

    @property
    def lowmem_ram_zero_fill(self) -> bool:
        """4.11+ (a4866aa81251): x86 devmem_is_allowed returns 2 for low-MiB RAM."""
        return self.at_least(4, 11)

    @property
    def walk_mem_res(self) -> bool:
        """4.15+ (0e4c12b45aa8 "x86/mm, resource: Use PAGE_KERNEL protection for ioremap of
        memory pages", with the AMD SEV guest series: committed to tip on 2017-11-07, so
        merged for 4.15, and in no 4.14.y): x86 ``__ioremap_caller()`` asks
        ``walk_mem_res()``; before, ``walk_system_ram_range()``. Both top level only until
        ``ioremap_checks_nested``."""
        return self.at_least(4, 15)

    @property
    def ram_test_region_intersects(self) -> bool:
        """4.18+ (2bdce74412c2 "mm: fix devmem_is_allowed() for sub-page System RAM
        intersections", Dan Williams, bugzilla 199999; posted 2018-06-09 and taken through the
        mm tree in the 4.18 cycle): the x86 RAM test is region_intersects() != DISJOINT, not
        page_is_ram(). Modelled as mainline only: its stable sub-levels were not
        established."""
        return self.at_least(4, 18)

    @property
    def walk_ram_descends(self) -> bool:
        """5.1+ (a9b17a5ef499 "mm/resource: Let walk_system_ram_range() search child
        resources", merged with dax kmem): ``walk_system_ram_range()`` - so ``page_is_ram()``,
        the kcore RAM list and ``pat_pagerange_is_ram()`` - sees System RAM below a non-RAM
        parent; before it passed ``first_level_children_only = true``."""
        return self.at_least(5, 1)

    @property
    def revoke_hook(self) -> bool:
        """``__request_region()`` calls ``revoke_devmem()`` (``revoke_iomem()`` from 5.12):
        ``REVOKE_DEVMEM``, 3234ac664a87, mainline 5.8 and 5.7.6."""
        return self.has(REVOKE_DEVMEM)

    @property
    def revoke_on_request(self) -> bool:
        """``revoke_hook`` and only with IO_STRICT_DEVMEM: claims revoke /dev/mem maps."""
        return self.revoke_hook and self.eff_io_strict_devmem

    @property
    def ioremap_checks_nested(self) -> bool:
        """x86 ``__ioremap_check_mem()`` finds busy System RAM at any depth:
        ``WALK_MEM_RES_DESCENDS``, 3c9c79753436, mainline 5.13 and 5.10.38, 5.11.22, 5.12.5
        (97523a4edb7b removed the first-level logic altogether in 5.13)."""
        return self.has(WALK_MEM_RES_DESCENDS)

    @property
    def devkmem_exists(self) -> bool:
        """/dev/kmem until 5.13 (bbcd53c96071 "drivers/char: remove /dev/kmem for good")."""
        return not self.at_least(5, 13)

    @property
    def kcore_state_filter(self) -> bool:
        """5.14+ (0daa322b8ff9): kcore zero-fills offline sections and PageOffline pages."""
        return self.at_least(5, 14)

    @property
    def exclusive_system_ram(self) -> bool:
        """5.16+ (a9e7b8d4f663): iomem_is_exclusive denies SYSTEM_RAM|EXCLUSIVE regardless of
        iomem=; the virtio-mem parent gets EXCLUSIVE. The v1-2021 patch carries the virtio-mem
        half of this too (its parent is EXCLUSIVE)."""
        return self.at_least(5, 16)

    @property
    def virtio_parent_exclusive(self) -> bool:
        """Whether the virtio-mem parent resource ``virtioN`` carries ``IORESOURCE_EXCLUSIVE``.

        ``virtio_mem_create_resource()`` (drivers/virtio/virtio_mem.c) requests it with
        ``IORESOURCE_SYSTEM_RAM | IORESOURCE_EXCLUSIVE`` from 5.16 (2128f4e21aa2), plain
        ``IORESOURCE_SYSTEM_RAM`` on 5.8-5.15. Decided from the config, not from the flags
        stored when the device probed, so that ``set kernel`` later changes the answer.
        v1-2021 carried the EXCLUSIVE parent in every version; busy-is-exclusive replaces the
        series, so the parent stays plain SYSTEM_RAM (only the busy added blocks are fenced)."""
        if self.proposal == V1_2021:
            return True
        if self.proposal == BUSY_IS_EXCLUSIVE:
            return False
        return self.exclusive_system_ram

    @property
    def region_intersects_descends(self) -> bool:
        """``region_intersects()`` looks into descendants: ``REGION_INTERSECTS_DESCENDS``,
        b4afe4183ec7 (CVE-2024-49878), mainline 6.12 and 5.4.285, 5.10.227, 5.15.168,
        6.1.113, 6.6.55, 6.10.14, 6.11.3."""
        return self.has(REGION_INTERSECTS_DESCENDS)

    @property
    def eff_lockdown(self) -> str:
        """The lockdown level in effect: the lockdown LSM was merged for 5.4 (the
        "next-lockdown" pull; /dev/mem's hook is 9b9d8dda1ed7 "lockdown: Restrict
        /dev/{mem,kmem,port} when the kernel is locked down"); before, mainline has none."""
        return self.lockdown if self.at_least(5, 4) else "none"

    @property
    def pat_recheck_without_strict(self) -> bool:
        """x86 up to 6.15: with STRICT_DEVMEM=n and PAT, the mmap hook re-runs
        devmem_is_allowed() (removed by 1b3f2bd04d90 in 6.16)."""
        return self.x86 and self.pat and not self.at_least(6, 16)

    @property
    def driver_accepts_unplugged_inaccessible(self) -> bool:
        """``virtio_mem_features[]`` has VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE:
        ``UNPLUGGED_INACCESSIBLE``, 61082ad6a6e1, mainline 5.16 only (the 5.15.y and 5.10.y
        AUTOSEL picks were NACKed and dropped)."""
        return self.has(UNPLUGGED_INACCESSIBLE)

    @property
    def virtio_mem_merges_resources(self) -> bool:
        """5.10+: the driver adds memory with MHP_MERGE_RESOURCE (9b24247a2447 "virtio-mem:
        try to merge system ram resources", on 9ca6551ee243), so adjacent System RAM
        (virtio_mem) siblings merge into one resource."""
        return self.at_least(5, 10)

    @property
    def virtio_mem_subblock_size(self) -> int:
        """Minimum SBM sub-block size: MAX_ORDER pages (4 MiB) before 5.19, a pageblock (2 MiB)
        from 5.19 (448b8ec3bf11 "drivers: virtio_mem: use pageblock size as the minimum
        virtio_mem size", Zi Yan, in the 5.19 mm pull)."""
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
        """VIRTIO_MEM: x86_64 from 5.8 (5f1f79bbc9e2 "virtio-mem: Paravirtualized memory
        hotplug"), arm64 from 5.18 (6f4abbaa1bd3); from 5.16 it depends on
        EXCLUSIVE_SYSTEM_RAM, i.e. !DEVMEM || STRICT_DEVMEM (a9e7b8d4f663, 2128f4e21aa2)."""
        if self.x86:
            arch_ok = self.at_least(5, 8)
        else:
            arch_ok = self.at_least(5, 18)
        if not arch_ok:
            return False
        if self.exclusive_system_ram and self.proposal != V1_2021:
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
        if self.lockdown != "none" and not self.at_least(5, 4):
            out.append(
                "lockdown: mainline has no lockdown LSM before 5.4 (distributions carried "
                "patches); this kernel ignores it"
            )
        return out

    def short(self) -> str:
        """One line for toolbars and tables, e.g. '6.16.0 x86_64 SI iomem=default'."""
        modes = []
        if not self.devmem:
            modes.append("X")
        elif not self.eff_strict_devmem:
            modes.append("N")
        else:
            modes.append("S" + ("I" if self.eff_io_strict_devmem else ""))
        text = f"{self.kernel} {self.arch} {''.join(modes)} iomem={self.iomem}"
        if self.eff_lockdown != "none":
            text += f" lockdown={self.eff_lockdown}"
        if self.proposal != "none":
            text += f" proposal={self.proposal}"
        return text
