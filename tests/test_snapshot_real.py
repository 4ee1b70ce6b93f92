"""A snapshot of the machine the tests run on: taken, opened, and its `iomem` and `config`
checked against the real files. Skipped when not root or when /proc/iomem is unreadable (or
shows zeros); it checks only what it reads, so it holds on any machine."""

from __future__ import annotations

import os

import pytest

from devmem_tui.commands.session import Session
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.snapshot import format as fmt
from devmem_tui.snapshot.collect import collect


def _real_iomem() -> str:
    if os.geteuid() != 0:
        pytest.skip("not root: /proc/iomem shows zeros")
    try:
        with open("/proc/iomem", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        pytest.skip(f"/proc/iomem is unreadable: {e}")
    if not text.strip() or all(
        line.split(" : ")[0].strip() in ("00000000-00000000", "0000-0000")
        for line in text.splitlines()
    ):
        pytest.skip("/proc/iomem shows no addresses")
    return text


def test_a_snapshot_of_this_machine_opens_as_this_machine(tmp_path: os.PathLike[str]) -> None:
    iomem = _real_iomem()
    got = collect("/")
    path = os.path.join(tmp_path, "here.snap")
    with open(path, "w", encoding="utf-8") as f:
        f.write(fmt.render(got.snapshot))
    session = Session.new()
    r = session.execute(f"open {path}")
    assert r is not None, "open gave no result"
    if not r.ok:
        # A map this devmem-tui cannot read is the only acceptable failure, and the collector
        # said so when it took the snapshot.
        assert got.warnings and got.warnings[0].startswith("this /proc/iomem will not load")
        pytest.skip(r.message)
    shown = session.execute("iomem")
    assert shown is not None and shown.message == iomem.rstrip("\n")
    config = session.execute("config")
    assert config is not None
    release = os.uname().release
    kernel_source = next(
        line for line in config.message.splitlines() if line.startswith("  kernel ")
    )
    assert kernel_source.startswith(f"  kernel            snapshot {path}: ")
    assert release in kernel_source or "/proc/version" in kernel_source
    major, minor = release.split(".")[:2]
    minor = "".join(c for c in minor if c.isdigit())
    assert config.message.splitlines()[0].split()[1].startswith(f"{major}.{minor}")


def test_the_snapshot_names_the_running_kernel() -> None:
    _real_iomem()
    snap = collect("/").snapshot
    assert snap.kernel["release"].text == os.uname().release
    assert snap.kernel["arch"].text == os.uname().machine
    try:
        fmt.parse(fmt.render(snap))
    except DevmemError as e:  # pragma: no cover - would be a bug in render or parse
        pytest.fail(str(e))
