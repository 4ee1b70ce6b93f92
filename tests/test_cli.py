"""The devmem-tui command line through main([...]): run, --json, play, options, exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from devmem_tui.commands.grammar import split_commands
from devmem_tui.commands.session import Session
from devmem_tui.frontends import cli

JSON_KEYS = ["line", "command", "ok", "outcome", "message", "trace"]


def main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


# ----------------------------------------------------------------------------- run
def test_run_prints_commands_and_results(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = main(capsys, "run", "-c", "set iomem relaxed; config")
    assert code == 0, err
    assert out.startswith("> set iomem relaxed\niomem = relaxed\n> config\n")
    assert "strict_iomem_checks       0" in out
    assert err == ""


def test_run_json_lines_have_exactly_the_design_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = main(capsys, "run", "-c", "set kernel 5.15", "-c", "config", "--json")
    assert code == 0
    rows = jsonl(out)
    assert [list(r) for r in rows] == [JSON_KEYS, [*JSON_KEYS, "data"]]  # config: a table
    assert rows[0] == {
        "line": 1,
        "command": "set kernel 5.15",
        "ok": True,
        "outcome": "DONE",
        "message": "kernel = 5.15.0",
        "trace": [],
    }
    assert rows[1]["line"] == 2 and "5.15" in rows[1]["message"]


def test_run_goes_on_after_a_failure_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = main(capsys, "run", "--json", "-c", "frob; set iomem sideways; set iomem strict")
    assert code == 2
    rows = jsonl(out)
    assert [r["ok"] for r in rows] == [False, False, True]
    assert rows[0]["outcome"] is None
    assert rows[0]["message"].startswith("error: unknown command 'frob'")
    assert rows[2]["message"] == "iomem = strict"


def test_run_an_access(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = main(capsys, "run", "--json", "-c", "read 0x100000")
    assert code == 0
    [row] = jsonl(out)
    assert row["ok"] is True
    assert row["outcome"] == "EPERM"  # System RAM above 1 MiB under STRICT_DEVMEM
    assert row["trace"] and all(isinstance(t, str) for t in row["trace"])
    code, text, _ = main(capsys, "run", "-c", "read 0x100000")
    assert "EPERM" in text.splitlines()[1]
    assert any(line.startswith("    ") for line in text.splitlines())  # trace indented


def test_semicolons_inside_quotes_do_not_split() -> None:
    assert split_commands('say "a; b"; config') == ['say "a; b"', " config"]


def test_run_file_numbers_lines_by_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "cmds.txt"
    f.write_text("# setup\n\nset iomem relaxed\nfrob\n")
    code, out, _ = main(capsys, "run", str(f), "--json")
    assert code == 2
    assert [(r["line"], r["ok"]) for r in jsonl(out)] == [(3, True), (4, False)]


def test_run_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("set kernel 6.1\n"))
    code, out, _ = main(capsys, "run", "--json")
    assert code == 0 and jsonl(out)[0]["message"] == "kernel = 6.1.0"
    monkeypatch.setattr("sys.stdin", io.StringIO("set kernel 6.2\n"))
    code, out, _ = main(capsys, "run", "-", "--json")
    assert jsonl(out)[0]["message"] == "kernel = 6.2.0"


def test_exit_stops_a_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = main(capsys, "run", "--json", "-c", "config; exit; frob")
    assert code == 0
    assert len(jsonl(out)) == 2


# ----------------------------------------------------------------------------- options
def test_config_options_before_or_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--kernel", "5.15", "run", "-c", "config", "--json"],
        ["run", "--kernel", "5.15", "--iomem-param", "relaxed", "-c", "config", "--json"],
    ):
        code, out, err = main(capsys, *argv)
        assert code == 0, err
        assert "kernel            5.15" in jsonl(out)[0]["message"]
    code, out, _ = main(
        capsys,
        "run",
        "--strict-devmem",
        "off",
        "--io-strict-devmem",
        "on",
        "--auto-online",
        "offline",
        "--proposal",
        "rfc-2021",
        "--arch",
        "x86_64",
        "--pat",
        "off",
        "--devmem",
        "on",
        "--migration",
        "on",
        "--phys-bits",
        "40",
        "-c",
        "config",
        "--json",
    )
    assert code == 0
    msg = jsonl(out)[0]["message"]
    for want in (
        "strict_devmem     off",
        "io_strict_devmem  on",
        "auto_online       offline",
        "proposal          v1-2021",
        "pat               off",
        "phys_bits         40",
    ):
        assert want in msg


@pytest.mark.parametrize(
    "argv, problem",
    [
        (
            ["run", "--strict-devmem", "maybe", "-c", "config"],
            "--strict-devmem: strict_devmem cannot be 'maybe'",
        ),
        (["run", "--kernel", "banana"], "--kernel: kernel version 'banana'"),
        (["run", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["play"], "play needs a FILE or --lesson N"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["run", "--machine", "no-such-preset", "-c", "config"], "--machine:"),
        (["run", "--iomem", "/no/such/file.iomem", "-c", "config"], "--iomem:"),
        (["run", "--machine", "qemu-x86", "--iomem", "x", "-c", "config"], "give one"),
        (["run", "/no/such/commands.txt"], "cannot open /no/such/commands.txt"),
        (["play", "--tui", "a.scenario", "b.scenario"], "exactly one FILE"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = main(capsys, *argv)
    assert code == 2
    assert problem in err
    assert err.count("\n") == 1 and err.startswith("devmem-tui: error: ")
    assert out == ""


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = main(capsys, "--help")
    assert code == 0 and "{repl,play,run,lessons,serve,snapshot}" in out and "--iomem-param" in out
    code, out, _ = main(capsys, "run", "--help")
    assert code == 0 and "-c COMMANDS" in out
    code, out, _ = main(capsys, "--version")
    assert code == 0 and out.startswith("devmem-tui ")


def test_every_config_key_has_an_option() -> None:
    from devmem_tui.engine.config import KEYS

    text = cli.build_parser().format_help()
    for key in KEYS:
        assert cli.OPTION_FOR_KEY[key] in text
    assert cli.OPTION_FOR_KEY["iomem"] == "--iomem-param"


def test_iomem_file_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "my map.iomem"
    f.write_text(
        "00000000-00000fff : Reserved\n00001000-0009ffff : System RAM\n"
        "00100000-3fffffff : System RAM\n"
    )
    code, out, err = main(capsys, "run", "--iomem", str(f), "--json", "-c", "iomem")
    assert code == 0, err
    assert "00100000-3fffffff : System RAM" in jsonl(out)[0]["message"]


# ----------------------------------------------------------------------------- play
def test_play_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.scenario"
    good.write_text("say hello\nset iomem relaxed\nexpect DONE\nread 0x100000\nexpect EPERM\n")
    bad = tmp_path / "bad.scenario"
    bad.write_text("read 0x100000\nexpect OK\n")
    broken = tmp_path / "broken.scenario"
    broken.write_text("read 0x100000\nexpect ok\n")
    code, out, _ = main(capsys, "play", str(good))
    assert code == 0 and "hello" in out and "> read 0x100000" in out
    code, out, _ = main(capsys, "play", str(good), str(bad))
    assert code == 1
    assert f"{bad}:2: expected OK, got EPERM (read 0x100000)" in out
    code, out, err = main(capsys, "play", str(good), str(broken))
    assert code == 2 and out == ""
    assert f"{broken}:2: expect: unknown outcome 'ok'" in err


def test_play_options_shape_each_fresh_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "k.scenario"
    f.write_text("config\nexpect output 4.14\nset kernel 6.1\n")
    code, out, _ = main(capsys, "play", "--kernel", "4.14", str(f), str(f))
    assert code == 0, out


def test_play_json_and_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "t.scenario"
    f.write_text("read 0x100000\nexpect EPERM\n")
    code, out, _ = main(capsys, "play", "--json", str(f))
    rows = jsonl(out)
    assert code == 0 and [r["file"] for r in rows] == [str(f)] * 2
    assert rows[0]["outcome"] == "EPERM"
    code, out, _ = main(capsys, "play", "--trace", str(f))
    assert "devmem_is_allowed" in out


def test_play_tui_and_bare_tui_call_run_tui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[Session, str | None]] = []
    fake = types.ModuleType("devmem_tui.frontends.tui.app")

    def run_tui(session: Session, scenario: str | None = None, **kw: object) -> None:
        calls.append((session, scenario))

    fake.run_tui = run_tui  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "devmem_tui.frontends.tui.app", fake)
    monkeypatch.setattr(cli, "_need_terminal", lambda: None)  # tests have no terminal
    f = tmp_path / "t.scenario"
    f.write_text("config\nexpect DONE\n")
    assert main(capsys, "play", "--tui", "--kernel", "5.15", str(f))[0] == 0
    assert calls[-1][1] == str(f) and calls[-1][0].config.kernel == "5.15.0"
    assert main(capsys, "--iomem-param", "strict")[0] == 0
    assert calls[-1][1] is None and calls[-1][0].config.iomem == "strict"
    f.write_text("expect DONE\n")
    code, _, err = main(capsys, "play", "--tui", str(f))
    assert code == 2 and "expect before any command" in err and len(calls) == 2


def test_repl_subcommand_uses_the_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("config\n"))
    code, out, _ = main(capsys, "repl", "--kernel", "5.7")
    assert code == 0
    assert out.startswith("devmem> config\n") and "5.7" in out


# ----------------------------------------------------------------------------- robustness
def test_keyboard_interrupt_is_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_commands", boom)
    code, _, err = main(capsys, "run", "-c", "config")
    assert code == 130 and "Traceback" not in err


def test_internal_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_: Any) -> int:
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli, "run_commands", boom)
    monkeypatch.delenv("DEVMEM_TUI_DEBUG", raising=False)
    code, _, err = main(capsys, "run", "-c", "config")
    assert code == 1 and err.count("\n") == 1 and "RuntimeError: kaput" in err


def _python(code: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, **kw
    )


def test_run_never_imports_textual_or_prompt_toolkit() -> None:
    r = _python(
        "import sys\n"
        "from devmem_tui.frontends.cli import main\n"
        "code = main(['run', '--json', '-c', 'read 0x1000; help; config'])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'prompt_toolkit',"
        " 'rich', 'textual_serve', 'aiohttp')]\n"
        "print('LEAK', bad) if bad else None\n"
        "sys.exit(code)\n"
    )
    assert r.returncode == 0, r.stderr
    assert "LEAK" not in r.stdout


def test_broken_pipe_is_quiet() -> None:
    r = _python(
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-m', 'devmem_tui.frontends.cli', 'run', '-c',"
        " '; '.join(['help'] * 300)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "p.stdout.readline(); p.stdout.close()\n"
        "err = p.stderr.read().decode(); p.wait()\n"
        "print(repr(err), p.returncode)\n"
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stdout and "BrokenPipe" not in r.stdout
    assert r.stdout.split()[-1] == "141", r.stdout  # 128 + SIGPIPE, as a shell reports it
