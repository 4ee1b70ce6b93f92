"""The simulator never touches the real kernel interfaces it models.

A tripwire patches ``builtins.open``, ``io.open``, ``os.open``, ``os.replace``/``os.rename``
(as targets) and ``pathlib.Path``'s open/read/write methods to record and raise (a
BaseException, so no ``except Exception`` in the code under test can swallow it) on /dev/mem,
/dev/kmem, /dev/port and /proc/kcore, by name or through a symlink. Under it: every lesson in
scenarios/, the whole failing-command corpus, and commands and CLI options that name those
files (refused by ``files.check_path``). A source scan checks that no open-like call in
devmem_tui/ names them.
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from safety_probe import ENV_PATHS
from test_transactions import BASES, LINES, base_session, fill

from devmem_tui import files
from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state
from devmem_tui.frontends import cli
from devmem_tui.frontends.play import play_scenario
from devmem_tui.scenario import script
from devmem_tui.snapshot import collect

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.scenario"))
FORBIDDEN = ("/dev/mem", "/dev/kmem", "/dev/port", "/proc/kcore")
COLLECTOR_ALLOWED = collect.ALLOWED
SNAPSHOT_ROOT = ROOT / "tests" / "fixtures" / "snapshot-roots" / "qemu-debian61"


class KernelInterfaceTouched(BaseException):
    """Raised by the tripwire; a BaseException so that handlers cannot turn it into an error
    line and hide it."""


def _forbidden(path: Any) -> str | None:
    if isinstance(path, int):
        return None
    try:
        text = os.fsdecode(path)
    except TypeError:
        return None
    if "\0" in text:
        return None
    for p in (text, os.path.abspath(text), os.path.realpath(text)):
        if p in FORBIDDEN:
            return p
    # any file of a kernel pseudo filesystem, wherever it is mounted (procfs at another
    # path, sysfs), and any device node: only /proc/iomem is read on purpose
    try:
        st = os.stat(text)
    except (OSError, ValueError):
        return None
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return text
    if stat.S_ISREG(st.st_mode) and files.fs_magic(text) in files.PSEUDO_FS:
        real = os.path.realpath(text)
        if os.path.basename(real) in files.HOST_TEXT_FILES and os.path.dirname(real) == "/proc":
            return None  # load iomem /proc/iomem
        if COLLECTOR_ALLOWED.fullmatch(real.lstrip("/")):
            return None  # `devmem-tui snapshot`'s reviewed list of files
        return text
    return None


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    attempts: list[str] = []

    def trip(path: Any) -> None:
        hit = _forbidden(path)
        if hit:
            attempts.append(hit)
            raise KernelInterfaceTouched(hit)

    real_open, real_os_open = builtins.open, os.open
    real_replace, real_rename = os.replace, os.rename

    def guarded_open(file: Any, *args: Any, **kw: Any) -> Any:
        trip(file)
        return real_open(file, *args, **kw)

    def guarded_os_open(path: Any, *args: Any, **kw: Any) -> Any:
        trip(path)
        return real_os_open(path, *args, **kw)

    def guarded_replace(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
        trip(dst)  # replacing the node is as bad as writing it
        real_replace(src, dst, *args, **kw)

    def guarded_rename(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
        trip(dst)
        real_rename(src, dst, *args, **kw)

    monkeypatch.setattr(os, "replace", guarded_replace)
    monkeypatch.setattr(os, "rename", guarded_rename)
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    for name in ("open", "read_bytes", "read_text", "write_bytes", "write_text"):
        real = getattr(pathlib.Path, name)

        def method(self: pathlib.Path, *args: Any, _real: Any = real, **kw: Any) -> Any:
            trip(self)
            return _real(self, *args, **kw)

        monkeypatch.setattr(pathlib.Path, name, method)
    yield attempts
    assert attempts == [], f"opened {attempts}"


# ----------------------------------------------------------------------------- the tripwire
def test_the_tripwire_fires(tripwire: list[str], tmp_path: Path) -> None:
    """Control: the patched functions do catch every way of naming the files."""
    link = tmp_path / "innocent.txt"
    link.symlink_to("/dev/mem")
    attempts = [
        lambda: open("/dev/mem", "rb"),
        lambda: io.open("/dev/port", "rb"),  # noqa: UP020 - the io name is patched too
        lambda: os.open("/dev/kmem", os.O_RDONLY),
        lambda: Path("/proc/kcore").read_bytes(),
        lambda: Path("/proc/kcore").read_text(),
        lambda: Path("/dev/mem").open("rb"),
        lambda: open(str(link), "rb"),
        lambda: open("/dev/../dev/mem", "rb"),
        lambda: os.replace(str(tmp_path / "x"), "/dev/mem"),
    ]
    for attempt in attempts:
        with pytest.raises(KernelInterfaceTouched):
            attempt()
    assert len(tripwire) == len(attempts)
    tripwire.clear()


def test_without_the_guard_open_would_read_procfs(
    tripwire: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control: the refusals below come from the file guard; without it `open` of a procfs
    file reaches open() (and the tripwire). (Only a read: a `save` there would create a temp
    file in /proc.)"""
    monkeypatch.setattr(files, "check_path", lambda path, writing=False, host_ok=False: None)
    monkeypatch.setattr(files, "_refuse", lambda *args: None)
    with pytest.raises(KernelInterfaceTouched):
        Session.new().execute("open /proc/self/status")
    assert tripwire == ["/proc/self/status"]
    tripwire.clear()


