"""The kernel configuration a snapshot tells: each config key set from the place on the real
machine that decides it, with that place recorded as the key's source (``config`` shows it),
and one phrase for each value that had to be assumed.

Where each key comes from, first found wins:

- ``kernel``: the first of Ubuntu's /proc/version_signature, /proc/version (Debian's package
  version is there) and the release (/proc/sys/kernel/osrelease) that gives a sub-level, read
  by the one parser of kernel versions (kversion.parse_kernel); a distribution ABI name such
  as 6.1.0-18-amd64 with neither is taken as X.Y.0, with that parser's one-line warning;
- ``arch``: ``uname -m``;
- ``devmem``, ``strict_devmem``, ``io_strict_devmem``: CONFIG_DEVMEM, CONFIG_STRICT_DEVMEM,
  CONFIG_IO_STRICT_DEVMEM (an option absent from a kernel config is not set: Kconfig writes
  nothing for an option whose dependencies are not met);
- ``pat``: x86 only: ``nopat`` on the command line, the CPU's ``pat`` flag, CONFIG_X86_PAT;
- ``iomem``: ``iomem=`` on the command line (kernel/resource.c ``strict_iomem()``: "relaxed"
  clears strict_iomem_checks, then "strict" sets it; anything else is ignored);
- ``auto_online``: /sys/devices/system/memory/auto_online_blocks (what the kernel uses now),
  else ``memhp_default_state=``, else CONFIG_MHP_DEFAULT_ONLINE_TYPE_* (6.14+) or
  CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE (before);
- ``phys_bits``: x86 /proc/cpuinfo "address sizes", arm64 CONFIG_ARM64_PA_BITS;
- ``lockdown``: /sys/kernel/security/lockdown, else
  ``lockdown=``, else CONFIG_LOCK_DOWN_KERNEL_FORCE_*.

Keys the snapshot does not tell keep the value (and source) they had. Keys in ``keep`` (given
as command-line options) are not touched.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from devmem_tui.engine.config import KEYS, LOCKDOWN_LEVELS, KernelConfig
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.kversion import KernelVersion, parse_kernel
from devmem_tui.engine.snapshot.format import Snapshot

ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
ONLINE_TYPES = ("offline", "online", "online_kernel", "online_movable")
# CONFIG_MHP_DEFAULT_ONLINE_TYPE_* (mm/Kconfig, 6.14+) -> the online type it selects.
MHP_DEFAULT = {
    "MHP_DEFAULT_ONLINE_TYPE_OFFLINE": "offline",
    "MHP_DEFAULT_ONLINE_TYPE_ONLINE_AUTO": "online",
    "MHP_DEFAULT_ONLINE_TYPE_ONLINE_KERNEL": "online_kernel",
    "MHP_DEFAULT_ONLINE_TYPE_ONLINE_MOVABLE": "online_movable",
}
LOCKDOWN_FORCE = {
    "LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY": "confidentiality",
    "LOCK_DOWN_KERNEL_FORCE_INTEGRITY": "integrity",
    "LOCK_DOWN_KERNEL_FORCE_NONE": "none",
}
_PHYS = re.compile(r"(\d+) bits physical")

# The kernel config options a snapshot keeps (the rest of a config has no bearing on who may
# touch physical memory): the ones read above, and the ones a reader of a bug report needs to
# see next to them (is kcore there, is memory hot-removable, is kmem or CXL built, page size).
CONFIG_OPTIONS = (
    "X86_64",
    "ARM64",
    "DEVMEM",
    "STRICT_DEVMEM",
    "IO_STRICT_DEVMEM",
    "DEVKMEM",
    "DEVPORT",
    "X86_PAT",
    "EXCLUSIVE_SYSTEM_RAM",
    "VIRTIO_MEM",
    "MEMORY_HOTPLUG",
    "MEMORY_HOTREMOVE",
    "MEMORY_HOTPLUG_DEFAULT_ONLINE",
    *MHP_DEFAULT,
    "MHP_MEMMAP_ON_MEMORY",
    "PROC_KCORE",
    "DEV_DAX_KMEM",
    "CXL_BUS",
    "CXL_REGION",
    "SECURITY_LOCKDOWN_LSM",
    "SECURITY_LOCKDOWN_LSM_EARLY",
    *LOCKDOWN_FORCE,
    "ARM64_PA_BITS",
    "ARM64_4K_PAGES",
    "ARM64_16K_PAGES",
    "ARM64_64K_PAGES",
)

# Boot parameters a snapshot keeps with --anonymous (the ones read above or named in a note).
KNOWN_PARAMS = ("iomem", "memhp_default_state", "lockdown", "nopat", "movable_node")
KNOWN_PARAM_PREFIXES = ("memory_hotplug.", "virtio_mem.")


def known_param(name: str) -> bool:
    return name in KNOWN_PARAMS or name.startswith(KNOWN_PARAM_PREFIXES)


@dataclass
class Notes:
    """What building a machine from a snapshot had to assume (one line, when said), what the
    real kernel does that devmem-tui does not model, and plain facts for the summary."""

    assumed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)


def cmdline_params(text: str) -> list[tuple[str, str | None]]:
    """The kernel command line as (name, value) pairs, in order (``next_arg()`` in
    lib/cmdline.c: words split at spaces, double quotes group, ``name=value``); everything
    after ``--`` goes to init and is left out."""
    out: list[tuple[str, str | None]] = []
    for m in re.finditer(r'(?:[^\s"]+|"[^"]*")+', text):
        word = m.group().replace('"', "")
        if word == "--":
            break
        name, eq, value = word.partition("=")
        out.append((name, value if eq else None))
    return out


def last_param(params: list[tuple[str, str | None]], name: str) -> str | None:
    """The value of the last ``name=`` (the kernel applies each in order: the last wins)."""
    found = None
    for n, v in params:
        if n == name:
            found = v if v is not None else ""
    return found


class _Setter:
    """Sets config keys from the snapshot, recording each one's source."""

    def __init__(self, snap: Snapshot, cfg: KernelConfig, keep: Collection[str]) -> None:
        self.snap = snap
        self.cfg = cfg
        self.keep = set(keep)
        self.label = f"snapshot {snap.source}"

    def set(self, key: str, value: str, what: str, line: int = 0) -> bool:
        if key not in KEYS or key in self.keep:
            return False
        try:
            self.cfg.set_from(key, value, f"{self.label}: {what}")
        except DevmemError as e:
            raise self.snap.error(line, f"{what}: {e}") from None
        return True


