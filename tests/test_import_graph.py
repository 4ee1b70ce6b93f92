"""The package's import graph has no cycle, counting every import statement: module level,
inside functions, and under ``if TYPE_CHECKING``. A lazy import can hide a cycle from the
interpreter but not from this test.

Run as a script (``python tests/test_import_graph.py``) to print every cycle and the import
lines that close it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "devmem_tui"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
BENCHMARKS = ROOT.parent / "benchmarks"  # the checkout's benchmark suite, a package too


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(modules: set[str], name: str) -> str | None:
    """The longest prefix of a dotted name that is one of the package's modules."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(root: Path = ROOT) -> dict[str, dict[str, list[int]]]:
    """module -> {imported module: [line numbers]} over every import statement of the
    package at root (imports of other packages are left out)."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)
    graph: dict[str, dict[str, list[int]]] = {m: {} for m in modules}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod if is_pkg else mod.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    base = f"{pkg}.{base}" if base else pkg
                # `from pkg import module` imports the submodule; `from mod import name` the mod
                targets = [f"{base}.{a.name}" for a in node.names] or [base]
            for t in targets:
                if not t.startswith(root.name):
                    continue
                dep = _resolve(modules, t)
                if dep is not None and dep != mod:
                    graph[mod].setdefault(dep, []).append(node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, list[int]]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def describe(graph: dict[str, dict[str, list[int]]], comp: list[str]) -> str:
    members = set(comp)
    lines = [f"cycle of {len(comp)} modules:"]
    for m in comp:
        for dep, nos in sorted(graph[m].items()):
            if dep in members:
                lines.append(f"  {m} -> {dep} (line {', '.join(map(str, nos))})")
    return "\n".join(lines)


def test_the_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "devmem_tui.engine.machine" in graph
    assert "devmem_tui.engine.config" in graph["devmem_tui.engine.machine"]


def test_the_check_finds_a_cycle_hidden_in_a_function() -> None:
    graph = {"a": {"b": [1]}, "b": {"c": [2]}, "c": {"a": [30]}, "d": {"a": [4]}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "\n".join(describe(graph, c) for c in found)


def test_no_import_cycle_in_the_benchmarks() -> None:
    graph = import_graph(BENCHMARKS)
    assert "benchmarks.suite" in graph
    found = cycles(graph)
    assert not found, "\n".join(describe(graph, c) for c in found)


if __name__ == "__main__":
    for root in (ROOT, BENCHMARKS):
        g = import_graph(root)
        for c in cycles(g):
            print(describe(g, c))