# ----------------------------------------------------------------------------- everything
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenarios_never_open_kernel_interfaces(tripwire: list[str], path: Path) -> None:
    scenario = script.load_scenario(str(path))
    out = io.StringIO()
    ran, failed, errors = play_scenario(scenario, Session.new(), out)
    assert ran == len(scenario.steps) and failed == 0 and errors == 0, out.getvalue()[-2000:]


def test_command_corpus_never_opens_kernel_interfaces(tripwire: list[str], tmp_path: Path) -> None:
    for base in ("fresh", "rich", "arm64"):
        assert base in BASES
        for line in LINES:
            session = base_session(base)
            session.execute(fill(line.text, tmp_path))


REFUSED_LINES = [
    "load iomem /dev/mem",
    "load iomem /proc/kcore",
    "load iomem /dev/../dev/port",
    "open /proc/kcore",
    "open /dev/kmem",
    "save /dev/mem",
    "export json /dev/kmem",
    "export iomem /dev/port",
    "export snapshot /dev/port",
    "load snapshot /dev/kmem",
    "load snapshot {tmp}/link-to-kcore",
    "record /dev/mem",
    "load iomem {tmp}/link-to-mem",
    "open {tmp}/link-to-kcore",
    "save {tmp}/link-to-mem",
    "record {tmp}/link-to-port",
]


def test_commands_that_name_kernel_interfaces_are_refused(
    tripwire: list[str], tmp_path: Path
) -> None:
    for name, target in (
        ("link-to-mem", "/dev/mem"),
        ("link-to-kcore", "/proc/kcore"),
        ("link-to-port", "/dev/port"),
    ):
        (tmp_path / name).symlink_to(target)
    session = base_session("rich")
    before = state.to_dict(session.machine)
    for line in REFUSED_LINES:
        text = line.format(tmp=tmp_path)
        r = session.execute(text)
        assert r is not None and not r.ok, text
        assert r.message.startswith("error: refusing to open "), (text, r.message)
        assert "never touches the real ones" in r.message and "\n" not in r.message
    assert state.to_dict(session.machine) == before
    assert session.recorder is None
    # the symlinks are still symlinks: nothing was written over them
    assert all((tmp_path / n).is_symlink() for n in ("link-to-mem", "link-to-port"))