def apply(snap: Snapshot, cfg: KernelConfig, keep: Collection[str], notes: Notes) -> None:
    """Set cfg from the snapshot (see the module docstring); SnapshotError on a value the
    config refuses, naming the snapshot line."""
    s = _Setter(snap, cfg, keep)
    _kernel(s, notes)
    _arch(s, notes)
    params = cmdline_params(snap.kernel["cmdline"].text) if "cmdline" in snap.kernel else None
    _kconfig(s, notes)
    _pat(s, notes, params)
    _iomem_param(s, params)
    _auto_online(s, notes, params)
    _phys_bits(s, notes)
    _lockdown(s, notes, params)
    if params is not None:
        _params_not_modelled(params, notes)
    elif "iomem" not in s.keep:
        notes.assumed.append(f"iomem {cfg.iomem} kept (no kernel command line)")


# Where a kernel's sub-level may be, most exact first: Ubuntu's /proc/version_signature names
# the upstream release its kernel is based on; /proc/version carries Debian's package version
# (release 6.1.0-18-amd64, "... Debian 6.1.76-1 ..."); the release itself is exact for
# upstream and most self-built kernels.
_VERSION_SOURCES = (
    ("version signature", "/proc/version_signature"),
    ("version", "/proc/version"),
    ("release", "the release"),
)


def _kernel(s: _Setter, notes: Notes) -> None:
    """``kernel`` from the snapshot's version strings, each read by the one parser of kernel
    versions (kversion.parse_kernel): the first that gives a known sub-level wins; when none
    does, the release's X.Y.0 is taken with that parser's one-line warning."""
    snap = s.snap
    release = snap.kernel.get("release")
    if release is None or not release.text.strip():
        line = release.line if release else snap.present.get("kernel", 0)
        raise snap.error(
            line,
            "no kernel release in [kernel] (expected release: 6.1.0-18-amd64, as "
            "/proc/sys/kernel/osrelease has it)",
        )
    what = f"kernel release {release.text.strip()}"
    unsure: tuple[KernelVersion, str] | None = None
    for key, name in _VERSION_SOURCES:
        value = snap.kernel.get(key)
        if value is None or not value.text.strip():
            continue
        try:
            version = parse_kernel(value.text)
        except DevmemError as e:
            if key == "release":
                if unsure is not None:
                    break
                raise snap.error(value.line, f"{what}: {e}") from None
            continue  # a line that does not parse: the next source may
        if version.warning:
            unsure = unsure or (version, name)
            continue
        if version.origin:
            what += f"; sub-level from {name} ({version.origin})"
        s.set("kernel", version.text, what, value.line)
        return
    assert unsure is not None  # the release parsed, or raised above
    version, name = unsure
    s.set("kernel", version.text, f"{what} (sub-level unknown)", release.line)
    if "kernel" not in s.keep:
        notes.warnings.append(f"kernel {version.text}: {version.warning}")


