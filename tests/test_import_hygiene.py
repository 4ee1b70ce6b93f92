"""The engine never imports a front-end library: import each engine module in a fresh
interpreter and fail if textual, prompt_toolkit or rich got loaded (the pattern of harlequin's
tests/unit_tests/test_import_hygiene.py)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import devmem_tui.engine as engine

FORBIDDEN = ("textual", "prompt_toolkit", "rich")
ENGINE_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(engine.__path__, "devmem_tui.engine.") if not m.ispkg
)

# Run in a fresh interpreter: argv = modules to import, then prints the front ends loaded.
_PROBE = (
    "import importlib, sys\n"
    "for name in sys.argv[1:]:\n"
    "    importlib.import_module(name)\n"
    f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN)!r})))\n"
)


def _imported_front_ends(*modules: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_engine_modules_are_found() -> None:
    assert "devmem_tui.engine.iomem.text" in ENGINE_MODULES
    assert "devmem_tui.engine.iomem.tree" in ENGINE_MODULES
    assert len(ENGINE_MODULES) >= 8


def test_whole_engine_imports_no_front_end() -> None:
    assert _imported_front_ends("devmem_tui.engine", *ENGINE_MODULES) == ""


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_each_engine_module_alone_imports_no_front_end(module: str) -> None:
    # Alone, so that one module's import cannot hide behind another's.
    assert _imported_front_ends(module) == ""


def test_the_probe_can_fail() -> None:
    # The check must be able to see a front end when one is imported.
    assert _imported_front_ends("devmem_tui.engine", "rich") == "rich"
