"""The coders' layout rules: generators stand on the kit, never on each other.

- a generator package (``agents/coders/generators/<family>``) imports from ``agents`` only
  the kit, the ``Coder`` seam (``agents.coders.base``) and its own package;
- the kit imports from ``agents`` only itself, the seam and the leaf modules in ``LEAVES``
  (shared with the rest of ``agents``; a leaf imports nothing from ``agents`` itself);
- no module under ``agents/coders`` imports a private name (``_bind``) from another module;
- every generator package is registered in ``agents.coders.routes.GENERATORS``, and every
  registered generator loads and is named by its key.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agents.coders.routes import GENERATORS, ROUTES, build_generators
from tools.problems.ops import OP_FAMILIES

CODERS = Path(__file__).resolve().parents[4] / "agents" / "coders"
MODULES = sorted(CODERS.rglob("*.py"))
LEAVES = ("agents.templating",)
"""``agents`` modules outside the coders that the kit may import: the one Jinja environment
the kernel templates and the LLM prompts share."""


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """``(module, names, line)`` of every import in ``path`` (names empty for ``import x``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


def _allowed(path: Path, root: Path) -> tuple[str, ...] | None:
    """The ``agents`` modules ``path`` may import from, or ``None`` when not restricted."""
    parts = path.relative_to(root).parts
    if parts[0] == "generators" and len(parts) > 2:
        own = f"agents.coders.generators.{parts[1]}"
        return ("agents.coders.kit", "agents.coders.base", own)
    if parts[0] == "kit":
        return ("agents.coders.kit", "agents.coders.base", *LEAVES)
    return None


def layout_violations(modules: list[Path], root: Path = CODERS) -> list[str]:
    """Every broken rule among ``modules`` (files under ``root``), one line each."""
    found = []
    for path in modules:
        allowed = _allowed(path, root)
        where = path.relative_to(root)
        for module, names, line in _imports(path):
            if allowed is not None and module.split(".")[0] == "agents":
                if not any(module == a or module.startswith(a + ".") for a in allowed):
                    found.append(f"{where}:{line} imports {module}")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and module.startswith("agents."):
                found.append(f"{where}:{line} imports private {', '.join(private)} from {module}")
    return found


def test_generators_import_only_the_kit_and_tools() -> None:
    assert layout_violations(MODULES) == []


def test_the_kits_leaves_import_nothing_from_agents() -> None:
    root = CODERS.parents[1]
    for leaf in LEAVES:
        path = root.joinpath(*leaf.split(".")).with_suffix(".py")
        assert [m for m, _, _ in _imports(path) if m.split(".")[0] == "agents"] == [], leaf


def test_the_rules_catch_a_cross_generator_and_a_private_import(tmp_path: Path) -> None:
    bad = tmp_path / "generators" / "pooling" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "from agents.coders.generators.attention.coder import AttentionCoder\n"
        "from agents.coders.kit.chain_trace import _SIGNATURES\n"
        "from agents.coders.kit.fx import op_name\n"
    )
    found = layout_violations([bad], root=tmp_path)
    assert len(found) == 2 and "attention" in found[0] and "private" in found[1]


def test_every_generator_package_is_registered() -> None:
    packages = {p.name for p in (CODERS / "generators").iterdir() if (p / "__init__.py").exists()}
    registered = {g.factory.split(":")[0].split(".")[3] for g in GENERATORS.values()}
    assert packages == registered


def test_routes_cover_every_op_family_and_name_real_generators() -> None:
    assert set(OP_FAMILIES.values()) < set(ROUTES)
    assert [g.name for g in build_generators()] == list(GENERATORS)
    for family, names in ROUTES.items():
        assert names and set(names) <= set(GENERATORS), family


@pytest.mark.parametrize("name", list(GENERATORS))
def test_each_generator_is_asked_for_references(name: str) -> None:
    assert name in ROUTES["graph"]
