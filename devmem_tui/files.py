"""Every file devmem-tui reads or writes goes through here: the guard that keeps the real kernel
interfaces and anything that can block out of reach, bounded reads with one-line errors, and
atomic writes.

The guard judges a file by what it *is*, not by how it is named: before a byte is read or
written, the path is ``stat``ed (symlinks followed) and, once opened (non-blocking, never as a
controlling terminal), the descriptor is ``fstat``ed again, and refused when it is

* a character or block device: ``/dev/mem``, ``/dev/kmem`` and ``/dev/port`` are character
  devices 1:1, 1:2 and 1:4 (drivers/char/mem.c ``devlist``) wherever their node lives, and
  every other node has side effects of its own (a tape rewinds, ``/dev/zero`` never ends);
* a FIFO or a socket: opening or reading one blocks until another process writes;
* a file of a kernel pseudo filesystem (procfs, sysfs, debugfs, tracefs, securityfs,
  configfs, efivarfs, pstore, bpf, cgroup, devpts), told by the ``statfs`` magic number
  (include/uapi/linux/magic.h), so a procfs mounted elsewhere (``/host/proc/kcore`` in a
  container) is known for what it is: ``/proc/kcore`` is physical memory, ``/proc/kmsg``
  blocks and drains the kernel log, and a sysfs attribute written by ``record`` would change
  the running kernel.

The one reviewed exception is the list ``HOST_TEXT_FILES``: plain text files of procfs that
describe the machine and are read whole (``load iomem /proc/iomem``). The engine never
touches files (it parses and renders text); commands and front ends call these.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any

from devmem_tui.engine import session_json
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.iomem.tree import ResourceTree
from devmem_tui.engine.machine import Machine
from devmem_tui.engine.snapshot import format as snapshot_format
from devmem_tui.engine.snapshot.format import Snapshot


class FileError(DevmemError):
    """A file that cannot be read or written; str() is one line naming it."""


# The real kernel interfaces this simulator models and must never open, whatever path a user
# types (symlinks resolved): reading /dev/port has side effects on hardware, writing /dev/mem
# corrupts memory, and `save` would replace a device node with a regular file.
KERNEL_INTERFACES = ("/dev/mem", "/dev/kmem", "/dev/port", "/proc/kcore")
# The same interfaces by what they are: drivers/char/mem.c registers mem, kmem and port as
# character devices of major 1 (MEM_MAJOR) with these minors; kcore is a file of procfs.
MEM_MAJOR = 1
MEM_MINORS = {1: "mem", 2: "kmem", 4: "port"}
PROCFS_KCORE = "kcore"

# statfs f_type of the kernel's pseudo filesystems (include/uapi/linux/magic.h).
PROC_SUPER_MAGIC = 0x9FA0
PSEUDO_FS: dict[int, str] = {
    PROC_SUPER_MAGIC: "procfs",
    0x62656572: "sysfs",
    0x64626720: "debugfs",
    0x74726163: "tracefs",
    0x73636673: "securityfs",
    0x62656570: "configfs",
    0xDE5E81E4: "efivarfs",
    0x6165676C: "pstore",
    0xCAFE4A11: "bpf",
    0x27E0EB: "cgroup",
    0x63677270: "cgroup2",
    0x1CD1: "devpts",
}
# The reviewed exception: procfs files in the procfs root that may be read as text. They are
# plain seq_files that print a table and end (fs/proc, kernel/resource.c ioresources_init).
HOST_TEXT_FILES = frozenset({"iomem"})
PROC_ROOT_INO = 1  # fs/proc/root.c: the root of every procfs instance is inode 1

MiB = 1 << 20
#: Scenarios, command files, keymaps, history: far more than any real one.
MAX_TEXT_BYTES = 64 * MiB
#: Session files: a 100k-resource map saves as about 16 MB.
MAX_SESSION_BYTES = 256 * MiB
#: stdin of `run` and the REPL: one command line, and all of them.
MAX_LINE_BYTES = 64 * 1024
MAX_STDIN_BYTES = 64 * MiB

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_APPEND_FLAGS = (
    os.O_WRONLY
    | os.O_APPEND
    | os.O_CREAT
    | os.O_NONBLOCK
    | os.O_NOCTTY
    | getattr(os, "O_CLOEXEC", 0)
)
NEVER_TOUCHES = (
    "devmem-tui simulates the kernel's memory interfaces and never touches the real ones"
)


# ----------------------------------------------------------------------------- what a file is
def fs_magic(target: str | int) -> int | None:
    """The statfs f_type of a path or an open descriptor; None where it cannot be asked (no
    libc, not Linux). struct statfs starts with ``__fsword_t f_type`` (a long; 32 bits on
    s390x)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(512)  # sizeof(struct statfs) is 120 on x86-64
        if isinstance(target, int):
            rc = libc.fstatfs(target, buf)
        else:
            rc = libc.statfs(os.fsencode(target), buf)
    except (OSError, AttributeError, TypeError, ValueError):
        return None
    if rc != 0:
        return None
    kind = ctypes.c_uint32 if platform.machine() == "s390x" else ctypes.c_ulong
    return int(kind.from_buffer(buf).value) & 0xFFFFFFFF


