"""Kernel versions as real machines report them, and the stable backports that move a rule.

``parse_kernel(text)`` reads what a user has at hand: ``6.1`` (a line's first release,
6.1.0), ``6.1.100``, a ``uname -r`` string (``6.12.118+deb13-amd64`` -> 6.12.118) or a whole
``/proc/version`` line. A distribution ABI name such as Debian's ``6.1.0-56-amd64`` (or
Ubuntu's ``5.15.0-105-generic``, RHEL's ``4.18.0-553.el8_10.x86_64``) carries an ABI number,
not the sub-level: it is taken as the line's first release with a one-line warning that says
where the real sub-level is (Debian prints it at the end of ``/proc/version``: ``Debian
6.1.192-2``, which ``parse_kernel`` reads when the whole line is given).

``Backport`` is a version boundary that moved into stable lines: a kernel has the change from
its mainline release on, or in a listed stable line from the first sub-level that carries it.
Each table in config.py names the commit and says how its sub-levels were established.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from devmem_tui.engine.errors import DevmemError, quoted

MAX_SUBLEVEL = 999  # stable lines have gone past 300 (4.19.325); 999 leaves room, catches typos

# X.Y[.Z] and what follows it in a release string: "6.12.118+deb13-amd64", "6.1.0-56-amd64"
_RELEASE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(\S*)")
# /proc/version: "Linux version 6.1.0-56-amd64 (...) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (...)"
_PROC_VERSION = re.compile(r"Linux version (\S+)")
_DEBIAN = re.compile(r"\bDebian (\d+)\.(\d+)\.(\d+)-\S+")
# /proc/version_signature (Ubuntu): "Ubuntu 5.15.0-105.115-generic 5.15.149"
_UBUNTU_SIGNATURE = re.compile(r"Ubuntu \S+ (\d+)\.(\d+)\.(\d+)\s*$")
# a distribution ABI name: X.Y.0 followed by -<number> (Debian, Ubuntu, RHEL, SUSE's -default)
_ABI_SUFFIX = re.compile(r"-\d+")

ABI_WHERE = (
    "the real sub-level is at the end of /proc/version on Debian ('Debian {0}.{1}.N-M'), in "
    "/proc/version_signature on Ubuntu, or in the kernel package's version"
)


@dataclass(frozen=True)
class KernelVersion:
    """A parsed kernel version: ``text`` is the canonical X.Y.Z; ``warning`` (one line) says
    when the sub-level could not be known and X.Y.0 was taken instead; ``origin`` says where
    a sub-level came from when it was not in the release string itself."""

    major: int
    minor: int
    sub: int
    warning: str = ""
    origin: str = ""

    @property
    def text(self) -> str:
        return f"{self.major}.{self.minor}.{self.sub}"


def _checked(major: int, minor: int, sub: int, text: str) -> None:
    if not (3 <= major <= 7) or minor > 99:
        raise DevmemError(f"kernel version {text!r} is outside 3.0 .. 7.x")
    if sub > MAX_SUBLEVEL:
        raise DevmemError(f"kernel version {text!r}: sub-level {sub} is not a stable release")


_LONG_NUMBER = re.compile(r"\d{10,}")


def parse_kernel(text: str) -> KernelVersion:
    """X.Y, X.Y.Z, a ``uname -r`` string or a ``/proc/version`` line -> KernelVersion.
    DevmemError (one line) for anything else."""
    raw = " ".join(text.split())
    if not raw:
        raise DevmemError("kernel version is empty (e.g. 6.1, 6.1.100, 6.12.118+deb13-amd64)")
    if _LONG_NUMBER.search(raw):  # before int(): it refuses 4301 digits with a ValueError
        raise DevmemError(
            f"kernel version {quoted(text.strip())} has a number too long for a version"
        )
    release = raw
    proc = _PROC_VERSION.search(raw)
    ubuntu = _UBUNTU_SIGNATURE.fullmatch(raw)
    if ubuntu:  # /proc/version_signature: the upstream version is its last word
        major, minor, sub = (int(g) for g in ubuntu.groups())
        _checked(major, minor, sub, raw)
        return KernelVersion(major, minor, sub, origin="the upstream version in the signature")
    if proc:
        release = proc.group(1)
    m = _RELEASE.fullmatch(release) if " " not in release else None
    if m is None:
        raise DevmemError(
            f"kernel version {text.strip()!r} is not X.Y, X.Y.Z, a uname -r string or a "
            "/proc/version line (e.g. 6.1, 6.1.100, 6.12.118+deb13-amd64)"
        )
    major, minor = int(m.group(1)), int(m.group(2))
    sub = int(m.group(3)) if m.group(3) is not None else 0
    rest = m.group(4)
    _checked(major, minor, sub, release)
    if proc:
        # the compiler's version ("gcc-12 (Debian 12.2.0-14)") comes first: match the line
        for deb in _DEBIAN.finditer(raw):
            if (int(deb.group(1)), int(deb.group(2))) == (major, minor):
                sub = int(deb.group(3))
                _checked(major, minor, sub, raw)
                return KernelVersion(
                    major, minor, sub, origin=f"the Debian package version {deb.group(0)}"
                )
    if rest.startswith("-rc"):
        return KernelVersion(
            major, minor, 0, warning=f"{release} is a release candidate: taken as {major}.{minor}.0"
        )
    if m.group(3) is None:
        if rest:
            raise DevmemError(f"kernel version {release!r}: expected X.Y.Z after X.Y")
        return KernelVersion(major, minor, 0)
    if sub == 0 and _ABI_SUFFIX.match(rest):
        hint = ""
        if proc and "#" not in raw:
            hint = ' (put the whole /proc/version line in "double quotes": # starts a comment)'
        return KernelVersion(
            major,
            minor,
            0,
            warning=f"{release} is a distribution ABI name, not a sub-level: taken as "
            f"{major}.{minor}.0; {ABI_WHERE.format(major, minor)}{hint}",
        )
    return KernelVersion(major, minor, sub)


@functools.lru_cache(maxsize=256)
def version_tuple(text: str) -> tuple[int, int, int]:
    """A canonical X.Y or X.Y.Z -> (X, Y, Z); the config keeps the canonical form.

    Cached (a pure function of an immutable str; errors are raised, never cached): every
    version switch reads ``KernelConfig.version`` (docs/performance.md)."""
    parts = text.strip().split(".")
    if not 2 <= len(parts) <= 3 or not all(
        p.isascii() and p.isdigit() and len(p) <= 9 for p in parts
    ):
        raise DevmemError(f"kernel version {text!r} is not X.Y or X.Y.Z (e.g. 6.1.100)")
    major, minor = int(parts[0]), int(parts[1])
    sub = int(parts[2]) if len(parts) == 3 else 0
    _checked(major, minor, sub, text)
    return major, minor, sub


@dataclass(frozen=True)
class Backport:
    """A change merged in mainline ``mainline`` (X, Y) and backported to stable lines:
    ``stable`` maps a line (X, Y) to the first sub-level that has the change."""

    commit: str
    mainline: tuple[int, int]
    stable: tuple[tuple[tuple[int, int], int], ...] = ()

    def has(self, version: tuple[int, int, int]) -> bool:
        line = version[:2]
        if line >= self.mainline:
            return True
        for stable_line, first in self.stable:
            if stable_line == line:
                return version[2] >= first
        return False

    def where(self) -> str:
        """'mainline 6.12; stable 6.1.113, 6.6.55': where the change is."""
        text = f"mainline {self.mainline[0]}.{self.mainline[1]}"
        if self.stable:
            text += "; stable " + ", ".join(f"{a}.{b}.{s}" for (a, b), s in self.stable)
        return text
