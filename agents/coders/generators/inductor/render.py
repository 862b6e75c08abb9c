"""Turn Inductor's generated module into a standalone KernelBench ``ModelNew`` source.

Inductor writes one Python module per compiled graph: imports, the kernels (C++ through
``async_compile.cpp_pybinding``, Triton through ``async_compile.triton``, their source
inlined as strings), ``async_compile.wait(globals())``, and ``call(args)``. The export keeps
that module as it is, except:

- the benchmarking harness at its end (``get_args``, ``benchmark_compiled_module``, the
  ``__main__`` guard) and imports nothing uses are dropped;
- ``async_compile.wait(globals())`` waits on an explicit dict of the kernels instead;
- ``call`` is bound to ``_inductor_call``, which ``ModelNew.forward`` calls with the
  parameters, inputs and sizes in the order Inductor's graph expects.

The reference module comes first (``Model`` renamed, so ``__init__`` builds the same
parameters), then Inductor's module; a top-level name both define is refused rather than
silently rebound. Nothing calls ``torch.compile`` at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from agents.coders.kit.reference import is_main_guard, model_new_block
from tools.errors import ProblemError

CALL_NAME = "_inductor_call"
HARNESS = frozenset({"get_args", "benchmark_compiled_module"})

_HEADER = '''"""{name}: torch.compile's own kernels (Inductor {torch_version}, {kernel_kind})
exported as a standalone module (origin: inductor export). The kernels are compiled from the source
below when the module loads; no torch.compile or dynamo call runs."""
'''


def _is_wait_globals(stmt: ast.stmt) -> bool:
    """``async_compile.wait(globals())``."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    call = stmt.value
    return (
        isinstance(call.func, ast.Attribute)
        and call.func.attr == "wait"
        and len(call.args) == 1
        and isinstance(call.args[0], ast.Call)
        and isinstance(call.args[0].func, ast.Name)
        and call.args[0].func.id == "globals"
    )


def _is_kernel(stmt: ast.stmt) -> str | None:
    """The name bound by ``name = async_compile.<kind>(...)``, else ``None``."""
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and isinstance(stmt.value.func.value, ast.Name)
        and stmt.value.func.value.id == "async_compile"
    ):
        return stmt.targets[0].id
    return None


def _bound_names(stmt: ast.stmt) -> set[str]:
    """Top-level names a statement binds."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, ast.Import):
        return {a.asname or a.name.split(".")[0] for a in stmt.names}
    if isinstance(stmt, ast.ImportFrom):
        return {a.asname or a.name for a in stmt.names}
    return {
        n.id
        for t in getattr(stmt, "targets", [getattr(stmt, "target", None)])
        if t is not None
        for n in ast.walk(t)
        if isinstance(n, ast.Name)
    }


def _import_origin(stmt: ast.stmt, name: str) -> str | None:
    """What an import statement binds ``name`` to (``math`` -> ``math``), else ``None``."""
    if isinstance(stmt, ast.Import):
        for a in stmt.names:
            if (a.asname or a.name.split(".")[0]) == name:
                return a.name if a.asname else a.name.split(".")[0]
    if isinstance(stmt, ast.ImportFrom):
        for a in stmt.names:
            if (a.asname or a.name) == name:
                return f"{stmt.module}.{a.name}"
    return None


def clean_output_code(code: str) -> str:
    """Inductor's module without its harness, unused imports or ``wait(globals())``.

    Statements are cut by line range from the original text, so kernel source strings stay
    exactly as Inductor wrote them.

    Raises:
        ProblemError: The code does not parse or has no ``call``.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise ProblemError(f"Inductor's output code does not parse: {e.msg}") from e
    lines = code.splitlines()
    kernels: list[str] = []
    pieces: list[str] = []
    has_call = False
    kept_stmts = [
        s
        for s in tree.body
        if not (isinstance(s, ast.FunctionDef) and s.name in HARNESS) and not is_main_guard(s)
    ]
    # names used outside the dropped harness: an import only the harness used goes too
    used = set()
    for s in kept_stmts:
        if not isinstance(s, (ast.Import, ast.ImportFrom)):
            used |= {n.id for n in ast.walk(s) if isinstance(n, ast.Name)}
    for stmt in kept_stmts:
        text = "\n".join(lines[stmt.lineno - 1 : stmt.end_lineno])
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names = _bound_names(stmt)
            if not names & used:
                continue
        if _is_wait_globals(stmt):
            listed = ", ".join(f"{k!r}: {k}" for k in kernels)
            text = f"_kernels = {{{listed}}}\nasync_compile.wait(_kernels)\n" + "".join(
                f"{k} = _kernels[{k!r}]\n" for k in kernels
            )
        name = _is_kernel(stmt)
        if name is not None:
            kernels.append(name)
        if "call" in _bound_names(stmt):
            has_call = True
        pieces.append(text)
    if not has_call:
        raise ProblemError("Inductor's output code defines no call(args); nothing to export.")
    return "\n".join(pieces) + f"\n\n{CALL_NAME} = call\n"


def forward_source(arg_exprs: Sequence[str], n_outputs: int, output_kind: str) -> str:
    """``ModelNew.forward``: call Inductor's ``call`` with its arguments in graph order."""
    if output_kind not in ("tensor", "tuple"):
        raise ProblemError(f"cannot return a {output_kind!r} from an exported forward.")
    listed = ",\n            ".join(arg_exprs)
    result = "outputs[0]" if output_kind == "tensor" else f"tuple(outputs[:{n_outputs}])"
    return (
        "def forward(self, *inputs):\n"
        "    # Inductor's graph takes parameters, inputs and symbolic sizes in this order\n"
        f"    outputs = {CALL_NAME}([\n            {listed},\n    ])\n"
        f"    return {result}\n"
    )


def export_source(
    *,
    problem_name: str,
    reference_source: str,
    output_code: str,
    arg_exprs: Sequence[str],
    n_outputs: int,
    output_kind: str,
    torch_version: str,
    kernel_kind: str,
) -> str:
    """The full ``ModelNew`` module: the reference's ``__init__``, then Inductor's kernels.

    Raises:
        ProblemError: The output code cannot be used, or it binds a top-level name the
            reference module binds too (other than the same import).
    """
    inductor = clean_output_code(output_code)
    block = model_new_block(reference_source, forward_source(arg_exprs, n_outputs, output_kind))
    ref_tree, ind_tree = ast.parse(block), ast.parse(inductor)
    ref_names: dict[str, ast.stmt] = {}
    for stmt in ref_tree.body:
        for name in _bound_names(stmt):
            ref_names[name] = stmt
    for stmt in ind_tree.body:
        for name in _bound_names(stmt):
            other = ref_names.get(name)
            if other is None:
                continue
            same = _import_origin(stmt, name)
            if same is None or same != _import_origin(other, name):
                raise ProblemError(
                    f"the reference module and Inductor's code both define {name!r}; "
                    "the export would rebind it."
                )
    header = _HEADER.format(
        name=problem_name, torch_version=torch_version, kernel_kind=kernel_kind
    )
    return f"{header}{block}\n# ---- Inductor's generated code ----\n{inductor}"
