"""Shared inputs of the GEMM generator tests: small KernelBench references and a plan oracle.

Imported by the tests of this folder as ``fixtures``. ``evaluate_plan`` executes a :class:`GemmPlan` with
plain PyTorch (in float64), so a plan -- the plain one or a rewrite's -- can be compared with
the reference ``Model`` on random inputs without any kernel.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from tests.support import model_source
from tools.records import Problem

_HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

LINEAR_EPILOGUE = model_source(
    """
        y = self.linear(x * 2.0)
        y = F.gelu(y, approximate="tanh") * self.scale + res
        return torch.clamp(y, min=-1.5, max=1.5)
    """,
    "torch.randn(2, 9, 40), torch.randn(2, 9, 24)",
    args="x, res",
    params="k, n",
    init="""
        self.linear = nn.Linear(k, n)
        self.scale = nn.Parameter(torch.randn(n))
    """,
    init_inputs="40, 24",
)
"""3-D linear (leading dims folded into M), a scaled input, bias, gelu(tanh), a per-column
parameter, a residual input and a clamp; M=18, N=24, K=40."""

MM_ACTIVATIONS = model_source(
    """
        y = torch.matmul(A, B.t()) / 4.0
        y = F.leaky_relu(y * self.rowscale, 0.2) * self.s
        y = torch.tanh(y) + F.silu(y) - F.elu(y, alpha=0.5) + torch.sigmoid(y) * torch.relu(y)
        return F.hardtanh(y, -0.5, 0.9)
    """,
    "torch.randn(37, 70), torch.randn(45, 70)",
    args="A, B",
    init="""
        self.rowscale = nn.Parameter(torch.rand(37, 1) + 0.5)
        self.s = nn.Parameter(torch.tensor(0.7))
    """,
)
"""A @ B.T with a per-row parameter, a 0-dim parameter and a chain of activations."""

MORE_ACTIVATIONS = model_source(
    """
        y = self.linear(x)
        a = F.gelu(y) + F.mish(y) - F.softplus(y, beta=2.0) + F.hardswish(y)
        return F.relu6(a * F.hardsigmoid(y)) - torch.clamp(y, max=0.25)
    """,
    "torch.randn(21, 33)",
    init="self.linear = nn.Linear(33, 29, bias=False)",
)

BADDBMM = model_source(
    """
        y = torch.baddbmm(i, a, b, beta=0.5, alpha=0.25)
        return torch.sigmoid(y) * 2 + self.shift
    """,
    "torch.randn(3, 19, 21), torch.randn(3, 19, 33), torch.randn(3, 33, 21)",
    args="i, a, b",
    init="self.shift = nn.Parameter(torch.randn(3, 1, 1))",
)
"""Batched product with alpha/beta and an addend, a per-batch parameter."""

EINSUM = model_source(
    'return torch.relu(torch.einsum("bik,bkj->bij", x, y)) - 0.1',
    "torch.randn(2, 17, 24), torch.randn(2, 24, 20)",
    args="x, y",
)

MATVEC = model_source(
    "return torch.relu(A @ v) + 1.0",
    "torch.randn(50, 300), torch.randn(300)",
    args="A, v",
)
"""Matrix-vector (``mv``): the thin side is N = 1."""

VECMAT = model_source(
    "return torch.tanh(v @ self.weight.t())",
    "torch.randn(200)",
    args="v",
    init="self.weight = nn.Parameter(torch.randn(40, 200) / 10)",
)
"""Vector-matrix: the thin side is M = 1 (the matrix is a transposed parameter)."""

THIN3 = model_source(
    "return torch.sigmoid(torch.mm(A, B))",
    "torch.randn(45, 130), torch.randn(130, 3)",
    args="A, B",
)
"""A thin but not unit N (3): the gemv kernel unrolls it."""

SKINNY = model_source(
    'return F.gelu(torch.matmul(A, B), approximate="tanh")',
    "torch.randn(20, 1500), torch.randn(1500, 24)",
    args="A, B",
)
"""Small M*N and a long K: the split-K shape."""

LINEAR_SUM = model_source(
    """
        y = (self.linear(x) * 0.5 + 0.25 - self.offset) / 2.0
        y = torch.mean(y, dim=-1)
        return torch.tanh(y * 3.0) - 1.0
    """,
    "torch.randn(3, 10, 70)",
    params="k, n",
    init="""
        self.linear = nn.Linear(k, n)
        self.offset = nn.Parameter(torch.randn(n))
    """,
    init_inputs="70, 45",
)
"""A mean over a linear layer's output features (rewrite ``sum_to_gemv``)."""