def test_device_nodes_are_refused_too(tripwire: list[str]) -> None:
    """Any character device: `save /dev/null` would replace the node with a file (as root)."""
    session = Session.new()
    for line, word in (
        ("save /dev/null", "write"),
        ("export iomem /dev/null", "write"),
        ("load iomem /dev/zero", "open"),
        ("open /dev/null", "open"),
        ("record /dev/null", "write"),
    ):
        r = session.execute(line)
        assert r is not None and not r.ok
        assert (
            r.message == f"error: refusing to {word} /dev/{line.rsplit('/', 1)[1]}: "
            "a device node, not a file"
        ), r.message
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


@pytest.mark.parametrize("target", ["/proc/kcore", "/dev/mem", "/proc/self/status", "/proc"])
async def test_tui_and_repl_start_up_with_every_path_variable_pointed_at_the_kernel(
    tripwire: list[str], monkeypatch: pytest.MonkeyPatch, target: str, tmp_path: Path
) -> None:
    """Every environment variable the tool reads a path from, pointed at a kernel interface:
    the TUI starts (keymap, autosave, restore offer) and the REPL makes its history, and none
    of them is opened."""
    from devmem_tui.frontends.autosave import Autosave
    from devmem_tui.frontends.repl import make_history
    from devmem_tui.frontends.tui.app import DevmemApp

    for name in ENV_PATHS:
        monkeypatch.setenv(name, target)
    history = make_history()
    history.append_string("read 0x1000")
    app = DevmemApp(Session.new(), autosave=Autosave())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.run_command("vmem resize vmem0 1G")
        await pilot.pause()
    assert not os.path.exists(os.path.join(target, "devmem-tui"))


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "/dev/port"],
        ["run", "-c", "load iomem /dev/mem"],
        ["play", "/proc/kcore"],
        ["play", "--tui", "/dev/mem"],
        ["--iomem", "/dev/mem", "run", "-c", "iomem"],
        ["repl", "--iomem", "/proc/kcore"],
        ["--snapshot", "/dev/mem", "run", "-c", "iomem"],
        ["snapshot", "--root", str(SNAPSHOT_ROOT), "-o", "/dev/mem"],
        ["snapshot", "--root", str(SNAPSHOT_ROOT), "--with-log", "/proc/kcore"],
    ],
)
def test_cli_never_opens_kernel_interfaces(
    tripwire: list[str], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    text = out + err
    assert "refusing to open" in text, text
    assert "Traceback" not in text


def test_snapshot_of_a_root_linking_to_kernel_interfaces(
    tripwire: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`devmem-tui snapshot --root DIR` where the files it reads are links to the real
    interfaces: each is refused before it is opened, in one line, and nothing is written."""
    for target, rel in (
        ("/dev/mem", "proc/iomem"),
        ("/dev/kmem", "proc/cpuinfo"),
        ("/dev/port", "sys/kernel/security/lockdown"),
        ("/proc/kcore", "boot/config-6.1.0-18-amd64"),
        ("/dev/kmem", "sys/devices/system/memory/memory32/state"),
    ):
        root = tmp_path / target.replace("/", "_") / rel.replace("/", "_")
        shutil.copytree(SNAPSHOT_ROOT, root, symlinks=True)
        (root / rel).unlink()
        (root / rel).symlink_to(target)
        out = root.parent / "out.snap"
        code = cli.main(["snapshot", "--root", str(root), "-o", str(out)])
        _, err = capsys.readouterr()
        assert code == 2 and err.count("\n") == 1 and "refusing to read" in err, err
        assert not out.exists()


def test_a_real_snapshot_never_opens_kernel_interfaces(
    tripwire: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`devmem-tui snapshot` of this machine under the tripwire (as root it reads the real
    files; without root it stops at the zeros of /proc/iomem)."""
    code = cli.main(["snapshot"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("devmem-tui snapshot 1\n") or "sudo" in err, err


# ----------------------------------------------------------------------------- source scan
OPENERS = {
    "open",
    "fdopen",
    "read_bytes",
    "read_text",
    "write_bytes",
    "write_text",
    "mmap",
    "Path",
    "PurePath",
    "FileIO",
    "openpty",
    "load",
    "loads",
}


def _strings(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def _func_name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return ""


def test_no_source_file_opens_kernel_interfaces() -> None:
    """No open-like call in devmem_tui/ has an argument naming the real interfaces; the only
    code that lists them is the refusal in files.check_path (and the collector's inode check)."""
    sources = sorted((ROOT / "devmem_tui").rglob("*.py"))
    assert len(sources) > 20
    offenders = []
    listed_in = set()
    for src in sources:
        tree = ast.parse(src.read_text(encoding="utf-8"), str(src))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _func_name(node) in OPENERS:
                args = [*node.args, *(k.value for k in node.keywords)]
                for arg in args:
                    for s in _strings(arg):
                        if any(f in s for f in FORBIDDEN) or s.rstrip("/") in ("/dev", "/proc"):
                            offenders.append(f"{src.relative_to(ROOT)}:{node.lineno}: {s!r}")
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                items = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if any(i in FORBIDDEN for i in items):
                    listed_in.add(str(src.relative_to(ROOT)))
    assert offenders == []
    # files.py refuses them; the snapshot collector stat()s /proc/kcore and /proc/kmsg (never
    # opens them) to refuse either one mounted at a name on its list
    assert listed_in == {"devmem_tui/files.py", "devmem_tui/snapshot/collect.py"}
    assert files.KERNEL_INTERFACES == FORBIDDEN


# ----------------------------------------------------------------------------- syscalls
def _namespace_prefix() -> list[str] | None:
    """unshare for a private mount namespace: as root `-m`, else a user namespace too."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return prefix
    return None


def test_no_syscall_opens_a_kernel_interface_or_procfs_mounted_elsewhere(tmp_path: Path) -> None:
    """The whole tool (TUI start-up with every path variable, REPL history and pager, every
    usage of every command, run, play, --iomem) pointed at /proc/kcore, /dev/mem, a device
    node 1:1 under another name and at procfs and sysfs mounted at another path, as in a
    container's /host/proc (tests/safety_probe.py): strace shows no open, creat, truncate or
    execve of any of them, not even a failed one, but the one allowed file, ALT/proc/iomem."""
    prefix = _namespace_prefix()
    if prefix is None:
        pytest.skip("no private mount namespace here (unshare -m / -rm not allowed)")
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    alt = tmp_path / "host"
    (alt / "proc").mkdir(parents=True)
    (alt / "sys").mkdir()
    log = tmp_path / "trace.log"
    script = (
        # a procfs and a sysfs of their own at ALT (bind mounts of /proc and /sys where a
        # new instance cannot be mounted)
        f"{{ mount -t proc proc {alt}/proc || mount --rbind /proc {alt}/proc; }} && "
        f"{{ mount -t sysfs sysfs {alt}/sys || mount --rbind /sys {alt}/sys; }} && "
        f"exec {strace} -f -qq -e trace=open,openat,openat2,creat,truncate,execve -o {log} "
        f"{sys.executable} {Path(__file__).with_name('safety_probe.py')} {alt}"
    )
    r = subprocess.run(
        [*prefix, "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    if "mount:" in r.stderr and r.returncode != 0:
        pytest.skip(f"cannot mount procfs again here: {r.stderr.strip()[:200]}")
    assert "probe done" in r.stdout, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    opened = re.findall(
        r'open(?:at2?)?\((?:[A-Z_]+|\d+), "([^"]*)"|(?:creat|truncate|execve)\("([^"]*)"',
        log.read_text(),
    )
    paths = [a or b for a, b in opened]
    assert f"{alt}/proc/iomem" in paths, "the trace did not see the one allowed procfs read"
    # ALT itself is an ordinary directory (HOME, the state directory): the autosave journal
    # may live there. Under its procfs and sysfs, not even a failed attempt is allowed.
    kernel = (f"{alt}/proc", f"{alt}/sys")
    bad = [
        p
        for p in paths
        if p in FORBIDDEN
        or p == f"{alt}/innocent.iomem"  # character device 1:1, /dev/mem by its numbers
        or (any(p == k or p.startswith(k + "/") for k in kernel) and p != f"{alt}/proc/iomem")
    ]
    assert bad == [], bad
