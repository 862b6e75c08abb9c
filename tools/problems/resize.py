"""Resize a KernelBench problem by rewriting its module-level size constants.

The convention (used by every problem under ``evals/problems/``):

* Sizes are module-level ``UPPER_CASE = <int>`` assignments that ``get_inputs()`` and
  ``get_init_inputs()`` read. The value may be an int literal or a constant expression of
  ints (``2**20``, ``64 * 1024``, ``1 << 16``).
* A file declares which of them may change, and in steps of what, with one dict literal::

      KEVOLVE_SIZES = {"BATCH": 1, "SEQ": 64, "CHANNELS": GROUPS}

  Keys name size constants; values are the granularity ``g`` (a positive int, or the name
  of another int constant): a resized value is always a multiple of ``g`` and at least ``g``
  (so at least 1). Constants not listed (a head dim, a group count, a kernel size) never
  change. ``KEVOLVE_SIZES`` itself is left as written.
* A file without ``KEVOLVE_SIZES`` (KernelBench's own files) may still be resized on
  request: its sizes are found by :func:`discovered_sizes` (module-level int constants in any
  case, ``height = width = 128`` and ``d, h, w = 16, 32, 32`` included, not kernel sizes,
  strides, groups or heads), each with granularity 1; ``tools.problems.fit`` validates the
  result by running the reference. Only files that declare ``KEVOLVE_SIZES`` are resized
  automatically (irregular-shape checks), because only their author said which constants
  are free.

Rewriting goes through ``ast`` positions: only the value expressions of the resized
constants change; comments, formatting and every other line stay byte for byte.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tools.errors import ProblemError

SIZES_DICT = "KEVOLVE_SIZES"
"""Name of the module-level dict that declares the resizable constants and their steps."""

_BINOPS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
}

__all__ = [
    "SIZES_DICT",
    "SizeConstant",
    "declared_sizes",
    "discovered_sizes",
    "fit_source",
    "has_declared_sizes",
    "irregular_overrides",
    "resize_source",
    "snap",
]


@dataclass(frozen=True)
class SizeConstant:
    """One resizable module-level constant."""

    name: str
    value: int
    granularity: int
    """Resized values are multiples of this, and at least this."""
    node: ast.expr
    """The value expression in the parsed source (its position is what gets rewritten)."""


def _int_of(node: ast.expr, known: Mapping[str, int]) -> int | None:
    """The value of a constant int expression, or ``None`` when it is not one."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        return known.get(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _int_of(node.left, known), _int_of(node.right, known)
        if left is None or right is None or (isinstance(node.op, ast.Pow) and right > 64):
            return None
        if isinstance(node.op, (ast.FloorDiv, ast.LShift)) and (right == 0 or right < 0):
            return None
        return _BINOPS[type(node.op)](left, right)
    return None


def _assignments(stmt: ast.stmt) -> list[tuple[str, ast.expr]]:
    """``(name, value expression)`` pairs a module-level statement binds.

    ``a = 1``, ``a: int = 1``, ``a = b = 1`` (both names share the value) and
    ``a, b = 1, 2`` (element by element); anything else binds nothing here.
    """
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        targets, value = [stmt.target], stmt.value
    elif isinstance(stmt, ast.Assign):
        targets, value = list(stmt.targets), stmt.value
    else:
        return []
    pairs: list[tuple[str, ast.expr]] = []
    for target in targets:
        if isinstance(target, ast.Name):
            pairs.append((target.id, value))
        elif (
            isinstance(target, ast.Tuple)
            and isinstance(value, ast.Tuple)
            and len(target.elts) == len(value.elts)
        ):
            pairs.extend(
                (t.id, v) for t, v in zip(target.elts, value.elts) if isinstance(t, ast.Name)
            )
    return pairs


def _module_ints(tree: ast.Module, any_case: bool = False) -> dict[str, tuple[int, ast.expr]]:
    """Module-level ``NAME = <constant int expression>`` assignments, in order.

    Args:
        tree: The parsed module.
        any_case: Also lower-case names (``batch_size = 16``, KernelBench's own style);
            by default only ``UPPER_CASE`` names count.
    """
    found: dict[str, tuple[int, ast.expr]] = {}
    known: dict[str, int] = {}
    for stmt in tree.body:
        for name, value in _assignments(stmt):
            number = _int_of(value, known)
            if number is None:
                known.pop(name, None)
                found.pop(name, None)
                continue
            known[name] = number
            if any_case or name.isupper():
                found[name] = (number, value)
    return found