def _arch(s: _Setter, notes: Notes) -> None:
    arch = s.snap.kernel.get("arch")
    if arch is None:
        notes.assumed.append(f"no arch in the snapshot: {s.cfg.arch} kept")
        return
    name = ARCHES.get(arch.text.strip())
    if name is None:
        raise s.snap.error(
            arch.line,
            f"architecture {arch.text!r} is not one devmem-tui models (expected x86_64 or aarch64)",
        )
    s.set("arch", name, f"uname -m {arch.text.strip()}", arch.line)


def _config_file(snap: Snapshot) -> str | None:
    src = snap.config_source
    if src is None or src.text.strip() in ("", "none"):
        return None
    return src.text.strip()


def _yes(snap: Snapshot, option: str) -> bool:
    v = snap.config.get(option)
    return v is not None and v.text in ("y", "m")


def _kconfig(s: _Setter, notes: Notes) -> None:
    snap = s.snap
    path = _config_file(snap)
    if path is None:
        keys = [k for k in ("devmem", "strict_devmem", "io_strict_devmem") if k not in s.keep]
        if keys:
            kept = ", ".join(f"{k} {s.cfg.get(k)}" for k in keys)
            notes.assumed.append(f"no kernel config in the snapshot: {kept} kept")
        return
    for key, option in (
        ("devmem", "DEVMEM"),
        ("strict_devmem", "STRICT_DEVMEM"),
        ("io_strict_devmem", "IO_STRICT_DEVMEM"),
    ):
        v = snap.config.get(option)
        shown = f"CONFIG_{option}={v.text}" if v is not None else f"CONFIG_{option} not set"
        s.set(
            key,
            "on" if _yes(snap, option) else "off",
            f"kernel config {path}: {shown}",
            v.line if v is not None else 0,
        )
    if "VIRTIO_MEM" in snap.config and not _yes(snap, "VIRTIO_MEM"):
        notes.warnings.append(
            "CONFIG_VIRTIO_MEM is not set in that kernel: it has no virtio-mem driver, but "
            "devmem-tui still probes devices you add with 'vmem add'"
        )


def _pat(s: _Setter, notes: Notes, params: list[tuple[str, str | None]] | None) -> None:
    """x86 ``pat_enabled()``: off with ``nopat`` (arch/x86/mm/pat/memtype.c) or without the
    CPU feature, else CONFIG_X86_PAT."""
    snap = s.snap
    if s.cfg.arch != "x86_64" or "pat" in s.keep:
        return
    cpu = snap.kernel.get("cpu pat")
    path = _config_file(snap)
    if params is not None and any(n == "nopat" for n, _ in params):
        s.set("pat", "off", "kernel command line: nopat")
    elif cpu is not None and cpu.text.strip() == "no":
        s.set("pat", "off", "/proc/cpuinfo: the CPU has no pat flag", cpu.line)
    elif path is not None:
        on = _yes(snap, "X86_PAT")
        shown = "CONFIG_X86_PAT=y" if on else "CONFIG_X86_PAT not set"
        s.set("pat", "on" if on else "off", f"kernel config {path}: {shown}")
    else:
        notes.assumed.append(f"pat {s.cfg.get('pat')} kept (no kernel config)")


def _iomem_param(s: _Setter, params: list[tuple[str, str | None]] | None) -> None:
    if params is None:
        return
    value = last_param(params, "iomem")
    if value is None:
        s.set("iomem", "default", "kernel command line: no iomem=")
        return
    # strict_iomem(): strstr "relaxed" clears strict_iomem_checks, then strstr "strict" sets
    word = "strict" if "strict" in value else "relaxed" if "relaxed" in value else "default"
    s.set("iomem", word, f"kernel command line: iomem={value}")


