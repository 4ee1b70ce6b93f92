"""Fixtures shared by test modules."""

from __future__ import annotations

import bigmap
import pytest

from devmem_tui.commands.session import Session


@pytest.fixture(scope="session")
def big() -> tuple[Session, bigmap.StateWatch]:
    """One session on the 100,000-resource base (tests/bigmap.py) for every test that needs
    it, and its saved state: each such test must leave it exactly as it found it (the watch
    proves it), so they can share it instead of opening the map again."""
    s = bigmap.big_session()
    return s, bigmap.StateWatch(s.machine)
