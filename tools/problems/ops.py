"""Named ops that resolve to generated KernelBench problem files.

``kevolve run softmax`` needs no file: the op name picks a Jinja2 template under
``templates/`` and fills in the shape, dtype and params. Coders key on the op names and on
the ``params`` keys below, so both are part of the contract.

Default shapes are sized for a GPU yet still run on a 2-core CPU (one 4096x8192 fp32 input
is 128 MiB):

========================  ==========================  ======================  ===========
op                        params (besides sizes)      default shape           ``--shape``
========================  ==========================  ======================  ===========
softmax, log_softmax      dim=-1                      (M, N) = (4096, 8192)   ``MxN``
layer_norm                eps=1e-5                    (4096, 8192)            ``MxN``
rms_norm                  eps=1e-6                    (4096, 8192)            ``MxN``
gelu                      approximate="none"          (4096, 8192)            ``MxN``
silu, relu, sigmoid, tanh                             (4096, 8192)            ``MxN``
sum, mean, max, min       dim=-1                      (4096, 8192)            ``MxN``
argmax                    dim=-1                      (4096, 8192)            ``MxN``
cumsum                    dim=-1                      (4096, 8192)            ``MxN``
mse_loss                  reduction="mean"            (4096, 8192)            ``MxN``
cross_entropy             reduction="mean"            (M, N) = (4096, 8192)   ``MxN`` only
matmul                                                M = N = K = 2048        ``MxNxK``
linear, linear_relu       bias=True                   M = N = K = 2048        ``MxNxK``
========================  ==========================  ======================  ===========

Row ops accept more dims (``8x128x4096``): the last dim is the row, ``N`` its length and
``M`` the product of the others. ``matmul`` reads ``MxNxK`` as A (M, K) @ B (K, N);
``linear``/``linear_relu`` read it as batch x out_features x in_features. Every ``params``
records the sizes ``M``, ``N`` (and ``K`` for matmul and linear). ``max``/``min`` return
values only (``torch.amax``/``torch.amin``); ``cross_entropy`` has N classes and integer
targets. Inputs are ``torch.randn`` (never zeros).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2  # a dependency of torch itself, so present on every worker

from tools.errors import ProblemError

TEMPLATES_DIR = Path(__file__).parent / "templates"

ROW_DEFAULT = (4096, 8192)
"""Default (M, N) of row, pointwise, reduction, scan and loss ops."""
MNK_DEFAULT = (2048, 2048, 2048)
"""Default (M, N, K) of matmul and linear ops."""


@dataclass(frozen=True, kw_only=True)
class OpSpec:
    """How one named op becomes a KernelBench file."""

    name: str
    family: str
    template: str
    summary: str
    """Lower-case phrase for docstrings, e.g. ``softmax along dim -1``."""
    expr: str = ""
    """Forward expression for one-input (``x``) or loss (``predictions, targets``) templates."""
    params: dict[str, Any] = field(default_factory=dict)
    shape_kind: str = "rows"
    """``rows`` (any rank, last dim is the row), ``matrix`` (exactly MxN) or ``mnk``."""
    aliases: tuple[str, ...] = ()


def _row(name: str, family: str, expr: str, summary: str, **kw: Any) -> OpSpec:
    return OpSpec(name=name, family=family, template="unary.py.j2", expr=expr,
                  summary=summary, **kw)  # fmt: skip


_DIM = {"dim": -1}
_SPECS = (
    _row("softmax", "softmax", "torch.softmax(x, dim={dim})", "softmax along dim {dim}",
         params=_DIM),
    _row("log_softmax", "softmax", "torch.log_softmax(x, dim={dim})",
         "log-softmax along dim {dim}", params=_DIM),
    OpSpec(name="layer_norm", family="norm", template="layer_norm.py.j2",
           summary="layer norm over the last dim (eps={eps})", params={"eps": 1e-5}),
    OpSpec(name="rms_norm", family="norm", template="rms_norm.py.j2",
           summary="RMS norm over the last dim (eps={eps})", params={"eps": 1e-6}),
    _row("gelu", "pointwise", "torch.nn.functional.gelu(x, approximate={approximate!r})",
         "GELU (approximate={approximate!r})", params={"approximate": "none"}),
    _row("silu", "pointwise", "torch.nn.functional.silu(x)", "SiLU", aliases=("swish",)),
    _row("relu", "pointwise", "torch.relu(x)", "ReLU"),
    _row("sigmoid", "pointwise", "torch.sigmoid(x)", "sigmoid"),
    _row("tanh", "pointwise", "torch.tanh(x)", "tanh"),
    _row("sum", "reduction", "torch.sum(x, dim={dim})", "sum along dim {dim}", params=_DIM),
    _row("mean", "reduction", "torch.mean(x, dim={dim})", "mean along dim {dim}",
         params=_DIM),
    _row("max", "reduction", "torch.amax(x, dim={dim})", "max (values) along dim {dim}",
         params=_DIM, aliases=("amax",)),
    _row("min", "reduction", "torch.amin(x, dim={dim})", "min (values) along dim {dim}",
         params=_DIM, aliases=("amin",)),
    _row("argmax", "reduction", "torch.argmax(x, dim={dim})", "argmax along dim {dim}",
         params=_DIM),
    _row("cumsum", "scan", "torch.cumsum(x, dim={dim})", "cumulative sum along dim {dim}",
         params=_DIM, aliases=("prefix_sum", "scan")),
    OpSpec(name="mse_loss", family="reduction", template="loss.py.j2",
           expr="torch.nn.functional.mse_loss(predictions, targets)",
           summary="mean squared error", params={"reduction": "mean"}, aliases=("mse",)),
    OpSpec(name="cross_entropy", family="softmax", template="loss.py.j2",
           expr="torch.nn.functional.cross_entropy(predictions, targets)",
           summary="cross-entropy over N classes", params={"reduction": "mean"},
           shape_kind="matrix", aliases=("cross_entropy_loss",)),
    OpSpec(name="matmul", family="matmul", template="matmul.py.j2", shape_kind="mnk",
           summary="matrix multiply A @ B", aliases=("mm", "gemm")),
    OpSpec(name="linear", family="matmul", template="linear.py.j2", shape_kind="mnk",
           summary="linear layer", params={"bias": True}),
    OpSpec(name="linear_relu", family="matmul", template="linear.py.j2", shape_kind="mnk",
           summary="linear layer followed by ReLU", params={"bias": True},
           aliases=("linear+relu",)),
)  # fmt: skip

OPS: dict[str, OpSpec] = {spec.name: spec for spec in _SPECS}
"""Every named op, by canonical name."""
OP_FAMILIES: dict[str, str] = {spec.name: spec.family for spec in _SPECS}
"""Canonical op name -> op family tag."""
_ALIASES: dict[str, str] = {a.replace("_", ""): s.name for s in _SPECS for a in s.aliases}
_SQUASHED: dict[str, str] = {name.replace("_", ""): name for name in OPS}
_PREFIXES = ("torch.nn.functional.", "nn.functional.", "torch.", "aten::", "aten.", "f.", "nn.")

DTYPES = {
    "float32": "float32", "fp32": "float32", "f32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "f16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
}  # fmt: skip
"""Accepted dtype spellings -> torch dtype name."""


def list_ops() -> list[str]:
    """Canonical names of every op that resolves to a generated problem, sorted."""
    return sorted(OPS)


def canonical_op(name: str) -> str | None:
    """Resolve an op name or alias, case-insensitively (``LogSoftmax`` -> ``log_softmax``).

    Args:
        name: What the user typed: ``softmax``, ``log-softmax``, ``F.gelu``, ``mm``.

    Returns:
        The canonical op name, or ``None`` when it names no known op.
    """
    key = name.strip().lower()
    for prefix in _PREFIXES:
        key = key.removeprefix(prefix)
    key = key.replace("-", "_").replace(" ", "_")
    squashed = key.replace("_", "")
    if key in OPS:
        return key
    return _ALIASES.get(squashed) or _SQUASHED.get(squashed)


def normalize_dtype(text: str) -> str:
    """Turn a dtype spelling into a torch dtype name (``bf16`` -> ``bfloat16``).

    Args:
        text: ``float32``, ``float16``, ``bfloat16`` or an alias (fp32, fp16, bf16, half),
            optionally prefixed by ``torch.``.

    Returns:
        The torch dtype name.

    Raises:
        ProblemError: For any other dtype.
    """
    key = text.strip().lower().removeprefix("torch.")
    if key not in DTYPES:
        raise ProblemError(
            f"dtype {text!r} is not supported for generated problems; use float32, float16 "
            "or bfloat16 (aliases fp32, fp16, bf16, half)"
        )
    return DTYPES[key]


def parse_shape(text: str) -> list[int]:
    """Parse a shape written ``4096x8192`` or ``4096,8192`` (brackets and spaces allowed).

    Args:
        text: The shape text.

    Returns:
        The dims, each a positive integer.

    Raises:
        ProblemError: When the text is not a list of positive integers.
    """
    cleaned = text.strip().strip("()[]").lower().replace("×", "x").replace(",", "x")
    parts = [p.strip() for p in cleaned.split("x")]
    if not cleaned or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ProblemError(
            f"shape {text!r} is not a list of positive integers such as 4096x8192 or 4096,8192"
        )
    return [int(p) for p in parts]


def _sizes(spec: OpSpec, shape: list[int] | None) -> tuple[list[int], dict[str, int]]:
    """The input shape and the ``M``/``N``/``K`` params for an op and optional override."""
    if spec.shape_kind == "mnk":
        if shape is not None and len(shape) != 3:
            raise ProblemError(
                f"op {spec.name} takes --shape MxNxK ({_MNK_HELP[spec.name]}), "
                f"not {'x'.join(map(str, shape))}"
            )
        m, n, k = shape if shape is not None else MNK_DEFAULT
        return [m, k], {"M": m, "N": n, "K": k}
    dims = list(shape) if shape is not None else list(ROW_DEFAULT)
    if spec.shape_kind == "matrix" and len(dims) != 2:
        raise ProblemError(
            f"op {spec.name} takes --shape MxN (M rows of N classes), "
            f"not {'x'.join(map(str, dims))}"
        )
    return dims, {"M": math.prod(dims[:-1]), "N": dims[-1]}


_MNK_HELP = {
    "matmul": "A is MxK, B is KxN",
    "linear": "batch x out_features x in_features",
    "linear_relu": "batch x out_features x in_features",
}


@functools.lru_cache(1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = repr
    env.filters["sentence"] = lambda s: s[:1].upper() + s[1:]
    return env


def render_op(
    name: str, *, shape: list[int] | None = None, dtype: str = "float32"
) -> tuple[str, dict[str, Any], list[int]]:
    """Render the KernelBench source of a named op.

    Args:
        name: A canonical op name (see :func:`list_ops`).
        shape: Size override (see the module table); ``None`` for the default.
        dtype: A torch dtype name accepted by :func:`normalize_dtype`.

    Returns:
        ``(source, params, shape)``: the file text, the op params including the sizes
        ``M``/``N``/``K``, and the shape of the first input.

    Raises:
        ProblemError: For an unknown op, a shape of the wrong rank, or a bad dtype.
    """
    if name not in OPS:
        raise ProblemError(f"unknown op {name!r}; known ops: {', '.join(list_ops())}")
    spec = OPS[name]
    dims, sizes = _sizes(spec, shape)
    params = {**spec.params, **sizes}
    source = _environment().get_template(spec.template).render(
        op=spec.name,
        summary=spec.summary.format(**params),
        expr=spec.expr.format(**params),
        params=params,
        shape=tuple(dims),
        dtype=normalize_dtype(dtype),
        relu=spec.name == "linear_relu",
    )
    return source, params, dims
