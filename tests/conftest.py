"""Fixtures shared by test modules."""

from __future__ import annotations

import bigmap
import pytest

from devmem_tui.commands.session import Session


@pytest.fixture(autouse=True)
def private_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every test (and every devmem-tui it starts as a subprocess, which inherits the
    environment) keeps its REPL history and TUI autosave journals in a temporary state
    directory, never the user's ~/.local/state/devmem-tui."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("DEVMEM_TUI_HISTORY", raising=False)


@pytest.fixture(scope="session")
def big() -> tuple[Session, bigmap.StateWatch]:
    """One session on the 100,000-resource base (tests/bigmap.py) for every test that needs
    it, and its saved state: each such test must leave it exactly as it found it (the watch
    proves it), so they can share it instead of opening the map again."""
    s = bigmap.big_session()
    return s, bigmap.StateWatch(s.machine)
