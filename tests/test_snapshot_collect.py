"""`devmem-tui snapshot`: what it reads and what it never opens, its command line, and the
one-liner that pipes a snapshot into `run`."""

from __future__ import annotations

import builtins
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_snapshot_machines import ROOTS

from devmem_tui.engine.snapshot import format as fmt
from devmem_tui.frontends import cli
from devmem_tui.snapshot import collect as collect_mod
from devmem_tui.snapshot.collect import ALLOWED, CollectError, collect

NEVER = ("/dev/mem", "/dev/kmem", "/dev/port", "/proc/kcore", "/dev/kmsg", "/proc/kmsg")


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path opened (os.open and open), resolved; raises on the never-opened ones."""
    seen: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def resolve(path: Any, dir_fd: int | None) -> str:
        text = os.fsdecode(path)
        if dir_fd is not None and not os.path.isabs(text):
            text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
        return os.path.realpath(text)

    def guarded_os_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None):  # type: ignore[no-untyped-def]
        real = resolve(path, dir_fd)
        seen.append(real)
        assert real not in NEVER, real
        return real_os_open(path, flags, mode, dir_fd=dir_fd)

    def guarded_open(file: Any, *args: Any, **kw: Any) -> Any:
        if not isinstance(file, int):
            real = resolve(file, None)
            seen.append(real)
            assert real not in NEVER, real
        return real_open(file, *args, **kw)

    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    yield seen


def _relative_to(path: str, root: Path) -> str:
    return os.path.relpath(path, os.path.realpath(root))


@pytest.mark.parametrize("name", ["qemu-debian61", "server-cxl-kmem", "arm64-guest", "no-config"])
def test_only_the_listed_text_files_are_opened(name: str, opened: list[str]) -> None:
    root = ROOTS / name
    collect(str(root))
    files = [p for p in opened if not os.path.isdir(p)]
    assert files, "nothing read"
    assert all(ALLOWED.fullmatch(_relative_to(p, root)) for p in files), files
    assert any(p.endswith("/proc/iomem") for p in files)


def test_a_real_snapshot_opens_only_the_listed_files(opened: list[str]) -> None:
    try:
        collect("/")
    except CollectError as e:  # not root, or a machine without /proc/iomem
        pytest.skip(str(e))
    files = [p for p in opened if not os.path.isdir(p)]
    assert all(ALLOWED.fullmatch(p.lstrip("/")) for p in files), files


def _hostile_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(ROOTS / "qemu-debian61", root, symlinks=True)
    return root


@pytest.mark.parametrize(
    ("rel", "target", "problem"),
    [
        ("proc/iomem", "/dev/mem", "it leads to /dev/mem"),
        ("proc/cpuinfo", "/proc/kcore", "it leads to /proc/kcore"),
        ("sys/kernel/security/lockdown", "/dev/kmsg", "it leads to /dev/kmsg"),
        ("boot/config-6.1.0-18-amd64", "/dev/port", "it leads to /dev/port"),
        ("proc/version", "../../../../../../../../etc/passwd", "it leads to /etc/passwd"),
        ("proc/cmdline", "/proc/self/mem", "which is not one of the text files"),
    ],
)
def test_links_out_of_the_list_are_refused_before_opening(
    tmp_path: Path, opened: list[str], rel: str, target: str, problem: str
) -> None:
    root = _hostile_root(tmp_path)
    (root / rel).unlink()
    (root / rel).symlink_to(target)
    with pytest.raises(CollectError) as e:
        collect(str(root))
    assert f"refusing to read {root}/{rel}: " in str(e.value) and problem in str(e.value)
    assert "\n" not in str(e.value)
    assert os.path.realpath(target) not in opened


def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    root = _hostile_root(tmp_path)
    (root / "proc" / "cmdline").unlink()
    os.mkfifo(root / "proc" / "cmdline")
    with pytest.raises(CollectError, match=r"proc/cmdline: not a regular file$"):
        collect(str(root))


def test_a_kernel_file_mounted_at_a_listed_name_is_refused_before_opening(
    tmp_path: Path, opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bind mount keeps the inode number: a file with /proc/kcore's is never opened."""
    root = _hostile_root(tmp_path)
    opened.clear()  # the copy opened its files
    version = root / "proc" / "version"
    monkeypatch.setattr(
        collect_mod, "forbidden_inodes", lambda: {version.stat().st_ino: "/proc/kcore"}
    )
    with pytest.raises(CollectError) as e:
        collect(str(root))
    assert str(e.value) == (
        f"refusing to read {root}/proc/version: it is the kernel's /proc/kcore (mounted there?)"
    )
    assert str(version) not in opened


