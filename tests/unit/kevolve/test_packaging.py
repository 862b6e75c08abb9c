"""The dependency split: the base install is the evaluator alone, ``all`` is the product.

``pyproject.toml`` is read with ``tomllib``; each requirement is followed through the
installed distributions' metadata (``importlib.metadata``), so a third-party package that
itself pulls in LangGraph or Chroma is caught too. The test environment is the full one
(``.[test]``), so every requirement of the worker install is installed here.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import REPO as ROOT
from tests.unit.kevolve.test_worker_import_closure import WORKER_MODULES

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NAME = canonicalize_name(PROJECT["name"])
ORCHESTRATOR = {
    "langgraph",
    "langchain",
    "langchain-core",
    "langchain-openai",
    "chromadb",
    "sentence-transformers",
    "fastapi",
    "uvicorn",
    "typer",
    "pydantic-settings",
}
OWN_PACKAGES = {
    "kevolve",
    "agents",
    "graph",
    "tools",
    "vectorstore",
    "hardware_docs",
    "evals",
    "tests",
}


def _project_requirements(extras: set[str]) -> list[Requirement]:
    """The project's base requirements plus those of ``extras``, self-references expanded."""
    seen: set[str] = set()
    todo = set(extras)
    out = [Requirement(r) for r in PROJECT["dependencies"]]
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for line in PROJECT["optional-dependencies"][extra]:
            req = Requirement(line)
            if canonicalize_name(req.name) == NAME:
                todo |= set(req.extras) - seen
            else:
                out.append(req)
    return out


def closure(extras: set[str]) -> set[str]:
    """Canonical names of every distribution ``pip install 'kevolve[extras]'`` installs."""
    names: set[str] = set()
    missing: list[str] = []
    todo = [(req, frozenset()) for req in _project_requirements(extras)]
    while todo:
        req, wanted = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (wanted or {""})):
            continue
        name = canonicalize_name(req.name)
        if name in names:
            continue
        names.add(name)
        try:
            requires = md.distribution(name).requires or []
        except md.PackageNotFoundError:
            missing.append(name)
            continue
        todo += [(Requirement(r), frozenset(req.extras)) for r in requires]
    assert not missing, (
        f"{missing} are not installed, so their own requirements cannot be followed; "
        "install the test extra: pip install -e '.[test]'"
    )
    return names


def _module_dists(modules: set[str]) -> dict[str, set[str]]:
    """Top-level module -> canonical names of the distributions that provide it."""
    provided = md.packages_distributions()
    return {m: {canonicalize_name(d) for d in provided.get(m, [])} for m in modules}


def test_worker_install_pulls_in_no_orchestrator_package():
    base, worker = closure(set()), closure({"worker"})
    assert {"torch", "triton", "numpy", "pydantic", "ray"} <= worker
    assert not worker & ORCHESTRATOR, sorted(worker & ORCHESTRATOR)
    assert not base & ORCHESTRATOR, sorted(base & ORCHESTRATOR)


BLOCKED_PROBE = """
import importlib, importlib.abc, json, sys
blocked = set(json.loads(sys.argv[1]))
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Absent())
for name in sys.argv[2:]:
    importlib.import_module(name)
print("imported")
"""


def test_worker_modules_import_on_the_worker_install_alone():
    """Every module of a distribution outside ``kevolve[worker]`` is made unimportable (as on
    a slim node: optional imports fall back); the worker modules must still import."""
    worker = closure({"worker"})
    blocked = sorted(
        module
        for module, dists in md.packages_distributions().items()
        if module not in OWN_PACKAGES
        and dists
        and not {canonicalize_name(d) for d in dists} & worker
    )
    assert "langgraph" in blocked and "chromadb" in blocked
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_PROBE, json.dumps(blocked), *WORKER_MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr[-3000:]


def _top_level_imports(path: Path) -> set[str]:
    """Modules a file imports unconditionally at module level (not in try/if/functions)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_full_install_covers_what_the_product_imports():
    full = closure({"all"})
    assert ORCHESTRATOR <= full, sorted(ORCHESTRATOR - full)
    imported: set[str] = set()
    for package in ("kevolve", "graph", "agents", "vectorstore"):
        for path in (ROOT / package).rglob("*.py"):
            imported |= _top_level_imports(path)
    third_party = imported - OWN_PACKAGES - set(sys.stdlib_module_names) - {"__future__"}
    dists = _module_dists(third_party)
    unknown = sorted(m for m, d in dists.items() if not d)
    assert not unknown, f"imported by the product, installed by no distribution here: {unknown}"
    uncovered = {m: d for m, d in dists.items() if not d & full}
    assert not uncovered, f"imported by the product but not in kevolve[all]: {uncovered}"


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith("python3 -m venv")]


def _installed_extras(command: str) -> set[str]:
    for word in shlex.split(command.split("&&")[1]):
        match = re.fullmatch(r"(?:-e)?\.(?:\[(.*)\])?", word)
        if match:
            return set(filter(None, (match.group(1) or "").split(",")))
    pytest.fail(f"no install of the project in {command!r}")


def test_readme_installs_the_full_product_and_ci_runs_its_test_command():
    run, test = _readme_commands()
    assert "kevolve optimize softmax" in run and "pytest" in test
    for command in (run, test):
        direct = {
            canonicalize_name(r.name) for r in _project_requirements(_installed_extras(command))
        }
        assert ORCHESTRATOR <= direct, command
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == [test]


def test_the_command_line_on_the_slim_install_names_the_full_install():
    script = BLOCKED_PROBE.replace(
        'for name in sys.argv[2:]:\n    importlib.import_module(name)\nprint("imported")',
        "sys.argv = ['kevolve', '--help']\nfrom kevolve.entry import main\nmain()",
    )
    assert "main()" in script
    done = subprocess.run([sys.executable, "-c", script, json.dumps(["typer", "rich"])],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "error: the kevolve command line needs the full install, and typer is missing (this "
        "looks like the slim evaluator install); run `pip install 'kevolve[all]'`."
    ]
    full = subprocess.run([sys.executable, "-c", "from kevolve.entry import main; main()", "--help"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert full.returncode == 0 and "optimize" in full.stdout, full.stderr[-2000:]
