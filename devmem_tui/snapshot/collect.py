"""``devmem-tui snapshot``: read the machine's state from plain text files into a snapshot
(engine/snapshot/format.py), or the same files under ``--root DIR`` (a copy taken on another
machine, or a test fixture).

This is the one reviewed exception to the path guard in files.py: it reads files the user did
not name, and only those on ``ALLOWED`` (relative to the root). Every read goes through
``Reader.read``, which refuses a path that is not on the list, or that resolves (through a
symlink or ``..``) to a file that is not on the list or lies outside the root, anything that
is not a regular file (checked on the path before it is opened and on the opened descriptor),
and /proc/kcore or /proc/kmsg mounted at a listed name (told by their inode numbers). So
/dev/mem, /dev/kmem, /dev/port, /proc/kcore, /dev/kmsg and /proc/kmsg are never opened,
whatever the tree under ``--root`` holds. The kernel log is read only from a file the user
names (``--with-log FILE``), and that goes through files.py like every other such file.
"""

from __future__ import annotations

import datetime
import os
import re
import stat
import zlib
from dataclasses import dataclass, field

from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.snapshot import format as fmt
from devmem_tui.engine.snapshot.format import BlockRow, Snapshot, Value
from devmem_tui.engine.snapshot.settings import CONFIG_OPTIONS, cmdline_params, known_param
from devmem_tui.engine.units import fmt_size

# The files a snapshot reads, relative to the root (docs/snapshot.md lists them).
ALLOWED = re.compile(
    r"""
      proc/(iomem|cmdline|version|version_signature|cpuinfo|config\.gz)
    | proc/sys/kernel/(osrelease|arch|hostname)
    | boot/config-[A-Za-z0-9._+~-]+
    | (usr/)?lib/modules/[A-Za-z0-9._+~-]+/config
    | sys/devices/system/memory/(block_size_bytes|auto_online_blocks)
    | sys/devices/system/memory/memory[0-9]+/(state|phys_index|valid_zones|removable)
    | sys/kernel/security/lockdown
    """,
    re.VERBOSE,
)
_MEMORY_DIR = "sys/devices/system/memory"
_BLOCK_DIR = re.compile(r"memory[0-9]+")
_RELEASE = re.compile(r"[A-Za-z0-9._+~-]{1,200}")
_SMALL = 64 * 1024  # a sysfs or procfs value file; /proc/cpuinfo's first CPU
_CONFIG_MAX = 16 * 1024 * 1024  # a kernel config is ~300 KiB uncompressed
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_VMEM_LINE = re.compile(r"virtio_mem (virtio[0-9]+): (.*?)\s*$")
_VMEM_KEYS = {
    "device block size": "block_size",
    "memory block size": "memory_block_size",
    "subblock size": "subblock_size",
    "big block size": "big_block_size",
    "nid": "nid",
    "plugged size": "plugged_size",
    "requested size": "requested_size",
}


class CollectError(DevmemError):
    """The machine cannot be snapshotted (not root, not a Linux root, a refused file)."""


@dataclass
class Collected:
    """A snapshot and what the user should hear about it (one line each)."""

    snapshot: Snapshot
    warnings: list[str] = field(default_factory=list)


# procfs files a bind mount could put at a listed name: /proc/kcore is physical memory, a
# read of /proc/kmsg drains the kernel log. A bind mount keeps the file's inode number, and
# every procfs instance numbers its entries alike (fs/proc/generic.c proc_alloc_inum(), from
# PROC_DYNAMIC_FIRST = 0xF0000000, so no ordinary file shares them), so their numbers are
# known from a stat() of the running kernel's /proc, which opens nothing.
PROC_FORBIDDEN = ("/proc/kcore", "/proc/kmsg")
_PROC_DYNAMIC_FIRST = 0xF0000000


def forbidden_inodes() -> dict[int, str]:
    """Inode number -> name of the ``PROC_FORBIDDEN`` files of the running kernel."""
    out = {}
    for path in PROC_FORBIDDEN:
        try:
            st = os.stat(path)
        except OSError:
            continue  # not built in (CONFIG_PROC_KCORE=n) or no /proc
        if st.st_ino >= _PROC_DYNAMIC_FIRST:
            out[st.st_ino] = path
    return out


