"""What ``open FILE``, ``load snapshot FILE`` and the command line's ``--snapshot FILE`` share:
a machine built from a snapshot (engine/snapshot/build.py) put in place of the session's, and
the Result that says what the snapshot held and what had to be assumed; and the tool's name
and version, which snapshots record."""

from __future__ import annotations

from collections.abc import Collection

from devmem_tui import files
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session
from devmem_tui.engine.snapshot import build
from devmem_tui.engine.snapshot.format import Snapshot


def installed_version() -> str:
    """The installed devmem-tui's version, from its metadata (``devmem_tui.__version__`` is
    not importable when an old editable install maps the package as a namespace). Looked up
    only when needed: importlib.metadata costs 0.1-0.3 s of start-up."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("devmem-tui")
    except PackageNotFoundError:
        return "unknown"


def tool() -> str:
    """How a snapshot names the tool that wrote it."""
    return f"devmem-tui {installed_version()}"


def load(session: Session, snap: Snapshot, verb: str, keep: Collection[str] = ()) -> Result:
    """Build a machine from snap (the session's config gives what snap does not tell; keys in
    keep are left as they are) and put it in place of the session's machine. Raises before
    anything changes when the snapshot cannot be built."""
    built = build.build(snap, session.config, keep)
    session.replace_machine(built.machine)
    m = built.machine
    return Result(
        True,
        "DONE",
        "\n".join(built.lines(verb)),
        data={
            "file": snap.source,
            "machine": m.name,
            "resources": len(m.tree),
            "devices": list(m.vmem),
            "assumed": list(built.notes.assumed),
            "warnings": list(built.notes.warnings),
        },
    )


def open_file(
    session: Session, path: str, verb: str = "opened", keep: Collection[str] = ()
) -> Result:
    """The one call a front end makes to run a session on a snapshot file (``load snapshot``,
    ``--snapshot FILE``, a served tab): read and parse it (files.read_snapshot: the path guard,
    the size limit), build its machine and put it in place of the session's. Raises a one-line
    DevmemError (``FILE:LINE: ...`` where a line is at fault) before anything changes."""
    return load(session, files.read_snapshot(path), verb, keep)
