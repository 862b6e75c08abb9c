"""The import rules of docs/architecture.md: layers point down, no circles, no private names.

Each rule is checked twice: on the real tree, and on a small synthetic tree that breaks it
(so a checker that finds nothing cannot pass unnoticed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture.importgraph import (
    PACKAGES,
    ROOT,
    all_imports,
    import_circles,
    known_modules,
    layer_table,
    module_graph,
    private_imports,
    upward_imports,
)

DOC = ROOT / "docs" / "architecture.md"


@pytest.fixture(scope="module")
def tree():
    return all_imports(), known_modules()


def test_the_layer_table_names_every_package():
    table = layer_table(DOC)
    assert set(table) == set(PACKAGES), "docs/architecture.md's table must list every package"
    assert table["tools"] == {"hardware_docs"} and table["hardware_docs"] == set()


def test_no_package_imports_a_layer_above_it(tree):
    imports, modules = tree
    bad = upward_imports(imports, modules, layer_table(DOC))
    assert not bad, "imports against docs/architecture.md's table:\n" + "\n".join(
        f"{i.path.relative_to(ROOT)}:{i.line}: {i.importer} -> {dst}" for i, dst in bad
    )


def test_no_import_circle(tree):
    imports, modules = tree
    circles = import_circles(module_graph(imports, modules))
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_no_private_name_is_imported_from_another_module(tree):
    imports, modules = tree
    bad = private_imports(imports, modules)
    assert not bad, "private names imported across modules:\n" + "\n".join(
        f"{i.path.relative_to(ROOT)}:{i.line}: from {i.module} import {i.name}" for i in bad
    )


def test_langgraph_graphs_and_nodes_live_in_graph(tree):
    """Agents export plain functions: below graph/ only LangGraph's RetryPolicy is used."""
    imports, _ = tree
    allowed = {("langgraph.types", "RetryPolicy")}
    bad = [
        i for i in imports
        if i.module.split(".")[0] == "langgraph"
        and i.importer.split(".")[0] in ("agents", "tools", "vectorstore")
        and (i.module, i.name) not in allowed
    ]  # fmt: skip
    assert not bad, "LangGraph used below graph/:\n" + "\n".join(
        f"{i.path.relative_to(ROOT)}:{i.line}: from {i.module} import {i.name}" for i in bad
    )


# The checkers themselves, on a tree that breaks each rule ------------------------------
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def broken(tmp_path):
    _write(tmp_path, {
        "low/__init__.py": "",
        "low/a.py": "from low import b\n",
        "low/b.py": "def f():\n    from low.a import x\n",
        "low/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from high.d import D\n",
        "low/e.py": "from .b import _hidden\n",
        "low/_impl.py": "def f():\n    pass\n",
        "low/g.py": "from low._impl import f\nimport low._impl\n",
        "high/__init__.py": "",
        "high/d.py": "from low import c\nimport low.a\n",
        "doc.md": "| `high/` | x | low |\n| `low/` | x | — |\n",
    })  # fmt: skip
    packages = ("low", "high")
    return all_imports(tmp_path, packages), known_modules(tmp_path, packages), tmp_path


def test_checker_finds_an_upward_import_even_a_type_only_one(broken):
    imports, modules, root = broken
    bad = upward_imports(imports, modules, layer_table(root / "doc.md"))
    assert [(i.importer, dst, i.type_only) for i, dst in bad] == [("low.c", "high.d", True)]


def test_checker_finds_a_circle_through_a_function_level_import(broken):
    imports, modules, _ = broken
    assert import_circles(module_graph(imports, modules)) == [["low.a", "low.b"]]
    with_types = import_circles(module_graph(imports, modules, include_type_only=True))
    assert ["high.d", "low.c"] in with_types


def test_checker_finds_private_names_and_private_modules(broken):
    imports, modules, _ = broken
    assert [(i.importer, i.module, i.name) for i in private_imports(imports, modules)] == [
        ("low.e", "low.b", "_hidden"),
        ("low.g", "low._impl", "f"),
        ("low.g", "low._impl", None),
    ]
