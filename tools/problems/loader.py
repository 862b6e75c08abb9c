"""Turn a file path or an op name into a :class:`~tools.records.problem.Problem`.

A file is checked statically first (it parses; it defines ``Model``, ``get_inputs`` and
``get_init_inputs``), then run on the meta device to read its input shapes and dtype
without allocating them, then traced to infer its op (``tools.problems.analysis``).
An op name (``softmax``, ``log-softmax``, ``mm``) renders a generated file instead
(``tools.problems.ops``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from tools.errors import ProblemError
from tools.problems.analysis import infer_op_from_namespace
from tools.problems.materialize import (
    AllocationCapExceeded,
    call_get_inputs,
    cpu_guard,
    exec_source,
    meta_device,
)
from tools.problems.ops import OP_FAMILIES, canonical_op, list_ops, normalize_dtype, render_op
from tools.problems.ops import parse_shape as parse_shape
from tools.problems.validate import check_source
from tools.records.problem import Problem

logger = logging.getLogger(__name__)

SMALL_FILE_CHARS = 64 * 1024
"""Largest source (in characters) that may fall back to a real CPU run when meta fails."""

__all__ = ["load_problem", "load_problem_file", "parse_shape", "read_inputs"]


def _first_line(error: BaseException) -> str:
    """``TypeName: first line of the message``, for one-sentence errors."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def read_inputs(source: str, filename: str) -> tuple[dict[str, Any], list[Any]]:
    """Execute problem source and call ``get_inputs()`` without allocating real tensors.

    Runs on the meta device; only when that fails and the source is small does it run
    on CPU for real, under a byte cap (``tools.problems.materialize.cpu_guard``).

    Args:
        source: KernelBench source that passed :func:`~tools.problems.validate.check_source`.
        filename: The file's name, for messages.

    Returns:
        The executed module namespace and the list ``get_inputs()`` returned.

    Raises:
        ProblemError: When the source cannot run, or its inputs are too large for the
            CPU fallback.
    """
    try:
        with meta_device():
            namespace = exec_source(source, filename)
            return namespace, call_get_inputs(namespace)
    except (Exception, SystemExit) as e:
        meta_error = e
    if len(source) > SMALL_FILE_CHARS:
        raise ProblemError(
            f"problem file {filename} cannot run on the meta device "
            f"({_first_line(meta_error)}) and is too large to run on CPU instead"
        ) from meta_error
    logger.info("%s: meta device failed (%s); running it on CPU", filename, meta_error)
    try:
        with cpu_guard():
            namespace = exec_source(source, filename)
            return namespace, call_get_inputs(namespace)
    except AllocationCapExceeded as e:
        raise ProblemError(
            f"problem file {filename} cannot run on the meta device "
            f"({_first_line(meta_error)}) and its inputs are too large to build on CPU ({e})"
        ) from e
    except (Exception, SystemExit) as e:
        raise ProblemError(f"problem file {filename} fails to run: {_first_line(e)}") from e


def describe_inputs(inputs: list[Any]) -> tuple[list[list[int]], str]:
    """Shapes of the tensor inputs, and the dtype name of the first floating one.

    Args:
        inputs: What ``get_inputs()`` returned.

    Returns:
        ``(shapes, dtype)``; dtype is ``float32`` when no input is floating point.
    """
    tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
    floating = [t for t in tensors if t.is_floating_point()]
    dtype = str(floating[0].dtype).removeprefix("torch.") if floating else "float32"
    return [list(t.shape) for t in tensors], dtype


def load_problem_file(path: str | Path) -> Problem:
    """Load and describe a KernelBench problem file.

    Args:
        path: Path of a ``.py`` file defining ``Model``, ``get_inputs`` and
            ``get_init_inputs``.

    Returns:
        The Problem, with shapes, dtype and (where recognised) op, params and family.

    Raises:
        ProblemError: When the file is missing, unreadable, malformed, or fails to run.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ProblemError(f"problem file {file} does not exist or is not a file")
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ProblemError(f"problem file {file} cannot be read: {_first_line(e)}") from e
    check_source(source, file.name)
    namespace, inputs = read_inputs(source, file.name)
    shapes, dtype = describe_inputs(inputs)
    op, params, family = infer_op_from_namespace(namespace, inputs)
    logger.debug("%s: op=%s family=%s shapes=%s", file.name, op, family, shapes)
    return Problem(
        name=file.stem,
        source=source,
        op_family=family,
        op=op,
        params=params,
        dtype=dtype,
        shapes=shapes,
        origin=str(file.resolve()),
    )


def load_problem(spec: str, *, shape: str | None = None, dtype: str | None = None) -> Problem:
    """Resolve a problem from a file path or an op name.

    Args:
        spec: Path of a KernelBench ``.py`` file, or an op name or alias (case-insensitive:
            ``softmax``, ``log-softmax``, ``LayerNorm``, ``linear+relu``, ``mm``...).
        shape: Size override for named ops, e.g. ``4096x8192`` (``MxNxK`` for matmul and
            linear ops; see ``tools.problems.ops``).
        dtype: dtype override for named ops: float32, float16, bfloat16 or an alias.

    Returns:
        The Problem; a generated one has ``origin == "op:<name>"``.

    Raises:
        ProblemError: For an unknown op, a bad shape or dtype, an override given with a
            file, or a file that cannot be loaded.
    """
    text = spec.strip()
    path = Path(text).expanduser()
    if text.endswith(".py") or path.is_file():
        if shape is not None or dtype is not None:
            raise ProblemError(
                f"--shape and --dtype apply to named ops only; to change {path.name}, "
                "edit its get_inputs()"
            )
        return load_problem_file(path)
    name = canonical_op(text)
    if name is None:
        raise ProblemError(
            f"unknown op {spec!r}; known ops are {', '.join(list_ops())}, "
            "or give the path of a KernelBench .py file"
        )
    dims = parse_shape(shape) if shape is not None else None
    dtype_name = normalize_dtype(dtype) if dtype is not None else "float32"
    source, params, _ = render_op(name, shape=dims, dtype=dtype_name)
    check_source(source, f"{name}.py")
    _, inputs = read_inputs(source, f"{name}.py")
    shapes, _ = describe_inputs(inputs)
    return Problem(
        name=name,
        source=source,
        op_family=OP_FAMILIES[name],
        op=name,
        params=params,
        dtype=dtype_name,
        shapes=shapes,
        origin=f"op:{name}",
    )
