"""The layout rules the code keeps (read from the source with ``ast``, imports inside functions included):
dependencies point one way, ``tasks`` is imported only by the named entry points, and no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("models", "worker", "tasks")
# The process entry points that may import ``tasks`` (docs/architecture.md, "The composition root").
TASKS_IMPORTERS = {"worker.cli.context"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of this tree that ``name`` imports anywhere in its body (not only at the top)."""
    out: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                out.add(submodule if submodule in known else base)
    return {m for m in out if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_dependencies_point_one_way():
    graph = _graph()
    for name, deps in graph.items():
        if name.startswith("models"):
            assert not {d for d in deps if not d.startswith("models")}, f"{name} imports outside models/"
        if not name.startswith("tasks"):
            tasks = {d for d in deps if d.split(".")[0] == "tasks"}
            assert not tasks or name in TASKS_IMPORTERS, f"{name} imports {sorted(tasks)}"


def test_models_know_nothing_of_huey():
    for name, path in _modules().items():
        if name.startswith("models"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                assert not [n for n in names if n.split(".")[0] == "huey"], f"{name} imports huey"


def test_no_import_cycle():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_checks_see_a_cycle_and_a_forbidden_import(tmp_path, monkeypatch):
    """The rules above can fail: a tree with a cycle and a worker module importing tasks is caught."""
    for package, body in {
        "models": "",
        "worker": "",
        "tasks": "from worker import a\n",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(body)
    (tmp_path / "worker" / "a.py").write_text("def f():\n    from worker import b\n")
    (tmp_path / "worker" / "b.py").write_text("from worker.a import f\nimport tasks\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    graph = _graph()
    assert graph["worker.a"] == {"worker.b"} and graph["worker.b"] == {"worker.a", "tasks"}
    try:
        test_no_import_cycle()
    except AssertionError:
        pass
    else:
        raise AssertionError("the cycle worker.a <-> worker.b was not seen")
    try:
        test_dependencies_point_one_way()
    except AssertionError:
        pass
    else:
        raise AssertionError("worker.b importing tasks was not seen")
