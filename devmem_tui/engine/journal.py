"""The undo journal: how a failed command leaves the machine exactly as it was, at a cost
proportional to what it changed (not to the size of the machine).

While a transaction is open (``Machine.begin``), every change to the machine's state is
recorded as its inverse by the code that makes it:

* attribute assignments on state objects (``Journaled``: the machine, its config, each
  virtio-mem device, driver, block mode and memory group) record the old value;
* containers record their inverse operation where they change: the resource tree in its
  kernel operations (``ResourceTree``), the live mappings (``MappingTable``), the pins
  (``mm/hotplug.py``), the memory-block table (``MemoryGroup``), the driver's per-block
  arrays (``BlockMode``) and the device's plugged runs (``BlockRuns``).

``Machine.rollback`` runs the inverses newest first, so each one finds the state it was
recorded in; ``Machine.commit`` forgets them. Transactions nest (``compare`` runs a command
inside one and always rolls it back): a commit inside another keeps the entries for the outer
one. The journal records nothing while no transaction is open, so a library user who never
opens one pays one attribute test per change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Undo = tuple[Callable[..., object], tuple[Any, ...]]


class Journal:
    """The inverse operations of the open transaction(s), oldest first."""

    __slots__ = ("entries", "depth")

    def __init__(self) -> None:
        self.entries: list[Undo] = []
        self.depth = 0  # open transactions; 0: record nothing

    def record(self, undo: Callable[..., object], *args: Any) -> None:
        """Remember how to undo a change that was just made (only inside a transaction)."""
        if self.depth:
            self.entries.append((undo, args))

    def begin(self) -> int:
        """Open a (nested) transaction; returns its mark for ``commit`` / ``rollback``."""
        self.depth += 1
        return len(self.entries)

    def commit(self, mark: int) -> None:
        """Keep the changes since mark: forgotten when the outermost transaction commits,
        kept for the enclosing one otherwise."""
        self.depth -= 1
        if self.depth == 0:
            self.entries.clear()

    def rollback(self, mark: int) -> int:
        """Undo every change since mark, newest first; returns how many were undone. The
        undo operations themselves are not recorded."""
        entries = self.entries
        undone = len(entries) - mark
        depth, self.depth = self.depth - 1, 0
        try:
            while len(entries) > mark:
                fn, args = entries.pop()
                fn(*args)
        finally:
            self.depth = depth
            if depth == 0:
                entries.clear()
        return undone


_MISSING = object()  # an attribute that did not exist before the change


def _restore_attr(obj: object, name: str, old: object) -> None:
    if old is _MISSING:
        delattr(obj, name)
    else:
        setattr(obj, name, old)  # through the class's own __setattr__ (side effects included)


class Journaled:
    """A state object whose attribute assignments are undone with the machine's transaction.

    ``_journal`` is the owning machine's journal (``attach``); objects not attached to a
    machine (a config being built, a test double) record nothing."""

    _journal: Journal | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        j = self._journal
        if j is not None and j.depth:
            j.entries.append((_restore_attr, (self, name, self.__dict__.get(name, _MISSING))))
        object.__setattr__(self, name, value)


def attach(obj: object, journal: Journal | None) -> None:
    """Make obj's changes part of journal's transactions (``_journal`` is not itself state:
    setting it records nothing)."""
    object.__setattr__(obj, "_journal", journal)


def journal_of(obj: object) -> Journal | None:
    """The journal obj's changes go to (``attach``), or None: a part built by its owner joins
    the owner's transactions with ``attach(part, journal_of(owner))``."""
    return getattr(obj, "_journal", None)