def _describe(path: str, st: os.stat_result, magic: int | None, host_ok: bool) -> str | None:
    """Why a file must not be opened (a one-line message), or None when it may be."""
    mode = st.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        if stat.S_ISCHR(mode) and os.major(st.st_rdev) == MEM_MAJOR:
            name = MEM_MINORS.get(os.minor(st.st_rdev))
            if name is not None:
                return f"refusing to open {path} (the kernel's /dev/{name}): {NEVER_TOUCHES}"
        return None  # the caller words device nodes itself (open or write)
    fs = PSEUDO_FS.get(magic) if magic is not None else None
    if fs is not None:
        base = os.path.basename(os.path.realpath(path))
        if magic == PROC_SUPER_MAGIC and base == PROCFS_KCORE:
            return f"refusing to open {path} (the kernel's /proc/kcore): {NEVER_TOUCHES}"
        if not (host_ok and _is_host_text_file(path, st, magic)):
            return (
                f"refusing to open {path}: a file of the kernel's {fs}, not a saved file "
                "(reading such files can block or change the running kernel)"
            )
    return None


def _is_host_text_file(path: str, st: os.stat_result, magic: int | None) -> bool:
    """A ``HOST_TEXT_FILES`` file in the root of a procfs (wherever it is mounted)."""
    if magic != PROC_SUPER_MAGIC or not stat.S_ISREG(st.st_mode):
        return False
    real = os.path.realpath(path)
    if os.path.basename(real) not in HOST_TEXT_FILES:
        return False
    try:
        parent = os.stat(os.path.dirname(real))
    except OSError:
        return False
    return parent.st_ino == PROC_ROOT_INO and parent.st_dev == st.st_dev


def check_path(path: str, writing: bool = False, host_ok: bool = False) -> None:
    """Refuse, with a one-line FileError, a user-given path that devmem-tui must not open: one
    with a NUL byte, a real kernel memory interface (by name, through a symlink, or by what
    the file is), any device node, FIFO or socket, a file of a kernel pseudo filesystem
    (``host_ok``: except ``HOST_TEXT_FILES``) and, for writing, anything that is not a regular
    file or a directory. Nothing is opened: this only asks ``stat`` and ``statfs``."""
    if "\0" in path:
        raise FileError(f"bad file name {path!r}: it contains a NUL byte")
    real = os.path.realpath(path)
    if real in KERNEL_INTERFACES:
        shown = f"{path} ({real})" if real != path else path
        raise FileError(f"refusing to open {shown}: {NEVER_TOUCHES}")
    try:
        st = os.stat(real)
    except (OSError, ValueError):
        st = None  # missing or unreadable: opening it reports that
    if st is None:
        # missing (or a new file to write): its directory must be an ordinary one, so that
        # not even a failed open reaches into procfs or sysfs
        _check_directory(path, writing)
        return
    _refuse(path, st, fs_magic(real), writing, host_ok)


