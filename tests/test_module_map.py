"""docs/internals.md's module map names every module of devmem_tui/ and nothing that does not
exist: a module added, moved or removed without its line in the map fails here."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "internals.md"
NAME_WIDTH = 28  # the map's names end before this column; its descriptions start there


def map_entries() -> list[str]:
    """The paths the module map names, from the repository root (``devmem_tui/engine/``,
    ``devmem_tui/engine/units.py``, ``devmem_tui/commands/cmd_*.py``), in the map's order."""
    block = DOC.read_text(encoding="utf-8").split("## Module map", 1)[1].split("```")[1]
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, folder) of the folders the line is inside
    for line in block.splitlines():
        head = line[:NAME_WIDTH]
        if not head.strip():
            continue  # a description's next line
        indent = len(head) - len(head.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        prefix = "".join(folder for _, folder in stack)
        names = line.strip().split("  ")[0].split(", ")  # `sbm.py, bbm.py` share a line
        out += [prefix + name for name in names]
        if len(names) == 1 and names[0].endswith("/"):
            stack.append((indent, names[0]))
    return out


def package_modules() -> list[str]:
    """Every module of the package but the packages' __init__.py (their folder's line)."""
    return sorted(
        p.relative_to(REPO).as_posix()
        for p in (REPO / "devmem_tui").rglob("*.py")
        if p.name != "__init__.py"
    )


def test_the_map_is_read() -> None:
    entries = map_entries()
    assert "devmem_tui/engine/iomem/tree.py" in entries
    assert "devmem_tui/engine/virtio_mem/bbm.py" in entries
    assert "devmem_tui/frontends/tui/widgets/log_view.py" in entries


def test_every_module_is_in_the_map() -> None:
    entries = [e for e in map_entries() if e.endswith(".py")]
    missing = [m for m in package_modules() if not any(fnmatch(m, e) for e in entries)]
    assert not missing, f"not in docs/internals.md's module map: {missing}"


def test_the_map_names_only_what_exists() -> None:
    modules = package_modules()
    absent = [
        e
        for e in map_entries()
        if e.startswith("devmem_tui/")
        and not ((REPO / e).is_dir() if e.endswith("/") else any(fnmatch(m, e) for m in modules))
    ]
    assert not absent, f"named in docs/internals.md's module map but absent: {absent}"
