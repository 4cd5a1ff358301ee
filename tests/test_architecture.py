"""Each folder is one layer, and a folder imports only the folders below it.

A module's layer is its folder: the core package at the bottom, then the
components in the order ``fashion_search/components.py`` lists them, the
Triton Python models above the serving layer they run in, and the CLI (the
module the console command runs) on top. Every import in the package, at the
top of a file or inside a function, is read from the source and checked.
Run ``python -m tests.test_architecture`` to print the graph.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import tomllib

from fashion_search.components import COMPONENTS, PACKAGE, package_dirs
from fashion_search.config import PROJECT_ROOT

pytestmark = pytest.mark.unit

TRITON_MODELS = "triton_models"  # loaded by tritonserver from the rendered repository


def _cli_module() -> str:
    """The module the console command runs: the top layer."""
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (target,) = scripts.values()
    return target.split(":")[0]


def layers() -> list[str]:
    """Bottom first: the core, the components, the Triton models after serving, the CLI."""
    order = ["core", *COMPONENTS, "cli"]
    order.insert(order.index("serving") + 1, TRITON_MODELS)
    return order


def layer_of(module: str) -> str:
    """``fashion_search.vectordb.store`` -> ``vectordb``; a module of the core folder -> core."""
    if module == _cli_module():
        return "cli"
    parts = module.split(".")
    if parts[0] == TRITON_MODELS:
        return TRITON_MODELS
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in COMPONENTS) else "core"


def source_modules() -> dict[str, Path]:
    """Module name -> file, for every package folder and the Triton Python models."""
    modules = {}
    for package, folder in package_dirs().items():
        for path in (PROJECT_ROOT / folder).glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    for path in (PROJECT_ROOT / TRITON_MODELS).glob("*/1/model.py"):
        modules[f"{TRITON_MODELS}.{path.parent.parent.name}"] = path
    return modules


def imported_modules(path: Path) -> set[str]:
    """Every package module a file imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith(PACKAGE):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE))
    return found


def layer_graph() -> dict[tuple[str, str], list[str]]:
    """(importing layer, imported layer) -> the module imports behind that edge."""
    modules = source_modules()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, path in modules.items():
        for target in imported_modules(path):
            if target not in modules:
                continue  # ``from fashion_search import triton_config`` also names the package
            edge = (layer_of(name), layer_of(target))
            if edge[0] != edge[1]:
                edges[edge].append(f"{name} -> {target}")
    return dict(edges)


def upward_imports() -> dict[tuple[str, str], list[str]]:
    rank = {layer: i for i, layer in enumerate(layers())}
    return {edge: imports for edge, imports in layer_graph().items() if rank[edge[1]] > rank[edge[0]]}


def test_no_folder_imports_a_folder_above_it():
    wrong = upward_imports()
    assert not wrong, "imports against the layering:\n" + "\n".join(
        f"  {a} -> {b}: {', '.join(sorted(i))}" for (a, b), i in sorted(wrong.items()))


def test_every_package_folder_is_a_listed_component_and_every_component_a_folder():
    folders = {p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py")} - {"tests", PACKAGE}
    assert folders == set(COMPONENTS)


def test_the_core_folder_holds_no_serving_or_evaluation_module():
    """Nothing in the core folder but the CLI imports a component: it is the bottom layer."""
    assert not {edge for edge in layer_graph() if edge[0] == "core"}


def test_the_graph_sees_real_imports():
    graph = layer_graph()
    assert ("vectordb", "core") in graph and ("cli", "training") in graph
    assert ("evaluation", "serving") in graph and ("serving", "vectordb") in graph
    assert (TRITON_MODELS, "core") in graph  # the preprocess model runs the contract


def test_an_upward_import_is_caught(monkeypatch, tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("from fashion_search.serving.search import search_photo\n")
    real = source_modules()
    monkeypatch.setattr(sys.modules[__name__], "source_modules",
                        lambda: {**real, "fashion_search.vectordb.planted": planted})
    assert ("vectordb", "serving") in upward_imports()


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in source_modules().items()
            if (n := len(path.read_text().splitlines())) > 400}
    assert not long


if __name__ == "__main__":
    graph = layer_graph()
    for layer in reversed(layers()):
        below = [b for (a, b) in graph if a == layer]
        counts = ", ".join(f"{b} ({len(graph[(layer, b)])})" for b in layers() if b in below)
        print(f"{layer:>13} -> {counts or '-'}")
    print("no folder imports one above it" if not upward_imports() else upward_imports())