def test_a_real_bind_mount_of_a_kernel_file_is_refused(tmp_path: Path) -> None:
    """The same with a real bind mount, in a private mount namespace (root, util-linux)."""
    kernel_file = next((p for p in collect_mod.PROC_FORBIDDEN if os.path.exists(p)), None)
    if os.geteuid() != 0 or kernel_file is None or shutil.which("unshare") is None:
        pytest.skip("needs root, unshare(1) and /proc/kcore or /proc/kmsg")
    root = _hostile_root(tmp_path)
    target = root / "proc" / "version"
    script = (
        "import sys\n"
        "from devmem_tui.snapshot.collect import CollectError, collect\n"
        "try:\n"
        f"    collect({str(root)!r})\n"
        "except CollectError as e:\n"
        "    print(e)\n"
        "    sys.exit(3)\n"
    )
    p = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            'mount --bind "$1" "$2" && exec "$3" -c "$4"',
            "sh",
            kernel_file,
            str(target),
            sys.executable,
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if p.returncode not in (0, 3):
        pytest.skip(f"no private mount namespace here: {p.stderr.strip()[:200]}")
    assert p.returncode == 3, p.stdout + p.stderr
    assert p.stdout.strip() == (
        f"refusing to read {target}: it is the kernel's {kernel_file} (mounted there?)"
    )


def test_a_memory_block_file_linking_out_is_refused(tmp_path: Path) -> None:
    root = _hostile_root(tmp_path)
    state = root / "sys/devices/system/memory/memory32/state"
    state.unlink()
    state.symlink_to("/dev/mem")
    with pytest.raises(CollectError, match="memory32/state: not a regular file$"):
        collect(str(root))


def test_a_memory_block_directory_linking_out_is_skipped(tmp_path: Path) -> None:
    root = _hostile_root(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(root / "sys/devices/system/memory/memory33", elsewhere)
    shutil.rmtree(root / "sys/devices/system/memory/memory33")
    (root / "sys/devices/system/memory/memory33").symlink_to(elsewhere)
    snap = collect(str(root)).snapshot
    assert [b.block for b in snap.blocks][-2:] == [15, 32]


def test_a_path_off_the_list_is_refused_by_the_reader(tmp_path: Path) -> None:
    reader = collect_mod.Reader(str(ROOTS / "qemu-debian61"))
    for rel in ("proc/kcore", "dev/mem", "proc/self/mem", "proc/../proc/iomem", "etc/shadow"):
        with pytest.raises(CollectError, match="not on the snapshot's list"):
            reader.read(rel)


# ----------------------------------------------------------------------------- command line
def main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_snapshot_to_a_file_and_to_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = str(ROOTS / "qemu-debian61")
    target = tmp_path / "box.snap"
    code, out, err = main(capsys, "snapshot", "--root", root, "-o", str(target))
    assert code == 0 and out == ""
    assert err.startswith(f"devmem-tui: wrote {target}: a snapshot of debian-guest, kernel ")
    assert err.endswith(f"open it with: devmem-tui open {target}\n")
    code, out, err = main(capsys, "snapshot", "--root", root)
    assert code == 0 and err == ""
    assert fmt.parse(out) == fmt.parse(target.read_text())
    code, out, _ = main(capsys, "run", "-c", f"open {target}", "-c", "iomem 0x100000000+4G")
    assert code == 0
    assert out.endswith(
        "> iomem 0x100000000+4G\n100000000-1ffffffff : virtio0\n"
        "  100000000-10fffffff : System RAM (virtio_mem)\n"
    )


def test_without_root_nothing_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "box.snap"
    code, out, err = main(capsys, "snapshot", "--root", str(ROOTS / "nonroot"), "-o", str(target))
    assert code == 2 and out == "" and not target.exists()
    assert err.count("\n") == 1 and err.endswith(
        "run it again as root: sudo devmem-tui snapshot; nothing was written\n"
    )


def test_with_log_reads_a_saved_log_through_the_path_guard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = str(ROOTS / "arm64-guest")
    code, out, _ = main(
        capsys, "snapshot", "--root", root, "--with-log", str(ROOTS / "arm64-guest.dmesg")
    )
    assert code == 0 and "virtio1.requested_size: 0x80000000" in out
    code, out, err = main(capsys, "snapshot", "--root", root, "--with-log", "/dev/kmsg")
    assert code == 2 and out == ""
    assert err == "devmem-tui: error: refusing to open /dev/kmsg: a device node, not a file\n"


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--kernel", "5.15", "snapshot"], "--kernel does not apply to 'snapshot'"),
        (["snapshot", "--root", "/nonexistent"], "--root /nonexistent: not a directory"),
        (
            ["--machine", "qemu-x86", "--snapshot", "x.snap", "run", "-c", "iomem"],
            "--machine and --snapshot both choose the machine; give one",
        ),
        (["run", "--snapshot", "-"], "--snapshot - reads the snapshot from stdin"),
        (
            ["run", "--snapshot", "/nonexistent.snap", "-c", "iomem"],
            "--snapshot: /nonexistent.snap",
        ),
    ],
)
def test_command_line_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    code, out, err = main(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"devmem-tui: error: {problem}"), err


