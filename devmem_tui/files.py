"""Every file devmem-tui reads or writes goes through here: the path guard that keeps the real
kernel memory interfaces out of reach, bounded text reads with one-line errors, and atomic writes.

The engine never touches files (it parses and renders text); commands and front ends call these.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator

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


def check_path(path: str, writing: bool = False) -> None:
    """Refuse, with a one-line FileError, a user-given path that devmem-tui must not open: one
    with a NUL byte, a real kernel memory interface (or a link to one), any device node, and,
    for writing, any existing file that is not a regular file or a directory."""
    if "\0" in path:
        raise FileError(f"bad file name {path!r}: it contains a NUL byte")
    real = os.path.realpath(path)
    if real in KERNEL_INTERFACES:
        raise FileError(
            f"refusing to open {path}"
            + (f" ({real})" if real != path else "")
            + ": devmem-tui simulates the kernel's memory interfaces and never "
            "touches the real ones"
        )
    try:
        mode = os.stat(real).st_mode
    except (OSError, ValueError):
        return  # missing or unreadable: opening it reports that
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise FileError(
            f"refusing to {'write' if writing else 'open'} {path}: a device node, not a file"
        )
    if writing and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise FileError(f"cannot write {path}: not a regular file")


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


def read_text(path: str, what: str = "file") -> str:
    """Read a text file, turning OS and encoding errors into one-line DevmemErrors."""
    check_path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise FileError(f"cannot open {path}: no such file") from None
    except IsADirectoryError:
        raise FileError(f"cannot open {path}: is a directory") from None
    except UnicodeDecodeError:
        raise FileError(f"{path} is not a text {what} (not UTF-8)") from None
    except OSError as e:
        raise FileError(f"cannot open {path}: {e.strerror or e}") from None


# Line breaks str.splitlines() knows besides \n and \r (a text with one is split the slow way)
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def iter_lines(text: str) -> Iterator[str]:
    """``text.splitlines()``, one line at a time: a script of 100,000 commands is not held a
    second time as a list of lines while it runs (the same lines, so the same line numbers)."""
    if _OTHER_BREAKS.search(text) or text.count("\r") != text.count("\r\n"):
        yield from text.splitlines()
        return
    crlf = "\r" in text
    pos, n = 0, len(text)
    while pos < n:
        nl = text.find("\n", pos)
        if nl < 0:
            nl = n
        line = text[pos:nl]
        yield line[:-1] if crlf and line.endswith("\r") else line
        pos = nl + 1


def load_session(path: str) -> Machine:
    """A new Machine from a saved session, errors naming the path."""
    return _session_from(path, read_text(path, "session file"))


def _session_from(path: str, text: str) -> Machine:
    try:
        return session_json.loads(text)
    except session_json.StateError as e:
        raise session_json.StateError(f"{path}: {e}") from None


def check_target(path: str) -> str:
    """Refuse a path ``write_atomic`` could not write, with the message the write would give,
    before anything is made to write there (a session of a 100,000-resource map takes a second
    to serialize). Returns the directory the file goes to."""
    check_path(path, writing=True)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise FileError(f"cannot write {path}: is a directory")
    if not os.path.isdir(directory):
        raise FileError(f"cannot write {path}: {os.strerror(errno.ENOENT)}")
    return directory


def write_atomic(path: str, text: str) -> None:
    """Write text to path through a temp file in the same directory and os.replace, so a
    crash or a full disk never leaves a half-written file behind."""
    directory = check_target(path)
    fd = -1
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".devmem-tui-", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
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


def _file_mode(path: str) -> int:
    """mkstemp makes 0600 files; keep an existing file's mode, else follow the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def save_session(machine: Machine, path: str) -> None:
    """``save FILE``: the whole session as JSON, written atomically."""
    check_target(path)
    write_atomic(path, session_json.dumps(machine))


ONE_MIB = 1 << 20


def read_iomem(path: str) -> str:
    """The text of a saved /proc/iomem, refusing files over ``iomem_text.MAX_INPUT_BYTES``
    before reading them."""
    return iomem_text.decode(_read_limited(path), path)


def read_snapshot(path: str) -> Snapshot:
    """``load snapshot FILE``: a parsed snapshot (engine/snapshot/format.py), with the size
    limit of /proc/iomem texts; errors name the file (and line)."""
    return snapshot_format.parse(snapshot_format.decode(_read_limited(path), path), path)


def load_document(path: str) -> Machine | Snapshot:
    """``open FILE``: a saved session (a new Machine), or a parsed snapshot when the file is
    one (it starts ``devmem-tui snapshot``)."""
    try:
        text = read_text(path, "session file")
    except FileError:
        if _head(path).startswith(snapshot_format.MAGIC.encode()):
            return read_snapshot(path)  # a snapshot that is not UTF-8: say where
        raise
    if snapshot_format.is_snapshot(text):
        if len(text) > iomem_text.MAX_INPUT_BYTES:
            raise FileError(
                f"{path}: more than the {iomem_text.MAX_INPUT_BYTES // ONE_MIB} MiB limit"
            )
        return snapshot_format.parse(text, path)
    return _session_from(path, text)


def _head(path: str) -> bytes:
    """The first bytes of a file that read_text refused, for telling what it is (nothing for
    a file the path guard refuses: that is never opened)."""
    try:
        check_path(path)
        with open(path, "rb") as fh:
            return fh.read(len(snapshot_format.MAGIC) + 3).lstrip(b"\xef\xbb\xbf")
    except (OSError, FileError):
        return b""


def _read_limited(path: str) -> bytes:
    """The bytes of a user's file of at most ``iomem_text.MAX_INPUT_BYTES``, refused by size
    before it is read."""
    check_path(path)
    limit = iomem_text.MAX_INPUT_BYTES
    try:
        size = os.stat(path).st_size
        if size > limit:
            raise FileError(
                f"{path}: file is {size // ONE_MIB} MiB, more than the "
                f"{limit // ONE_MIB} MiB limit (a real /proc/iomem is a few KiB)"
            )
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise FileError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > limit:  # grew while we looked, or a pipe/device
        raise FileError(f"{path}: more than the {limit // ONE_MIB} MiB limit")
    return data


def load_iomem(path: str) -> ResourceTree:
    """``read_iomem`` + ``iomem_text.parse``, errors naming the path."""
    return iomem_text.parse(read_iomem(path), source=path)