def _refuse(path: str, st: os.stat_result, magic: int | None, writing: bool, host_ok: bool) -> None:
    why = _describe(path, st, magic, host_ok and not writing)
    if why is not None:
        if writing and why.startswith("refusing to open"):
            why = why.replace("refusing to open", "refusing to write", 1)
        raise FileError(why)
    mode = st.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise FileError(
            f"refusing to {'write' if writing else 'open'} {path}: a device node, not a file"
        )
    if writing and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise FileError(f"cannot write {path}: not a regular file")
    if stat.S_ISFIFO(mode):
        raise FileError(f"refusing to open {path}: a FIFO (named pipe), not a file; it would block")
    if stat.S_ISSOCK(mode):
        raise FileError(f"refusing to open {path}: a socket, not a file")


def _check_directory(path: str, writing: bool) -> None:
    """A file that is not there (yet): its directory must not be a kernel pseudo filesystem."""
    directory = os.path.dirname(os.path.realpath(path)) or "."
    fs = PSEUDO_FS.get(fs_magic(directory) or 0)
    if fs is not None:
        verb = "write" if writing else "open"
        raise FileError(f"refusing to {verb} {path}: {directory} is the kernel's {fs}")


def confine(path: str, roots: list[str], name: str) -> str:
    """path, if it lies inside one of roots once links are resolved; else a one-line FileError
    naming what the user typed (name). A session with a file root (``--file-root``, every tab
    of ``devmem-tui serve``) reads and writes only there, so whoever drives it cannot read or
    replace the files of the user running devmem-tui."""
    real = os.path.realpath(path)
    for root in roots:
        top = os.path.realpath(root)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            return path
    raise FileError(
        f"cannot use {name}: this session reads and writes files only in its own folder "
        "(give a plain file name, like 'work.json')"
    )