def test_snapshot_options_override_what_the_snapshot_says(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "box.snap"
    main(capsys, "snapshot", "--root", str(ROOTS / "qemu-debian61"), "-o", str(target))
    code, out, err = main(
        capsys, "--snapshot", str(target), "--io-strict-devmem", "off", "run", "-c", "config"
    )
    assert code == 0, err
    assert "  io_strict_devmem  option --io-strict-devmem\n" in out
    assert (
        f"  strict_devmem     snapshot {target}: kernel config /boot/config-6.1.0-18-amd64" in out
    )
    assert err.startswith(f"devmem-tui: opened {target}: a snapshot of debian-guest taken ")


def _cli(*argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devmem_tui.frontends.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        **kw,
    )


def test_the_one_liner_pipes_a_snapshot_into_run() -> None:
    """`devmem-tui snapshot -o - | devmem-tui run --snapshot - -c 'sweep read'`, as the README
    shows."""
    root = ROOTS / "server-cxl-kmem"
    taken = _cli("snapshot", "--root", str(root), "-o", "-")
    assert taken.returncode == 0, taken.stderr
    ran = _cli(
        "run",
        "--snapshot",
        "-",
        "-c",
        "iomem; config; sweep read; set lockdown none; sweep read 0xfec00000-0xfec003ff",
        input=taken.stdout,
    )
    assert ran.returncode == 0, ran.stderr
    iomem = (root / "proc" / "iomem").read_text()
    assert ran.stdout.startswith("> iomem\n" + iomem + "> config\n")
    assert (
        "  iomem             snapshot <stdin>: kernel command line: iomem=relaxed\n" in ran.stdout
    )
    # the whole machine at once: Secure Boot's lockdown refuses open() before anything else
    sweep = "sweep read 0x0-0x3fffffffffff under 6.8.12 x86_64 SI iomem=relaxed lockdown=integrity"
    assert f"> sweep read\n{sweep}: 1 range\n" in ran.stdout
    assert "total: 64T EPERM\n" in ran.stdout
    # beneath it, IO_STRICT_DEVMEM with iomem=relaxed: the claimed IOAPIC is readable
    assert "0x00000000fec00000-0x00000000fec003ff  1K  OK " in ran.stdout
    assert ran.stderr.startswith("devmem-tui: opened <stdin>: a snapshot of cxl-server-01 taken ")
    assert "devmem-tui: warning: that kernel runs with lockdown=integrity (" in ran.stderr


# ----------------------------------------------------------------------------- README
README = Path(__file__).resolve().parent.parent / "README.md"
SNAPSHOT_BLOCK = re.compile(r"```\n\$ devmem-tui run --snapshot (\S+) -c '([^']*)'\n(.*?)```", re.S)


def test_the_readme_snapshot_blocks_are_what_run_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's `run --snapshot FILE -c '...'` blocks: the notes (stderr) then the
    transcript (stdout), exactly, where a line that is only '...' stands for lines left out."""
    from test_readme_tour import fits

    blocks = SNAPSHOT_BLOCK.findall(README.read_text())
    assert blocks
    monkeypatch.chdir(README.parent)
    for path, commands, expected in blocks:
        code = cli.main(["run", "--snapshot", path, "-c", commands])
        out, err = capsys.readouterr()
        assert code == 0, err
        got = (err + out).rstrip("\n").split("\n")
        assert fits(expected.rstrip("\n").split("\n"), got), "\n".join(got)


def test_control_characters_read_from_the_machine_are_written_escaped(tmp_path: Path) -> None:
    """A host name is whatever sethostname() was given: the snapshot writes its control
    characters as \\xNN, so the file stays one line per value and opens."""
    root = _hostile_root(tmp_path)
    (root / "proc/sys/kernel/hostname").write_text("evil\x1b]0;pwned\x07box\n")
    text = fmt.render(collect(str(root)).snapshot)
    assert "host: evil\\x1b]0;pwned\\x07box\n" in text and "\x1b" not in text
    snap = fmt.parse(text)
    from devmem_tui.engine.snapshot import build

    assert build.build(snap).machine.name == "evil-x1b-0-pwned-x07box"


def test_with_log_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    log = (ROOTS / "qemu-debian61.journal").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(log))
    code, out, _ = main(
        capsys, "snapshot", "--root", str(ROOTS / "qemu-debian61"), "--with-log", "-"
    )
    assert code == 0 and "virtio0.requested_size: 0x10000000\n" in out
    assert "# from the driver's lines in stdin;" in out


def test_the_wrote_line_shows_a_hostile_host_name_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = _hostile_root(tmp_path)
    (root / "proc/sys/kernel/hostname").write_text("evil\n[iomem]\x1b[2J\n")
    target = tmp_path / "h.snap"
    code, _, err = main(capsys, "snapshot", "--root", str(root), "-o", str(target))
    assert code == 0 and "\x1b" not in err and err.count("\n") == 1, err
    assert "a snapshot of evil\\x0a[iomem]\\x1b[2J, kernel 6.1.0-18-amd64" in err


def test_anonymous_names_the_log_by_its_file_name_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = ROOTS / "qemu-debian61.journal"
    root = str(ROOTS / "qemu-debian61")
    _, out, _ = main(capsys, "snapshot", "--root", root, "--with-log", str(log), "--anonymous")
    assert "# from the driver's lines in qemu-debian61.journal;" in out
    assert str(ROOTS) not in out
    _, out, _ = main(capsys, "snapshot", "--root", root, "--with-log", str(log))
    assert f"# from the driver's lines in {log};" in out
