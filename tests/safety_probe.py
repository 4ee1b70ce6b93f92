"""Run by tests/test_safety.py inside a private mount namespace, under strace: with procfs
and sysfs mounted again at ALT/proc and ALT/sys (and, where it can be made, a character device
1:1 named ALT/innocent.iomem: /dev/mem by its numbers), point every path the tool takes at
them and at the kernel interfaces:

* every environment variable the tool reads a path from (keymap, history, state directory,
  the XDG and home directories, the pager), with the TUI started headless (keymap, autosave,
  restore offer), the REPL's history and the pager;
* every usage of every command, each placeholder in turn holding a target (the others a
  valid value), and every FILE placeholder at once;
* `run FILE`, `play FILE`, `--iomem FILE`.

The caller reads the syscall trace: nothing under ALT/proc or ALT/sys but ALT/proc/iomem, and
no kernel interface, may even have been tried. Usage: python safety_probe.py ALT"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys

from test_hostile_input import _default_for  # a valid value for each placeholder

# placeholders that one has no value for
VALUES = {"KEY=VALUE": "kernel=5.15", "FILE": "saved.json"}

ALT = sys.argv[1] if __name__ == "__main__" else "ALT"
ENV_PATHS = (
    "DEVMEM_TUI_KEYMAP",
    "DEVMEM_TUI_HISTORY",
    "DEVMEM_TUI_STATE_DIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "HOME",
    "PAGER",
)


def targets() -> list[str]:
    out = [
        f"{ALT}/proc/kcore",
        f"{ALT}/proc/kmsg",
        f"{ALT}/proc/self/status",
        f"{ALT}/proc/self/fd/0",
        f"{ALT}/proc/nosuch",
        f"{ALT}/sys/kernel/uevent_seqnum",
        f"{ALT}/sys/kernel",
        f"{ALT}/proc",
        "/proc/kcore",
        "/dev/mem",
        "/dev/port",
    ]
    node = f"{ALT}/innocent.iomem"
    try:
        os.mknod(node, 0o600 | 0o020000, os.makedev(1, 1))
        out.append(node)
    except OSError:
        pass  # not allowed here: the device-number check has its own unit test
    return out


def usage_lines(target: str) -> list[str]:
    """Every usage of every command: each placeholder in turn set to target, then every FILE
    placeholder at once; every alternative of an ``a|b`` word."""
    from devmem_tui.commands.session import all_specs

    lines: list[str] = []
    for spec in all_specs():
        for usage in spec.usages:
            words = [w.strip("[]").removesuffix("...") for w in usage.split()[1:]]
            words = [w for w in words if w]
            variants: list[list[str]] = [[]]
            for w in words:  # expand a|b words (svg|iomem|json, read|write|mmap|kcore)
                alts = w.split("|") if "|" in w and "=" not in w else [w]
                variants = [v + [a] for v in variants for a in alts]
            for ws in variants:
                base = [VALUES.get(w) or _default_for(w) for w in ws]
                holes = [i for i, w in enumerate(ws) if w in VALUES or _default_for(w) != w]
                for i in holes:
                    lines.append(" ".join([spec.name, *base[:i], target, *base[i + 1 :]]))
                files = [target if w == "FILE" else b for w, b in zip(ws, base, strict=True)]
                lines.append(" ".join([spec.name, *files]))
    lines += [f"compare open {target}", f"compare load iomem {target}", f"record {target} force"]
    return lines


def main() -> None:
    from devmem_tui.commands.session import Session
    from devmem_tui.frontends import cli
    from devmem_tui.frontends.autosave import Autosave
    from devmem_tui.frontends.repl import make_history, run_pager
    from devmem_tui.frontends.tui.app import DevmemApp

    all_targets = targets()
    for target in all_targets:
        for name in ENV_PATHS:
            os.environ[name] = target
        make_history().append_string("help")
        with contextlib.redirect_stdout(io.StringIO()):
            run_pager("a tall result\n" * 3)

        async def tui() -> None:
            app = DevmemApp(Session.new(), autosave=Autosave())
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                app.run_command("vmem resize vmem0 1G")
                await pilot.pause()

        asyncio.run(tui())
    for name in ENV_PATHS:
        os.environ.pop(name, None)
    os.environ["DEVMEM_TUI_STATE_DIR"] = ALT
    lines = [line for target in all_targets for line in usage_lines(target)]
    lines.append(f"load iomem {ALT}/proc/iomem")  # the one procfs file read on purpose
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        session = Session.new()
        for line in lines:
            session.execute(line)
            if session.recorder is not None:
                session.execute("record stop")
        for target in all_targets:
            cli.main(["run", target])
            cli.main(["play", target])
            cli.main(["--iomem", target, "run", "-c", "iomem"])
    print(f"probe done: {len(lines)} command lines, {len(all_targets)} targets")


if __name__ == "__main__":
    main()