def _auto_online(s: _Setter, notes: Notes, params: list[tuple[str, str | None]] | None) -> None:
    snap = s.snap
    sysfs = snap.memory.get("auto_online_blocks")
    if sysfs is not None:
        value = sysfs.text.strip()
        if value not in ONLINE_TYPES:
            raise snap.error(
                sysfs.line,
                f"auto_online_blocks {value!r} (expected {', '.join(ONLINE_TYPES)})",
            )
        s.set(
            "auto_online",
            value,
            f"/sys/devices/system/memory/auto_online_blocks: {value}",
            sysfs.line,
        )
        return
    param = last_param(params, "memhp_default_state") if params is not None else None
    if param is not None and param in ONLINE_TYPES:
        s.set("auto_online", param, f"kernel command line: memhp_default_state={param}")
        return
    path = _config_file(snap)
    if path is not None:
        for option, value in MHP_DEFAULT.items():
            if _yes(snap, option):
                s.set("auto_online", value, f"kernel config {path}: CONFIG_{option}=y")
                return
        if "MEMORY_HOTPLUG" in snap.config and "MEMORY_HOTPLUG_DEFAULT_ONLINE" not in snap.config:
            # before 6.14: MEMORY_HOTPLUG_DEFAULT_ONLINE=n means offline
            s.set(
                "auto_online",
                "offline",
                f"kernel config {path}: CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE not set",
            )
            return
        if _yes(snap, "MEMORY_HOTPLUG_DEFAULT_ONLINE"):
            s.set(
                "auto_online",
                "online",
                f"kernel config {path}: CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE=y",
            )
            return
    if "auto_online" not in s.keep:
        notes.assumed.append(f"auto_online {s.cfg.auto_online} kept (no auto_online_blocks)")


def _phys_bits(s: _Setter, notes: Notes) -> None:
    snap = s.snap
    if s.cfg.arch == "x86_64":
        sizes = snap.kernel.get("address sizes")
        m = _PHYS.search(sizes.text) if sizes is not None else None
        if sizes is None or m is None:
            notes.assumed.append(f"phys_bits {s.cfg.phys_bits} kept (no address sizes)")
            return
        bits, what, line = m.group(1), f"/proc/cpuinfo: {sizes.text.strip()}", sizes.line
    else:
        pa = snap.config.get("ARM64_PA_BITS")
        if pa is None:
            return  # the arm64 rules use the PA mask, not phys_bits
        bits, what, line = pa.text, f"kernel config: CONFIG_ARM64_PA_BITS={pa.text}", pa.line
    if bits.isdigit() and 36 <= int(bits) <= 52:
        s.set("phys_bits", bits, what, line)
    else:
        notes.assumed.append(
            f"{bits} physical address bits are outside 36..52: phys_bits {s.cfg.phys_bits} kept"
        )


def lockdown_mode(snap: Snapshot, params: list[tuple[str, str | None]] | None) -> tuple[str, str]:
    """The machine's lockdown mode and where that comes from ("" when the snapshot does not
    tell): security/lockdown/lockdown.c prints every mode with the current one in brackets."""
    sysfs = snap.kernel.get("lockdown")
    if sysfs is not None:
        m = re.search(r"\[(\w+)\]", sysfs.text)
        if m is not None and m.group(1) in LOCKDOWN_LEVELS:
            return m.group(1), f"/sys/kernel/security/lockdown: {sysfs.text.strip()}"
    param = last_param(params, "lockdown") if params is not None else None
    if param is not None and param in LOCKDOWN_LEVELS:
        return param, f"kernel command line: lockdown={param}"
    path = _config_file(snap)
    if path is not None:
        for option, mode in LOCKDOWN_FORCE.items():
            if _yes(snap, option):
                return mode, f"kernel config {path}: CONFIG_{option}=y"
    return "", ""


def _lockdown(s: _Setter, notes: Notes, params: list[tuple[str, str | None]] | None) -> None:
    mode, what = lockdown_mode(s.snap, params)
    if not mode:
        return
    s.set("lockdown", mode, what)
    if mode == "none" or "lockdown" in s.keep:
        return
    notes.warnings.append(
        f"that kernel runs with lockdown={mode} ({what}): open() of /dev/mem fails with EPERM "
        "before any other check (open_port: security_locked_down(LOCKDOWN_DEV_MEM))"
        + (", and so does /proc/kcore (LOCKDOWN_KCORE)" if mode == "confidentiality" else "")
        + "; 'set lockdown none' shows what the checks beneath it decide"
    )


def _params_not_modelled(params: list[tuple[str, str | None]], notes: Notes) -> None:
    policy = last_param(params, "memory_hotplug.online_policy")
    if policy == "auto-movable":
        notes.warnings.append(
            "memory_hotplug.online_policy=auto-movable: devmem-tui onlines with contig-zones "
            "(the default policy)"
        )
    if any(n == "movable_node" for n, _ in params):
        notes.warnings.append(
            "movable_node is not modelled (hot-added memory zones follow contig-zones without it)"
        )
    for name in ("virtio_mem.force_bbm", "virtio_mem.bbm_block_size"):
        value = last_param(params, name)
        if value not in (None, "", "0", "n", "N"):
            notes.warnings.append(
                f"{name}={value} is not modelled: devmem-tui's driver picks "
                "its mode and big block size as the driver does by default"
            )
