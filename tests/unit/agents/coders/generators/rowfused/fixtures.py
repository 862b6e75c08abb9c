"""KernelBench-style references for the row-fused generator's tests (``op`` None, like files).

``PATTERNS`` maps a name to ``(forward body, inputs, __init__ body, forward args)``; the
inputs are a format string of the shape ``{M}``/``{N}`` (so each test picks odd sizes).
Imported by the tests of this folder as ``fixtures``.
"""

from __future__ import annotations

from typing import Any

from tools.records import Problem, Target

__all__ = [
    "PATTERNS",
    "REJECTED",
    "SPATIAL",
    "Problem",
    "config",
    "problem",
    "sized_problem",
    "sized_source",
    "small_target",
    "source",
]

_SOURCE = """import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self):
        super().__init__()
{init}

    def forward(self, {args}):
        return {expr}


def get_inputs():
    return {inputs}


def get_init_inputs():
    return []
"""

X = "[torch.randn({M}, {N})]"
XT = "[torch.randn({M}, {N}), torch.randn({M}, {N})]"
PATTERNS: dict[str, tuple[str, str, str, str]] = {
    "softmax": ("torch.softmax(x, dim=-1)", X, "", "x"),
    "log_softmax": ("torch.log_softmax(x, dim=1)", X, "", "x"),
    "logsumexp": ("torch.logsumexp(x, dim=-1)", X, "", "x"),
    "layer_norm": ("self.ln(x)", X, "self.ln = nn.LayerNorm({N})", "x"),
    "layer_norm_plain": ("F.layer_norm(x, (x.shape[-1],), eps=1e-6)", X, "", "x"),
    "rms_norm": (
        "x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight",
        X,
        "self.weight = nn.Parameter(torch.randn({N}))",
        "x",
    ),
    "normalize": ("F.normalize(x, dim=-1)", X, "", "x"),
    "l1_normalize": ("x / torch.sum(torch.abs(x), dim=1, keepdim=True)", X, "", "x"),
    "sum": ("torch.sum(x, dim=-1)", X, "", "x"),
    "mean_keepdim": ("torch.mean(x, dim=-1, keepdim=True)", X, "", "x"),
    "amax": ("torch.amax(x, dim=-1)", X, "", "x"),
    "amin": ("torch.amin(x, dim=-1)", X, "", "x"),
    "max_values": ("torch.max(x, dim=-1).values", X, "", "x"),
    "prod": ("torch.prod(1.0 + 0.01 * x, dim=-1)", X, "", "x"),
    "var": ("torch.var(x, dim=-1)", X, "", "x"),
    "std_biased": ("torch.std(x, dim=-1, correction=0)", X, "", "x"),
    "argmax": ("torch.argmax(x, dim=-1).float()", X, "", "x"),
    "argmin": ("torch.argmin(x, dim=-1).float()", X, "", "x"),
    "silu_sum": ("(x * torch.sigmoid(x)).sum(-1)", X, "", "x"),
    "gelu_mean": ("F.gelu(x).mean(dim=-1)", X, "", "x"),
    "norm": ("torch.norm(x, dim=-1)", X, "", "x"),
    "mse": ("torch.mean((x - t) ** 2)", XT, "", "x, t"),
    "mse_sum": ("F.mse_loss(x, t, reduction='sum')", XT, "", "x, t"),
    "huber": ("F.smooth_l1_loss(x, t)", XT, "", "x, t"),
    "huber_beta": ("F.huber_loss(x, t, delta=0.5)", XT, "", "x, t"),
    "kl_div": (
        "F.kl_div(torch.log(x), t, reduction='batchmean')",
        "[torch.randn({M}, {N}).softmax(-1), torch.randn({M}, {N}).softmax(-1)]",
        "",
        "x, t",
    ),
    "hinge": (
        "torch.clamp(1 - x * t, min=0).mean()",
        "[torch.randn({M}, {N}), torch.randint(0, 2, ({N},)).float() * 2 - 1]",
        "",
        "x, t",
    ),
    "cross_entropy": (
        "F.cross_entropy(x, t.long())",
        "[torch.randn({M}, {N}), torch.randint(0, {N}, ({M},))]",
        "",
        "x, t",
    ),
    "cosine_loss": ("torch.mean(1 - F.cosine_similarity(x, t, dim=1))", XT, "", "x, t"),
    "row_scaled_softmax": (
        "torch.softmax(x * s + self.temperature, dim=-1)",
        "[torch.randn({M}, {N}), torch.rand({M}, 1) + 0.5]",
        "self.temperature = nn.Parameter(torch.tensor(0.7))",
        "x, s",
    ),
    "triplet": (
        "self.loss(x, p, n)",
        "[torch.randn({M}, {N}), torch.randn({M}, {N}), torch.randn({M}, {N})]",
        "self.loss = nn.TripletMarginLoss(margin=1.0)",
        "x, p, n",
    ),
}
"""Patterns along the last dim (rows of ``N``) and whole-tensor losses."""