# ----------------------------------------------------------------------------- reading
def _open_checked(path: str, host_ok: bool = False) -> int:
    """A descriptor of the regular file at path, opened without blocking and checked again
    (``fstat``, ``fstatfs``) after opening, so a file swapped in between is refused too."""
    check_path(path, host_ok=host_ok)
    try:
        before = os.stat(path)
    except FileNotFoundError:
        raise FileError(f"cannot open {path}: no such file") from None
    except OSError as e:
        raise FileError(f"cannot open {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(before.st_mode):
        raise FileError(f"cannot open {path}: is a directory")
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise FileError(f"cannot open {path}: no such file") from None
    except OSError as e:
        raise FileError(f"cannot open {path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
            raise FileError(f"refusing to open {path}: it changed while it was opened")
        _refuse(path, st, fs_magic(fd), False, host_ok)
        if not stat.S_ISREG(st.st_mode):
            raise FileError(f"refusing to open {path}: not a regular file")
        os.set_blocking(fd, True)  # a regular file never blocks; reads are plain again
    except BaseException:
        os.close(fd)
        raise
    return fd


def iter_lines(text: str) -> Iterator[str]:
    """The lines of a text, one at a time, split where ``split_lines`` splits (LF, CRLF, CR;
    never at VT, FF, NEL or U+2028 inside a name): a script of 100,000 commands is not held a
    second time as a list of lines while it runs."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    pos, n = 0, len(text)
    while pos < n:
        nl = text.find("\n", pos)
        if nl < 0:
            nl = n
        yield text[pos:nl]
        pos = nl + 1


def read_bytes(path: str, limit: int, host_ok: bool = False) -> bytes:
    """The bytes of a regular file, refused (FileError) past ``limit`` bytes."""
    fd = _open_checked(path, host_ok)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise FileError(
                f"{path}: file is {size // MiB} MiB, more than the {limit // MiB} MiB limit"
            )
        chunks: list[bytes] = []
        total = 0
        while total <= limit:  # procfs files report size 0: read to the end, bounded
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as e:
        raise FileError(f"cannot read {path}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if total > limit:  # grew while we read
        raise FileError(f"{path}: more than the {limit // MiB} MiB limit")
    return b"".join(chunks)


def read_text(path: str, what: str = "file", limit: int = MAX_TEXT_BYTES) -> str:
    """A UTF-8 text file (a leading byte-order mark dropped), errors as one-line FileErrors."""
    data = read_bytes(path, limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1  # where, as a scenario's errors say it
        raise FileError(
            f"{path}:{line}: not a text {what} (byte 0x{data[e.start]:02x} is not UTF-8)"
        ) from None
    return text.removeprefix("\ufeff")


def split_lines(text: str) -> list[str]:
    """Lines of a text file: split at LF, CRLF and CR only. ``str.splitlines`` also splits at
    VT, FF, FS/GS/RS, NEL, U+2028 and U+2029, so a name holding one of those would turn
    into a line of its own."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def stdin_lines(
    stream: IO[Any], source: str = "<stdin>", max_line: int = MAX_LINE_BYTES
) -> Iterator[str]:
    """Lines of a stream (stdin of ``run`` and of the REPL without a terminal), each at most
    ``max_line`` bytes and all together at most ``MAX_STDIN_BYTES``: ``run < /dev/zero``
    is an error, not a MemoryError. Bytes that are not UTF-8 become U+FFFD."""
    raw = getattr(stream, "buffer", stream)
    total = 0
    n = 0
    while True:
        line = raw.readline(max_line + 1)
        if not line:
            return
        n += 1
        total += len(line)
        if isinstance(line, bytes):
            text = line.decode("utf-8", "replace")
        else:
            text = line
        body = text.rstrip("\r\n")
        if len(line) > max_line and len(body) == len(text):
            raise FileError(
                f"{source}:{n}: line longer than {max_line // 1024} KiB "
                "(not a command file? every command is one short line)"
            )
        if total > MAX_STDIN_BYTES:
            raise FileError(f"{source}: more than {MAX_STDIN_BYTES // MiB} MiB of commands")
        yield body


# ----------------------------------------------------------------------------- sessions
def load_session(path: str) -> Machine:
    """``open FILE``: a new Machine from a saved session, errors naming the path."""
    return _session_from(path, read_text(path, "session file", MAX_SESSION_BYTES))


def _session_from(path: str, text: str) -> Machine:
    try:
        return session_json.loads(text)
    except session_json.StateError as e:
        raise session_json.StateError(f"{path}: {e}") from None


def save_session(machine: Machine, path: str) -> None:
    """``save FILE``: the whole session as JSON, written atomically."""
    check_target(path)  # before serializing: a big map takes a second
    write_atomic(path, session_json.dumps(machine))


# ----------------------------------------------------------------------------- writing
TEMP_PREFIX = ".devmem-tui-"
TEMP_SUFFIX = ".tmp"
STALE_TEMP_SECONDS = 24 * 3600  # a temp file without a pid in its name is stale after this


def write_target(path: str) -> str:
    """Where writing ``path`` lands: a symlink is written through to the file it names (so
    the link stays a link and its target is the file that changes)."""
    return os.path.realpath(path) if os.path.islink(path) else path


def check_target(path: str) -> str:
    """Refuse a path ``write_atomic`` could not write, with the message the write would give,
    before anything is made to write there (a session of a 100,000-resource map takes a second
    to serialize). Returns the directory the file goes to (a symlink's target's)."""
    check_path(path, writing=True)
    target = write_target(path)
    if os.path.isdir(target):
        raise FileError(f"cannot write {path}: is a directory")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise FileError(f"cannot write {path}: {os.strerror(errno.ENOENT)}")
    return directory


def write_atomic(path: str, text: str) -> None:
    """Write text to path through a temp file in the same directory and os.replace, so a
    crash or a full disk never leaves a half-written file behind. A symlink is written
    through to its target; temp files that a killed save left in the directory are removed."""
    directory = check_target(path)
    target = write_target(path)
    remove_stale_temps(directory)
    fd = -1
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX, dir=directory
        )
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
        tmp = ""
    except OSError as e:
        raise FileError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def remove_stale_temps(directory: str) -> list[str]:
    """Remove the temp files of saves that were killed before their rename: ours (owned by
    this user), named ``.devmem-tui-PID-*.tmp`` with no process PID alive any more (or,
    without a pid, a day old). Returns the names removed."""
    removed: list[str] = []
    try:
        names = [
            n
            for n in os.listdir(directory)
            if n.startswith(TEMP_PREFIX) and n.endswith(TEMP_SUFFIX)
        ]
    except OSError:
        return removed
    for name in names:
        full = os.path.join(directory, name)
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            continue
        pid_text = name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit():
            stale = not pid_alive(int(pid_text))
        else:
            stale = time.time() - st.st_mtime > STALE_TEMP_SECONDS
        if stale:
            try:
                os.unlink(full)
                removed.append(name)
            except OSError:
                pass
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process pid may still be running (someone else's process, or a value that is
    not a pid, counts as alive: its files are left alone)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or not a pid): leave its file alone
    return True