class Reader:
    """Reads the files on ``ALLOWED`` under one root, and nothing else."""

    def __init__(self, root: str) -> None:
        self.shown_root = root
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise CollectError(f"--root {root}: not a directory")
        self._dirs: dict[str, int] = {}  # verified directory (relative) -> its open fd
        self._forbidden = forbidden_inodes()

    def shown(self, rel: str) -> str:
        return os.path.join(self.shown_root, rel)

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def _resolve(self, rel: str) -> str:
        """The real path of rel, refused unless it is rel's own file on the list, inside
        the root."""
        real = os.path.realpath(os.path.join(self.root, rel))
        back = os.path.relpath(real, self.root)
        if back.startswith("..") or not ALLOWED.fullmatch(back):
            raise CollectError(
                f"refusing to read {self.shown(rel)}: it leads to {real}, which is not one of "
                "the text files a snapshot reads (docs/snapshot.md)"
            )
        return real

    def read(self, rel: str, limit: int = _SMALL) -> bytes | None:
        """The first ``limit`` bytes of root/rel (None when it does not exist); the one
        function that opens machine files (see the module docstring)."""
        if not ALLOWED.fullmatch(rel):
            raise CollectError(f"refusing to read {self.shown(rel)}: not on the snapshot's list")
        parent, name = os.path.split(rel)
        dir_fd = self._dirs.get(parent)
        try:
            if dir_fd is None:
                path = self._resolve(rel)
                st = os.stat(path)
            else:  # inside a verified directory: no symlink can lead out (O_NOFOLLOW)
                path = name
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                raise CollectError(f"refusing to read {self.shown(rel)}: not a regular file")
            if st.st_ino in self._forbidden:
                raise CollectError(
                    f"refusing to read {self.shown(rel)}: it is the kernel's "
                    f"{self._forbidden[st.st_ino]} (mounted there?)"
                )
            fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CollectError(f"cannot read {self.shown(rel)}: {e.strerror or e}") from None
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) != (
                st.st_dev,
                st.st_ino,
            ):
                raise CollectError(f"refusing to read {self.shown(rel)}: it changed while opened")
            chunks, size = [], 0
            while size < limit:
                chunk = os.read(fd, min(limit - size, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks)
        except OSError as e:
            raise CollectError(f"cannot read {self.shown(rel)}: {e.strerror or e}") from None
        finally:
            os.close(fd)

    def text(self, rel: str, limit: int = _SMALL) -> str | None:
        data = self.read(rel, limit)
        return None if data is None else data.decode("utf-8", "backslashreplace")

    def value(self, rel: str) -> str | None:
        """A one-line sysfs/procfs value, without its newline."""
        text = self.text(rel)
        return None if text is None else text.strip()

    def block_dirs(self) -> list[tuple[int, str]]:
        """(N, relative dir) of every real memoryN directory under the memory directory;
        each is opened once, so that its files are read relative to it."""
        top = os.path.join(self.root, _MEMORY_DIR)
        if os.path.realpath(top) != top:
            raise CollectError(f"refusing to read {self.shown(_MEMORY_DIR)}: it is a symlink")
        try:
            entries = list(os.scandir(top))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise CollectError(f"cannot list {self.shown(_MEMORY_DIR)}: {e.strerror}") from None
        out = []
        for entry in entries:
            if _BLOCK_DIR.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                rel = f"{_MEMORY_DIR}/{entry.name}"
                try:
                    self._dirs[rel] = os.open(
                        entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                    )
                except OSError:
                    continue  # removed while listing (memory hot-unplug)
                out.append((int(entry.name[6:]), rel))
        return sorted(out)


# ----------------------------------------------------------------------------- collect
def collect(
    root: str = "/",
    anonymous: bool = False,
    log_text: str | None = None,
    log_name: str = "",
    tool: str = "devmem-tui",
    now: datetime.datetime | None = None,
) -> Collected:
    """Snapshot the machine whose files are under root (see the module docstring). The
    kernel log, if given, is the text of a saved ``journalctl -k`` or ``dmesg``."""
    reader = Reader(root)
    try:
        return _collect(reader, root, anonymous, log_text, log_name, tool, now)
    finally:
        reader.close()


def _collect(
    reader: Reader,
    root: str,
    anonymous: bool,
    log_text: str | None,
    log_name: str,
    tool: str,
    now: datetime.datetime | None,
) -> Collected:
    snap = Snapshot(source="snapshot")
    out = Collected(snap)
    iomem = _iomem(reader)
    release = reader.value("proc/sys/kernel/osrelease")
    if not release:
        raise CollectError(
            f"cannot read {reader.shown('proc/sys/kernel/osrelease')}: the kernel release is "
            "needed (is this the root of a Linux system?)"
        )
    when = now or datetime.datetime.now(datetime.UTC)
    snap.info["date"] = Value(when.isoformat(timespec="seconds"))
    if not anonymous:
        host = reader.value("proc/sys/kernel/hostname")
        if host:
            snap.info["host"] = Value(host)
    snap.info["tool"] = Value(tool)
    if root not in ("/", "") and not anonymous:
        snap.info["root"] = Value(os.path.abspath(root))
    _kernel(reader, snap, release, anonymous, root)
    _config(reader, snap, release)
    snap.iomem = iomem
    _memory(reader, snap)
    # --anonymous keeps no path of the user's machine: the log by its file name only
    _vmem(snap, log_text, os.path.basename(log_name) if anonymous else log_name)
    try:
        iomem_text.parse(iomem, source=reader.shown("proc/iomem"), kernel_names=True)
    except DevmemError as e:
        out.warnings.append(f"this /proc/iomem will not load: {e}")
    return out


def _iomem(reader: Reader) -> str:
    data = reader.read("proc/iomem", iomem_text.MAX_INPUT_BYTES + 1)
    shown = reader.shown("proc/iomem")
    if data is None:
        raise CollectError(
            f"cannot read {shown}: no such file (is this the root of a Linux system?)"
        )
    if len(data) > iomem_text.MAX_INPUT_BYTES:
        raise CollectError(f"{shown} is more than {iomem_text.MAX_INPUT_BYTES >> 20} MiB")
    text = data.decode("utf-8", "backslashreplace")
    if fmt.zeroed(text):
        raise CollectError(
            f"{shown} shows every address as 00000000-00000000: it was read without root (the "
            "kernel shows zeros to readers without CAP_SYS_ADMIN); run it again as root: "
            "sudo devmem-tui snapshot; nothing was written"
        )
    return text if text.endswith("\n") else text + "\n"


def _arch(reader: Reader, root: str, cpuinfo: str, snap: Snapshot) -> str | None:
    arch = reader.value("proc/sys/kernel/arch")  # uname -m, since 6.1
    if arch:
        return arch
    if os.path.realpath(root) == "/":
        return os.uname().machine
    if re.search(r"(?m)^vendor_id\s*:", cpuinfo):
        return "x86_64"
    if re.search(r"(?m)^CPU implementer\s*:", cpuinfo):
        return "aarch64"
    return None


def _kernel(reader: Reader, snap: Snapshot, release: str, anonymous: bool, root: str) -> None:
    k = snap.kernel
    k["release"] = Value(release)
    version = reader.value("proc/version")
    if version:
        if anonymous:  # "(user@build-host)" of a self-built kernel
            version = re.sub(r" \([^()]*@[^()]*\)", "", version, count=1)
        k["version"] = Value(version)
    signature = reader.value("proc/version_signature")  # Ubuntu: its upstream sub-level
    if signature:
        k["version signature"] = Value(signature)
    cpuinfo = reader.text("proc/cpuinfo") or ""
    arch = _arch(reader, root, cpuinfo, snap)
    if arch:
        k["arch"] = Value(arch)
    sizes = re.search(r"(?m)^address sizes\s*:\s*(.+)$", cpuinfo)
    if sizes:
        k["address sizes"] = Value(sizes.group(1).strip())
    flags = re.search(r"(?m)^flags\s*:(.*)$", cpuinfo)
    if flags:
        k["cpu pat"] = Value("yes" if "pat" in flags.group(1).split() else "no")
    cmdline = reader.value("proc/cmdline")
    if cmdline is not None:
        if anonymous:
            cmdline = " ".join(
                f"{n}={v}" if v is not None else n
                for n, v in cmdline_params(cmdline)
                if known_param(n)
            )
        k["cmdline"] = Value(cmdline)
    lockdown = reader.value("sys/kernel/security/lockdown")
    if lockdown:
        k["lockdown"] = Value(lockdown)
    else:
        snap.notes.setdefault(fmt.KERNEL, []).append(
            "no /sys/kernel/security/lockdown (securityfs not mounted, or no lockdown LSM)"
        )


def _config(reader: Reader, snap: Snapshot, release: str) -> None:
    """The first kernel config found, reduced to the options that matter here."""
    candidates = ["proc/config.gz"]
    if _RELEASE.fullmatch(release):
        candidates += [f"boot/config-{release}", f"lib/modules/{release}/config"]
    text = None
    for rel in candidates:
        data = reader.read(rel, _CONFIG_MAX)
        if data is None:
            continue
        if rel.endswith(".gz"):
            try:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = d.decompress(data, _CONFIG_MAX)
            except zlib.error as e:
                snap.notes.setdefault(fmt.CONFIG, []).append(f"/{rel}: not gzip data ({e})")
                continue
        text = data.decode("utf-8", "backslashreplace")
        snap.config_source = Value("/" + rel)
        break
    if text is None:
        snap.config_source = Value("none")
        snap.notes[fmt.CONFIG] = [
            "no kernel config: none of " + ", ".join("/" + c for c in candidates) + " exists"
        ]
        return
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = re.fullmatch(r"CONFIG_([A-Za-z0-9_]+)=(.*)", line.strip())
        if m:
            values[m.group(1)] = m.group(2)
        else:
            m = re.fullmatch(r"# CONFIG_([A-Za-z0-9_]+) is not set", line.strip())
            if m:
                values[m.group(1)] = "n"
    snap.config = {o: Value(values[o]) for o in CONFIG_OPTIONS if o in values}
    snap.notes[fmt.CONFIG] = [
        f"{len(snap.config)} of its {len(values)} options: the ones devmem-tui reads and the "
        "ones that explain them"
    ]


def _memory(reader: Reader, snap: Snapshot) -> None:
    size = reader.value(f"{_MEMORY_DIR}/block_size_bytes")
    if size is None:
        snap.notes[fmt.MEMORY] = [f"no /{_MEMORY_DIR} (no memory hotplug in that kernel?)"]
        return
    snap.memory["block_size_bytes"] = Value(size)
    auto = reader.value(f"{_MEMORY_DIR}/auto_online_blocks")
    if auto:
        snap.memory["auto_online_blocks"] = Value(auto)
    skipped = []
    for n, rel in reader.block_dirs():
        state = reader.value(f"{rel}/state")
        if state is None:
            continue  # removed while reading
        if state not in fmt.BLOCK_STATES:  # e.g. an empty file in a copy that failed
            skipped.append(f"memory{n}")
            continue
        phys = reader.value(f"{rel}/phys_index") or f"{n:08x}"
        removable = reader.value(f"{rel}/removable") or "-"
        zones = tuple((reader.value(f"{rel}/valid_zones") or "").split())
        snap.blocks.append(BlockRow(n, state, phys, removable, zones))
    if skipped:
        snap.notes[fmt.MEMORY] = [
            f"left out, their state file holds no state: {', '.join(skipped[:8])}"
            + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
        ]


def _vmem(snap: Snapshot, log_text: str | None, log_name: str) -> None:
    """Notes on each virtio-mem region of the map, and the driver's lines from the log."""
    lines = snap.iomem.splitlines()
    regions = []
    for i, line in enumerate(lines):
        m = re.fullmatch(r"( *)([0-9a-f]+)-([0-9a-f]+) : (virtio[0-9]+)", line)
        if not m:
            continue
        depth, added = len(m.group(1)), 0
        for child in lines[i + 1 :]:
            c = re.fullmatch(r"( *)([0-9a-f]+)-([0-9a-f]+) : (.*)", child)
            if not c or len(c.group(1)) <= depth:
                break
            if c.group(4) == "System RAM (virtio_mem)":
                added += int(c.group(3), 16) - int(c.group(2), 16) + 1
        start, end = int(m.group(2), 16), int(m.group(3), 16)
        regions.append(
            f"{m.group(4)}: region {start:#x}-{end:#x} ({fmt_size(end - start + 1)}), "
            f"{fmt_size(added)} added (/proc/iomem)"
        )
    notes = list(regions)
    if log_text is not None:
        found: dict[str, dict[str, str]] = {}
        for raw in log_text.splitlines():
            m = _VMEM_LINE.search(raw)
            if not m:
                continue
            dev, msg = m.group(1), m.group(2)
            snap.log.append(Value(f"virtio_mem {dev}: {msg}"))
            key, _, value = msg.partition(": ")
            if key == "start address":  # a new probe: what an earlier one said is stale
                found[dev] = {}
            if key in _VMEM_KEYS and re.fullmatch(r"(0x[0-9a-fA-F]+|[0-9]+)", value):
                found.setdefault(dev, {})[_VMEM_KEYS[key]] = value
        for dev, keys in found.items():
            snap.vmem[int(dev[6:])] = {k: Value(v) for k, v in keys.items()}
        if found or regions:
            notes.append(
                f"from the driver's lines in {log_name or 'the kernel log'}; plugged_size and "
                "requested_size are as the driver printed them at its last config change "
                "(what is plugged now is the memory added, above)"
            )
        if not snap.log:
            snap.notes[fmt.LOG] = [f"{log_name or 'the log'} has no virtio_mem lines"]
    elif regions:
        notes.append("no kernel log given (--with-log FILE): block and requested sizes unknown")
    if notes:
        snap.notes[fmt.VMEM] = notes