LINEAR_SUM_KEEPDIM = model_source(
    """
        y = torch.sum(self.linear(x), dim=1, keepdim=True)
        return torch.sigmoid(y / 8.0)
    """,
    "torch.randn(29, 70)",
    params="k, n",
    init="self.linear = nn.Linear(k, n)",
    init_inputs="70, 45",
)

TWO_LINEARS = model_source(
    "return torch.relu(self.l2(self.l1(x)) * 0.5)",
    "torch.randn(2, 17, 20)",
    init="""
        self.l1 = nn.Linear(20, 96)
        self.l2 = nn.Linear(96, 24)
    """,
)
"""Two back-to-back linears, K=20 -> H=96 -> N=24: merging cuts 2MH(K+N) to 2MKN FLOPs."""

TWO_LINEARS_WIDE_K = (
    TWO_LINEARS.replace("nn.Linear(20, 96)", "nn.Linear(64, 16)")
    .replace("nn.Linear(96, 24)", "nn.Linear(16, 64)")
    .replace("torch.randn(2, 17, 20)", "torch.randn(2, 17, 64)")
)
"""K=64 -> H=16 -> N=64: merging would raise the FLOPs (K*N > H*(K+N)); rejected."""

REJECTED = {
    "relu between two linears": "self.l2(torch.relu(self.l1(x)))",
    "reduction before the matmul": "x.sum(0, keepdim=True) @ self.w",
    "softmax before the matmul": "torch.softmax(x, dim=-1) @ self.w",
    "pure pointwise": "torch.relu(x) * 2",
    "layer norm after": "F.layer_norm(self.l1(x), (32,))",
    "softmax after": "torch.softmax(self.l1(x), dim=-1)",
    "activation on an input": "torch.relu(x) @ self.w",
    "two independent products": "(x @ self.w) + (x @ self.w.flip(0))",
    "non-affine before a sum": "torch.relu(self.l1(x)).sum(-1)",
    "several outputs": "(self.l1(x), x)",
}
"""A forward expression the generator must reject, by what it shows."""
REJECTION_SOURCE = model_source(
    "return {expr}",
    "torch.randn(4, 16)",
    init="""
        self.l1 = nn.Linear(16, 32)
        self.l2 = nn.Linear(32, 8)
        self.w = nn.Parameter(torch.randn(16, 8))
    """,
)


def problem(source: str, name: str = "gemm", dtype: str = "float32") -> Problem:
    """A file problem (``op`` None) for a reference source."""
    return Problem(name=name, source=source, op=None, dtype=dtype, origin="test")


# ---- the plan oracle ------------------------------------------------------------------------
def _clamp_min(x: torch.Tensor, lo: Any) -> torch.Tensor:
    return torch.where(x < lo, torch.as_tensor(lo, dtype=x.dtype), x)


def _clamp_max(x: torch.Tensor, hi: Any) -> torch.Tensor:
    return torch.where(x > hi, torch.as_tensor(hi, dtype=x.dtype), x)


