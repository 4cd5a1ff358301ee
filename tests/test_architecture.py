"""The components depend on each other one way: core at the bottom, the CLI on top.

Every import in the package (top-level or inside a function) is read from the
source, mapped to its component, and checked against the allowed edges below.
Run ``python -m tests.test_architecture`` to print the component graph.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest
import tomllib

from fashion_search.config import PROJECT_ROOT

pytestmark = pytest.mark.unit

# Modules of the core package that are not core: serving sits above the
# catalogue, the CLI above everything.
SERVING = {"serve", "cpu_embedder", "search", "served_eval"}
TOP = {"cli"}

# Which components each component may import. Together they form layers:
# core < export < training; core < vectordb; serving above export and vectordb;
# demo above serving; bench above serving and training (the GPU check trains);
# the CLI above all.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "export": {"core"},
    "training": {"core", "export"},
    "vectordb": {"core"},
    "serving": {"core", "export", "vectordb"},
    "demo": {"core", "export", "vectordb", "serving"},
    "bench": {"core", "export", "training", "vectordb", "serving", "demo"},
    "cli": {"core", "export", "training", "vectordb", "serving", "demo", "bench"},
    "triton_models": {"core"},
}


def _package_dirs() -> dict[str, Path]:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    return {package: PROJECT_ROOT / folder
            for package, folder in pyproject["tool"]["setuptools"]["package-dir"].items()}


def component_of(module: str) -> str:
    """``fashion_search.vectordb.store`` -> ``vectordb``; core modules -> core/serving/cli."""
    parts = module.split(".")
    if parts[0] == "triton_models":
        return "triton_models"
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED):
        return parts[1]
    name = parts[1] if len(parts) == 2 else ""
    return "serving" if name in SERVING else "cli" if name in TOP else "core"


def source_modules() -> dict[str, Path]:
    """Module name -> file, for every package folder and the Triton Python models."""
    modules = {}
    for package, folder in _package_dirs().items():
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    for path in (PROJECT_ROOT / "triton_models").glob("*/1/model.py"):
        modules[f"triton_models.{path.parent.parent.name}"] = path
    return modules


def imported_modules(path: Path) -> set[str]:
    """Every ``fashion_search`` module a file imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("fashion_search"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fashion_search"))
    return found


def component_graph() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) component -> the module imports behind that edge."""
    modules = source_modules()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, path in modules.items():
        for target in imported_modules(path):
            if target not in modules:
                continue  # ``from fashion_search import triton_config`` also names the package
            edge = (component_of(name), component_of(target))
            if edge[0] != edge[1]:
                edges[edge].append(f"{name} -> {target}")
    return dict(edges)


def test_every_import_between_components_follows_the_layers():
    wrong = {edge: imports for edge, imports in component_graph().items()
             if edge[1] not in ALLOWED[edge[0]]}
    assert not wrong, "imports against the layering:\n" + "\n".join(
        f"  {a} -> {b}: {', '.join(sorted(i))}" for (a, b), i in sorted(wrong.items()))


def test_the_allowed_edges_have_no_cycle():
    order: list[str] = []
    pending = dict(ALLOWED)
    while pending:
        ready = [c for c, deps in pending.items() if deps <= set(order)]
        assert ready, f"cycle among {sorted(pending)}"
        order.extend(sorted(ready))
        for c in ready:
            del pending[c]


def test_the_graph_sees_real_imports():
    graph = component_graph()
    assert ("vectordb", "core") in graph and ("cli", "training") in graph
    assert ("triton_models", "core") in graph  # the preprocess model runs the contract


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in source_modules().items()
            if (n := len(path.read_text().splitlines())) > 400}
    assert not long


if __name__ == "__main__":
    for (importer, imported), imports in sorted(component_graph().items()):
        print(f"{importer:>13} -> {imported:<9} ({len(imports)} imports)")
