"""Static checks on KernelBench source: parses, and defines Model, get_inputs, get_init_inputs.

Runs nothing: it reads the syntax tree, so a malformed file costs no imports and no tensors.
Each failure is one sentence that names exactly what is missing.
"""

from __future__ import annotations

import ast

from tools.errors import ProblemError

_NEEDS = "a KernelBench problem needs class Model, get_inputs() and get_init_inputs()"

_EXPECTED = {"Model": "class", "get_inputs": "function", "get_init_inputs": "function"}


def _shown(name: str) -> str:
    """How a required name is written in messages: ``Model`` or ``get_inputs()``."""
    return f"`{name}`" if _EXPECTED[name] == "class" else f"`{name}()`"


def _top_level_kinds(tree: ast.Module) -> dict[str, str]:
    """Map each top-level name to how it is bound: class, function or other."""
    kinds: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            kinds[node.name] = "class"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kinds[node.name] = "function"
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        kinds[sub.id] = "other"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                kinds[(alias.asname or alias.name).split(".")[0]] = "other"
    return kinds


def check_source(source: str, filename: str) -> ast.Module:
    """Parse KernelBench source and check that it defines the three required names.

    A name bound by assignment or import (``get_inputs = make_inputs``) is accepted, since
    its kind cannot be known without running the file.

    Args:
        source: The Python source.
        filename: The file's name, used in messages.

    Returns:
        The parsed module.

    Raises:
        ProblemError: On a syntax error, or when a required name is missing or is bound
            to the wrong kind of definition.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as e:
        raise ProblemError(
            f"problem file {filename} has a syntax error at line {e.lineno}: {e.msg}"
        ) from e
    except ValueError as e:  # Python 3.11 reports null bytes this way
        raise ProblemError(f"problem file {filename} cannot be parsed: {e}") from e
    kinds = _top_level_kinds(tree)
    missing = [n for n in _EXPECTED if n not in kinds]
    if missing:
        what = " and ".join(f"no {_shown(n)} {_EXPECTED[n]}" for n in missing)
        raise ProblemError(f"problem file {filename} defines {what}; {_NEEDS}")
    wrong = [n for n in _EXPECTED if kinds[n] not in (_EXPECTED[n], "other")]
    if wrong:
        what = " and ".join(f"`{n}` as a {kinds[n]}, not a {_EXPECTED[n]}" for n in wrong)
        raise ProblemError(f"problem file {filename} defines {what}; {_NEEDS}")
    return tree
