"""Static import analysis of the repository's packages (ast only; nothing is imported).

Used by the architecture tests: the layer table of DESIGN.md, import circles, and imports of
private names across modules.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PACKAGES = ("kevolve", "graph", "agents", "tools", "vectorstore", "hardware_docs", "evals")
"""Top-level packages of the product (tests/ may import everything and is not analysed)."""


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``importer`` imports ``name`` from ``module``."""

    importer: str
    """Dotted module name of the importing file."""
    path: Path
    line: int
    module: str
    """The imported module (absolute, dotted)."""
    name: str | None
    """The imported name for ``from module import name``; ``None`` for ``import module``."""
    type_only: bool
    """Inside an ``if TYPE_CHECKING:`` block."""


def module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted module name of a file under ``root`` (``pkg/__init__.py`` -> ``pkg``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every import in one file, with whether it is type-only."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    importer = module_name(path, root)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_stmt(stmt, True)
                for stmt in child.orelse:
                    visit_stmt(stmt, type_only)
                continue
            visit_stmt(child, type_only)

    def visit_stmt(stmt: ast.AST, type_only: bool) -> None:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                found.append(Import(importer, path, stmt.lineno, alias.name, None, type_only))
        elif isinstance(stmt, ast.ImportFrom):
            module = _resolve(importer, is_package, stmt.level, stmt.module)
            for alias in stmt.names:
                found.append(Import(importer, path, stmt.lineno, module, alias.name, type_only))
        else:
            visit(stmt, type_only)

    visit(tree, False)
    return found


def source_files(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    """The product's Python files (shipped example kernels and problem files included)."""
    files: list[Path] = []
    for pkg in packages:
        files += sorted(p for p in (root / pkg).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def all_imports(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    """Imports of every product file."""
    out: list[Import] = []
    for path in source_files(root, packages):
        out += imports_of(path, root)
    return out


def known_modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> set[str]:
    """Dotted names of every product module and package."""
    return {module_name(p, root) for p in source_files(root, packages)}


def target_module(imp: Import, modules: set[str]) -> str | None:
    """The product module an import loads: ``from pkg import sub`` is ``pkg.sub`` when that is
    a module, else ``pkg``; ``None`` for third-party imports."""
    if imp.name is not None and f"{imp.module}.{imp.name}" in modules:
        return f"{imp.module}.{imp.name}"
    if imp.module in modules:
        return imp.module
    return None


def module_graph(
    imports: list[Import], modules: set[str], *, include_type_only: bool = False
) -> dict[str, set[str]]:
    """Module -> product modules it imports (self-edges dropped)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.type_only and not include_type_only:
            continue
        dst = target_module(imp, modules)
        if dst is not None and dst != imp.importer:
            graph.setdefault(imp.importer, set()).add(dst)
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []
    counter = 0

    for start in sorted(graph):
        if start in index:
            continue
        # Iterative Tarjan: (node, iterator over its successors).
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, succ = work[-1]
            advanced = False
            for nxt in succ:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    circles.append(sorted(comp))
    return sorted(circles)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(imports: list[Import], modules: set[str]) -> list[Import]:
    """``from x import _y`` where ``x`` is another product module and ``_y`` a private name
    (a private submodule of one's own package counts too: ``from pkg import _impl``), and any
    import of a product module whose dotted path has a private part (``import pkg._impl``,
    ``from pkg._impl import name``)."""
    out = []
    for imp in imports:
        target = target_module(imp, modules)
        if imp.module not in modules and target is None:
            continue
        if imp.module == imp.importer:
            continue
        private_name = imp.name is not None and _private(imp.name)
        private_path = target is not None and any(map(_private, target.split(".")))
        if private_name or private_path:
            out.append(imp)
    return out


def layer_table(doc: Path) -> dict[str, set[str]]:
    """Package -> packages it may import, from the markdown table of ``doc``.

    Rows look like ``| `graph/` | its job | agents, tools |``; ``—`` means nothing.
    """
    table: dict[str, set[str]] = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not (cells[0].startswith("`") and cells[0].endswith("/`")):
            continue
        pkg = cells[0].strip("`/")
        allowed = {a.strip() for a in cells[-1].split(",") if a.strip() not in ("", "—")}
        table[pkg] = allowed
    return table


def upward_imports(
    imports: list[Import], modules: set[str], table: dict[str, set[str]]
) -> list[tuple[Import, str]]:
    """Imports that cross from one package into another the table does not allow."""
    bad = []
    for imp in imports:
        dst = target_module(imp, modules)
        if dst is None:
            continue
        src_pkg, dst_pkg = imp.importer.split(".")[0], dst.split(".")[0]
        if src_pkg == dst_pkg:
            continue
        if dst_pkg not in table.get(src_pkg, set()):
            bad.append((imp, dst))
    return bad