def _sizes_dict(tree: ast.Module) -> ast.Dict | None:
    """The ``KEVOLVE_SIZES = {...}`` dict literal, if the module has one."""
    node = None
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == SIZES_DICT
        ):
            if not isinstance(stmt.value, ast.Dict):
                raise ProblemError(f"{SIZES_DICT} must be a dict literal of name -> step")
            node = stmt.value
    return node


_PARSE_LOCK = threading.Lock()
"""CPython 3.11's parser is not safe when threads parse at once (``SystemError: AST
constructor recursion depth mismatch``, python/cpython#106905); the evaluator resizes
problems from parallel evaluation threads, so every parse here is serialised."""


def _ast_parse(source: str) -> ast.Module:
    with _PARSE_LOCK:
        return ast.parse(source)


def _parse(source: str) -> ast.Module:
    try:
        return _ast_parse(source)
    except SyntaxError as e:
        raise ProblemError(f"problem source does not parse (line {e.lineno}): {e.msg}") from e


def has_declared_sizes(source: str) -> bool:
    """Whether ``source`` declares its resizable sizes with a ``KEVOLVE_SIZES`` dict."""
    try:
        return _sizes_dict(_ast_parse(source)) is not None
    except (SyntaxError, ProblemError):
        return False


def declared_sizes(source: str) -> list[SizeConstant]:
    """The resizable constants of a problem, in the order they are assigned.

    Args:
        source: KernelBench Python source.

    Returns:
        The constants listed in ``KEVOLVE_SIZES`` with their steps, or, when the file has no
        such dict, every module-level ``UPPER_CASE`` int constant with step 1.

    Raises:
        ProblemError: The source does not parse, or ``KEVOLVE_SIZES`` names a constant that
            is not a module-level int, or gives a step that is not a positive int.
    """
    tree = _parse(source)
    ints = _module_ints(tree)
    spec = _sizes_dict(tree)
    if spec is None:
        return discovered_sizes(source)
    known = {name: value for name, (value, _) in ints.items()}
    steps: dict[str, int] = {}
    for key, value in zip(spec.keys, spec.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            raise ProblemError(f"{SIZES_DICT} keys must be constant names as strings")
        step = _int_of(value, known)
        if step is None or step < 1:
            raise ProblemError(f"{SIZES_DICT}[{key.value!r}] must be a positive int step")
        if key.value not in ints:
            raise ProblemError(
                f"{SIZES_DICT} names {key.value!r}, which is not a module-level int constant"
            )
        steps[key.value] = step
    return [SizeConstant(n, v, steps[n], node) for n, (v, node) in ints.items() if n in steps]


STRUCTURAL_NAME = re.compile(
    r"kernel|stride|pad|dilation|group|head|eps|factor|drop|prob|axis|layers|patch|window"
    r"|top_?k",
    re.IGNORECASE,
)
"""Names of constants that shape an op rather than size its data (never resized unasked)."""
MIN_SIZE_VALUE = 8
"""Undeclared constants below this are taken for counts or dims (``dim = 1``), not sizes."""


def discovered_sizes(source: str) -> list[SizeConstant]:
    """The sizes of a file that does not declare ``KEVOLVE_SIZES`` (KernelBench's own files).

    A size is a module-level int constant, in any case (``batch_size = 16``, ``N = 2048 * 2``,
    ``height = width = 128``, ``depth, height, width = 16, 32, 32``) whose value is written
    with literals only (``groups = in_channels`` follows ``in_channels`` by itself), is at
    least ``MIN_SIZE_VALUE``, and whose name does not say it shapes the op (kernel size,
    stride, padding, groups, heads, ...: ``STRUCTURAL_NAME``). Steps are 1.

    Args:
        source: Python source.

    Returns:
        The sizes, in the order they are assigned.

    Raises:
        ProblemError: The source does not parse.
    """
    tree = _parse(source)
    found = dict(_module_ints(tree, any_case=True))
    for stmt in tree.body:  # ``input_shape = (4096, 8192)``: each element is a size
        for name, value in _assignments(stmt):
            if isinstance(value, (ast.Tuple, ast.List)):
                for i, elt in enumerate(value.elts):
                    number = _int_of(elt, {})
                    if number is not None:
                        found[f"{name}[{i}]"] = (number, elt)
    sizes = []
    for name, (value, node) in found.items():
        literal = not any(isinstance(n, ast.Name) for n in ast.walk(node))
        if literal and value >= MIN_SIZE_VALUE and not STRUCTURAL_NAME.search(name):
            sizes.append(SizeConstant(name, value, 1, node))
    sizes.sort(key=lambda s: (s.node.lineno, s.node.col_offset))
    return sizes


def snap(value: float, granularity: int) -> int:
    """The nearest multiple of ``granularity`` to ``value``, and at least ``granularity``."""
    return granularity * max(1, round(value / granularity))


def _targets(
    sizes: list[SizeConstant], factor_or_overrides: float | Mapping[str, int]
) -> dict[str, int]:
    """New values for the constants that change."""
    if isinstance(factor_or_overrides, Mapping):
        by_name = {s.name: s for s in sizes}
        new: dict[str, int] = {}
        for name, value in factor_or_overrides.items():
            if name not in by_name:
                raise ProblemError(f"{name!r} is not a resizable size of this problem")
            step = by_name[name].granularity
            if type(value) is not int or value < 1 or value % step:
                raise ProblemError(f"size {name}={value!r} must be a positive multiple of {step}")
            new[name] = value
        return new
    factor = float(factor_or_overrides)
    if not math.isfinite(factor) or factor <= 0:
        raise ProblemError(
            f"a resize factor must be a positive number, not {factor_or_overrides!r}"
        )
    return {s.name: snap(s.value * factor, s.granularity) for s in sizes}


def resize_source(source: str, factor_or_overrides: float | Mapping[str, int]) -> str:
    """Rewrite a problem's size constants and keep everything else as written.

    Args:
        source: KernelBench source following the module docstring's convention.
        factor_or_overrides: A positive number that multiplies every resizable size (each
            result snapped to its step, and at least the step), or a mapping of constant name
            to its new value (each a positive multiple of its step).

    Returns:
        The new source. Sizes that keep their value keep their original text.

    Raises:
        ProblemError: The source does not parse, the factor is not positive, or an override
            names an unknown constant or breaks its step.
    """
    sizes = declared_sizes(source)
    new = _targets(sizes, factor_or_overrides)
    edits = []
    seen: set[tuple[int, int]] = set()
    for s in sizes:
        where = (s.node.lineno, s.node.col_offset)
        if s.name in new and new[s.name] != s.value and where not in seen:
            seen.add(where)  # ``height = width = 128``: one value, one edit
            edits.append((s.node, str(new[s.name])))
    if not edits:
        return source
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    data = source.encode("utf-8")
    spans = []
    for node, text in edits:
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset
        spans.append((start, end, text.encode("utf-8")))
    for start, end, text in sorted(spans, reverse=True):
        data = data[:start] + text + data[end:]
    return data.decode("utf-8")


def irregular_overrides(source: str, rule: Callable[[int], int]) -> dict[str, int] | None:
    """Overrides that move every declared size to ``rule(size)``, snapped down to its step.

    Only files with a ``KEVOLVE_SIZES`` dict qualify (their author said which sizes are
    free); the result is ``None`` when the file declares none, or when no size would change.

    Args:
        source: KernelBench source.
        rule: The new size for an old one, e.g. ``d // 2 + 3``.

    Returns:
        Constant name -> new value, or ``None``.
    """
    if not has_declared_sizes(source):
        return None
    try:
        sizes = declared_sizes(source)
    except ProblemError:
        return None
    new = {s.name: s.granularity * max(1, rule(s.value) // s.granularity) for s in sizes}
    if all(new[s.name] == s.value for s in sizes):
        return None
    return new


def footprint_bytes(source: str) -> int:
    """Bytes of ``get_inputs()`` tensors plus the Model's parameters and buffers (meta device)."""
    from tools.problems.materialize import footprint, instantiate, meta_device

    with meta_device():
        model, inputs = instantiate(source, "<resize>")
    return footprint(model, inputs)


def fit_source(source: str, max_bytes: int, *, steps: int = 24) -> tuple[str, float]:
    """Shrink a problem until its inputs plus parameters take at most ``max_bytes``.

    The sizes are scaled by one common factor (found by bisection on the meta device, so
    nothing is allocated); a problem already small enough is returned unchanged.

    Args:
        source: KernelBench source following this module's convention.
        max_bytes: Most bytes of inputs, parameters and buffers together.
        steps: Bisection steps.

    Returns:
        The resized source and the factor applied (1.0 when unchanged).

    Raises:
        ProblemError: The source cannot run on the meta device.
    """
    try:
        if footprint_bytes(source) <= max_bytes:
            return source, 1.0
        lo, hi = 0.0, 1.0
        best = resize_source(source, 1e-9)
        for _ in range(steps):
            mid = (lo + hi) / 2
            candidate = resize_source(source, mid)
            if footprint_bytes(candidate) <= max_bytes:
                lo, best = mid, candidate
            else:
                hi = mid
    except ProblemError:
        raise
    except Exception as e:  # the problem's own code failed on the meta device
        raise ProblemError(f"cannot measure the problem's size on the meta device: {e}") from e
    return best, max(lo, 1e-9)
