"""Reading a KernelBench reference: ``ast`` surgery that turns ``Model`` into ``ModelNew``.

A candidate must build its parameters exactly as the reference does (the evaluator seeds
the RNG before constructing ``Model`` and ``ModelNew``), so the coders copy the reference's
``Model`` class -- renamed, with every reference to it renamed -- and replace only
``forward``. The harness functions ``get_inputs``/``get_init_inputs`` and any statement that
mentions them are dropped, so a candidate never calls back into the reference.
"""

from __future__ import annotations

import ast
import textwrap

from tools.errors import ProblemError

REFERENCE_CLASS = "Model"
CANDIDATE_CLASS = "ModelNew"
HARNESS_NAMES = frozenset({"get_inputs", "get_init_inputs"})


def parse_reference(source: str) -> ast.Module:
    """Parse a reference source, raising ``ProblemError`` when it is not valid Python."""
    try:
        return ast.parse(source)
    except SyntaxError as e:
        raise ProblemError(
            f"The problem source is not valid Python ({e.msg}, line {e.lineno})."
        ) from e


def _model_class(tree: ast.Module) -> ast.ClassDef:
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == REFERENCE_CLASS:
            return stmt
    raise ProblemError("The problem source defines no class Model; write it in KernelBench format.")


def forward_arg_names(source: str) -> tuple[str, ...] | None:
    """Positional argument names of ``Model.forward`` (without ``self``).

    Returns:
        The names, or ``None`` when ``forward`` is missing or takes ``*args``/``**kwargs``
        or keyword-only arguments.
    """
    cls = _model_class(parse_reference(source))
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "forward":
            a = stmt.args
            if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
                return None
            return tuple(arg.arg for arg in a.args[1:])
    return None


def _mentions(node: ast.AST, names: frozenset[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def is_main_guard(stmt: ast.stmt) -> bool:
    """Whether a statement is an ``if __name__ ...`` block (a script's entry, not the module)."""
    return (
        isinstance(stmt, ast.If)
        and isinstance(stmt.test, ast.Compare)
        and isinstance(stmt.test.left, ast.Name)
        and stmt.test.left.id == "__name__"
    )


class _Rename(ast.NodeTransformer):
    """Rename the class ``Model`` and every bare reference to it."""

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id == REFERENCE_CLASS:
            return ast.copy_location(ast.Name(id=CANDIDATE_CLASS, ctx=node.ctx), node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        self.generic_visit(node)
        if node.name == REFERENCE_CLASS:
            node.name = CANDIDATE_CLASS
        return node


def model_new_block(source: str, forward_src: str | None = None) -> str:
    """The reference module turned into a candidate module body.

    Args:
        source: The KernelBench reference source.
        forward_src: A complete ``def forward(self, ...)`` to put in place of the reference's
            ``forward``; ``None`` keeps the reference's own (the PyTorch passthrough).

    Returns:
        Python source: the reference's imports, constants and helpers, and ``class ModelNew``
        (``Model`` renamed, ``__init__`` unchanged), without ``get_inputs``/``get_init_inputs``
        and without any statement that mentions them or a ``__main__`` guard.

    Raises:
        ProblemError: The source does not parse or defines no ``Model``.
    """
    tree = parse_reference(source)
    _model_class(tree)
    body: list[ast.stmt] = []
    for stmt in tree.body:
        is_harness_def = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
            stmt.name in HARNESS_NAMES
        )
        if is_harness_def or is_main_guard(stmt) or _mentions(stmt, HARNESS_NAMES):
            continue
        body.append(stmt)
    tree.body = body
    tree = _Rename().visit(tree)
    if forward_src is not None:
        new_forward = ast.parse(textwrap.dedent(forward_src)).body[0]
        cls = next(
            s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == CANDIDATE_CLASS
        )
        kept = [s for s in cls.body if not (isinstance(s, ast.FunctionDef) and s.name == "forward")]
        cls.body = kept + [new_forward]
    ast.fix_missing_locations(tree)
    return ast.unparse(tree) + "\n"