TORCH_OPS: dict[str, Any] = {
    "identity": lambda x: x,
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "neg": torch.neg,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "exp": torch.exp,
    "expm1": torch.expm1,
    "log": torch.log,
    "log1p": torch.log1p,
    "sqrt": torch.sqrt,
    "rsqrt": torch.rsqrt,
    "abs": torch.abs,
    "sin": torch.sin,
    "cos": torch.cos,
    "erf": torch.erf,
    "reciprocal": torch.reciprocal,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "mish": F.mish,
    "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish,
    "leaky_relu": lambda x, s: torch.where(x < 0, x * s, x),
    "elu": lambda x, a: torch.where(x > 0, x, a * torch.expm1(x)),
    "softplus": lambda x, b, t: torch.where(x * b > t, x, torch.log1p(torch.exp(x * b)) / b),
    "clamp_min": _clamp_min,
    "clamp_max": _clamp_max,
    "maximum": lambda a, b: torch.maximum(torch.as_tensor(a), torch.as_tensor(b)),
    "minimum": lambda a, b: torch.minimum(torch.as_tensor(a), torch.as_tensor(b)),
    "where": torch.where,
    "gt": torch.gt,
    "ge": torch.ge,
    "lt": torch.lt,
    "le": torch.le,
    "eq": torch.eq,
    "ne": torch.ne,
    "pow": torch.pow,
}


def _kv_reshape(t: torch.Tensor, spec: Any) -> torch.Tensor:
    from agents.coders.generators.gemm.shapes import eval_spec

    return t.reshape(eval_spec(tuple(t.shape), spec))


def _resolve(source: Any, env: dict[str, Any]) -> torch.Tensor:
    return eval(source.render(), {"_kv_reshape": _kv_reshape}, env)


def _scaled(mat: Any, env: dict[str, Any]) -> torch.Tensor:
    t = _resolve(mat.source, env)
    for op, c in mat.prologue:
        t = t * c if op == "mul" else t / c
    return t


def evaluate_plan(
    plan: Any, module: torch.nn.Module, args: dict[str, torch.Tensor]
) -> torch.Tensor:
    """What the kernels of ``plan`` compute, in PyTorch (use float64 module and inputs)."""
    env: dict[str, Any] = {"self": module, **args}
    for pre in plan.precompute:
        srcs = [_resolve(s, env) for s in pre.sources]
        env[pre.name] = srcs[0].sum(-1) if pre.kind == "rowsum" else srcs[0] @ srcs[1]
    a, b = _scaled(plan.a, env), _scaled(plan.b, env)
    if plan.a.norm_eps is not None:  # F.normalize over K, as the kernel folds it
        a = a / a.norm(dim=-1, keepdim=True).clamp_min(plan.a.norm_eps)
    if plan.b.norm_eps is not None:
        b = b / b.norm(dim=-2, keepdim=True).clamp_min(plan.b.norm_eps)
    acc = (a @ b).reshape(plan.batch, plan.m, plan.n)
    mm3 = (plan.batch, plan.m, plan.n)
    node_shape = {
        "mm": (plan.m, plan.n),
        "bmm": mm3,
        "mv": (plan.m,),
        "dot": (),
    }[plan.kind]
    values: dict[str, Any] = {"acc": acc}
    for o in plan.operands:
        t = _resolve(o.source, env)
        values[o.name] = t.expand(o.cur_shape or node_shape).reshape(mm3)
    for s in plan.steps:
        values[s.var] = TORCH_OPS[s.op](*[values[x] if isinstance(x, str) else x for x in s.args])
    return values[plan.result].reshape(plan.out_shape or node_shape)


def reference_and_inputs(source: str, seed: int = 0) -> tuple[torch.nn.Module, list[torch.Tensor]]:
    """The reference ``Model`` (float64) and random float64 inputs."""
    namespace: dict[str, Any] = {"__name__": "gemm_reference"}
    exec(compile(source, "<reference>", "exec"), namespace)  # noqa: S102 - test references
    torch.manual_seed(seed)
    model = namespace["Model"](*namespace["get_init_inputs"]()).double()
    inputs = [t.double() for t in namespace["get_inputs"]()]
    return model, inputs


def max_rel_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest |got - want| relative to max(1, |want|)."""
    scale = want.abs().clamp(min=1.0)
    err = ((got - want).abs() / scale).max()
    return float(err) if not math.isnan(float(err)) else float("inf")