def _file_mode(path: str) -> int:
    """mkstemp makes 0600 files; keep an existing file's mode, else follow the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def append_text(path: str, text: str) -> None:
    """Append to a regular file (creating it), checked like every open: ``record``'s lines,
    the REPL history, the autosave journal."""
    check_path(path, writing=True)
    try:
        fd = os.open(write_target(path), _APPEND_FLAGS, 0o666)
    except OSError as e:
        raise FileError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        _refuse(path, st, fs_magic(fd), True, False)
        if not stat.S_ISREG(st.st_mode):
            raise FileError(f"cannot write {path}: not a regular file")
        os.set_blocking(fd, True)
        data = text.encode("utf-8", "replace")
        while data:
            n = os.write(fd, data)
            data = data[n:]
    except OSError as e:
        raise FileError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def exists_nonempty(path: str) -> bool:
    """True when path (through symlinks) is a file with something in it."""
    try:
        return os.stat(path).st_size > 0
    except OSError:
        return False


# ----------------------------------------------------------------------------- /proc/iomem texts


def read_iomem(path: str) -> str:
    """The text of a saved /proc/iomem (or the running kernel's own, ``HOST_TEXT_FILES``),
    refusing files over ``iomem_text.MAX_INPUT_BYTES`` before reading them."""
    return iomem_text.decode(_read_limited(path, host_ok=True), path)


def read_snapshot(path: str) -> Snapshot:
    """``load snapshot FILE``: a parsed snapshot (engine/snapshot/format.py), with the size
    limit of /proc/iomem texts; errors name the file (and line)."""
    return snapshot_format.parse(snapshot_format.decode(_read_limited(path), path), path)


def load_document(path: str) -> Machine | Snapshot:
    """``open FILE``: a saved session (a new Machine), or a parsed snapshot when the file is
    one (it starts ``devmem-tui snapshot``)."""
    try:
        text = read_text(path, "session file", MAX_SESSION_BYTES)
    except FileError:
        if _head(path).startswith(snapshot_format.MAGIC.encode()):
            return read_snapshot(path)  # a snapshot that is not UTF-8: say where
        raise
    if snapshot_format.is_snapshot(text):
        if len(text) > iomem_text.MAX_INPUT_BYTES:
            raise FileError(f"{path}: more than the {iomem_text.MAX_INPUT_BYTES // MiB} MiB limit")
        return snapshot_format.parse(text, path)
    return _session_from(path, text)


def _head(path: str) -> bytes:
    """The first bytes of a file that read_text refused, for telling what it is (nothing for
    a file the guard refuses: that is never opened)."""
    try:
        fd = _open_checked(path)
    except FileError:
        return b""
    try:
        return os.read(fd, len(snapshot_format.MAGIC) + 3).lstrip(b"\xef\xbb\xbf")
    except OSError:
        return b""
    finally:
        os.close(fd)


def _read_limited(path: str, host_ok: bool = False) -> bytes:
    """The bytes of a user's file of at most ``iomem_text.MAX_INPUT_BYTES``, refused by size
    before it is read, errors worded as a /proc/iomem reader words them."""
    limit = iomem_text.MAX_INPUT_BYTES
    try:
        return read_bytes(path, limit, host_ok=host_ok)
    except FileError as e:
        msg = str(e)
        for prefix in (f"cannot open {path}: ", f"cannot read {path}: "):
            if msg.startswith(prefix):
                reason = msg[len(prefix) :]
                if reason == "no such file":
                    reason = os.strerror(errno.ENOENT)
                raise FileError(f"{path}: cannot read: {reason}") from None
        if msg.startswith(f"{path}: file is "):
            raise FileError(f"{msg} (a real /proc/iomem is a few KiB)") from None
        raise


def load_iomem(path: str) -> ResourceTree:
    """``read_iomem`` + ``iomem_text.parse``, errors naming the path."""
    return iomem_text.parse(read_iomem(path), source=path)