NCHW = "[torch.randn({M}, 6, 3, {N})]"
SPATIAL: dict[str, tuple[str, str, str, str]] = {
    "group_norm": ("self.gn(x)", NCHW, "self.gn = nn.GroupNorm(3, 6)", "x"),
    "instance_norm": ("self.inorm(x)", NCHW, "self.inorm = nn.InstanceNorm2d(6)", "x"),
    "sum_dim1": ("torch.sum(x, dim=1, keepdim=True)", NCHW, "", "x"),
    "mean_dim1": ("torch.mean(x, dim=1)", NCHW, "", "x"),
    "amax_dim1": ("torch.amax(x, dim=1)", NCHW, "", "x"),
    "argmin_dim1": ("torch.argmin(x, dim=1).float()", NCHW, "", "x"),
    "softmax_dim1": ("torch.softmax(x, dim=1)", NCHW, "", "x"),
    "rms_dim1": ("x / torch.sqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-5)", NCHW, "", "x"),
    "sum_mid": ("torch.sum(x, dim=1)", "[torch.randn({M}, {N}, 7)]", "", "x"),
    "log_softmax_mid": ("torch.log_softmax(x, dim=1)", "[torch.randn({M}, {N}, 7)]", "", "x"),
}
"""Stretch patterns: (N, C, H, W) norms and reductions over a non-last dim."""

REJECTED: dict[str, tuple[str, str, str]] = {
    "matmul": ("torch.softmax(x @ x.t(), dim=-1)", X, "matrix multiply"),
    "scan": ("torch.cumsum(x, dim=-1).sum(-1)", X, "scan"),
    "pointwise": ("torch.relu(x) * 2", X, "no reduction"),
    "whole_in_rows": ("x / x.sum()", X, "second kernel"),
    "frobenius": ("x / torch.norm(x, p='fro')", X, "second kernel"),
    "two_dims": ("torch.softmax(x, dim=0) + torch.softmax(x, dim=1)", X, "different dims"),
    "split_dims": ("x.sum(dim=(0, 2))", "[torch.randn({M}, 4, {N})]", "not adjacent"),
    "transpose_rows": ("torch.softmax(x.t(), dim=-1)", X, "memory order"),
}
"""References one row program cannot compute, and a word of the expected refusal."""


def source(name: str, M: int = 5, N: int = 37) -> str:
    """The reference source of a pattern (``PATTERNS``, ``SPATIAL`` or ``REJECTED``) at a size."""
    if name in REJECTED:
        expr, inputs, _ = REJECTED[name]
        init, args = "", "x"
    else:
        expr, inputs, init, args = {**PATTERNS, **SPATIAL}[name]
    body = f"        {init.format(M=M, N=N)}" if init else "        pass"
    return _SOURCE.format(init=body, args=args, expr=expr, inputs=inputs.format(M=M, N=N))


def problem(name: str, M: int = 5, N: int = 37, dtype: str = "float32") -> Problem:
    """A file-like problem (``op`` None) for one pattern."""
    return Problem(
        name=f"{name}_{M}x{N}", source=source(name, M, N), op=None, dtype=dtype, origin="test"
    )


def small_target(base: Target, compute_units: int = 2) -> Target:
    """``base`` with few compute units, so a persistent grid strides over several tiles."""
    return base.model_copy(update={"compute_units": compute_units, "name": f"{base.name}-small"})


def config(variant: str, block_m: int, block_n: int = 0, persistent: int = 0, **extra: Any) -> dict:
    """An explicit configuration (``num_warps`` 1 keeps interpreter runs quick)."""
    params: dict[str, Any] = {"variant": variant, "BLOCK_M": block_m}
    if variant == "looped":
        params["BLOCK_N"] = block_n
    params |= {"num_warps": 1, "num_stages": 1, "persistent": persistent, **extra}
    return params


def sized_source(name: str, M: int, N: int) -> str:
    """A pattern's source whose sizes are declared constants (``ROWS``, ``COLS``, resizable)."""
    plain = source(name, "ROWS", "COLS")  # type: ignore[arg-type]
    head = f'ROWS = {M}\nCOLS = {N}\nKEVOLVE_SIZES = {{"ROWS": 1, "COLS": 1}}\n\n'
    marker = "\n\nclass Model"
    plain = plain.replace(marker, "\n\n" + head + "\nclass Model", 1)
    # __init__ takes the size (as the evaluator's models do), not the module constant
    plain = plain.replace("def __init__(self):", "def __init__(self, COLS):")
    return plain.replace(
        "def get_init_inputs():\n    return []", "def get_init_inputs():\n    return [COLS]"
    )


def sized_problem(name: str, M: int, N: int, dtype: str = "float32") -> Problem:
    """A file-like problem with declared sizes (the evaluator re-shapes such files)."""
    return Problem(
        name=f"{name}_sized_{M}x{N}",
        source=sized_source(name, M, N),
        op=None,
        dtype=dtype,
        origin="test",
    )
