"""infer_op recognises single ops, written-out patterns and pointwise chains; never raises."""

from __future__ import annotations

from typing import Any

import pytest

from tools.problems.analysis import infer_op
from tools.problems.loader import load_problem
from tools.problems.ops import list_ops


def _source(init: str, forward: str, inputs: str = "[torch.randn(16, 32)]",
            init_inputs: str = "[]", args: str = "x") -> str:  # fmt: skip
    """A KernelBench file with the given __init__ body, forward expression and inputs."""
    return (
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"
        "class Model(nn.Module):\n"
        "    def __init__(self, *a):\n"
        "        super().__init__()\n"
        f"        {init}\n"
        f"    def forward(self, {args}):\n"
        f"        return {forward}\n\n"
        f"def get_inputs():\n    return {inputs}\n\n"
        f"def get_init_inputs():\n    return {init_inputs}\n"
    )


ROWS = {"M": 16, "N": 32}
TWO = "[torch.randn(16, 8), torch.randn(8, 4)]"
SOFTMAX_ROWS = {"dim": 1, **ROWS}
RMS_BY_HAND = "x / torch.sqrt(torch.mean(x ** 2, dim=1, keepdim=True) + self.eps)"

CASES: list[tuple[str, str, tuple[str | None, dict[str, Any], str]]] = [
    ("F.softmax", _source("pass", "F.softmax(x, dim=1)"), ("softmax", SOFTMAX_ROWS, "softmax")),
    ("Tensor.softmax", _source("pass", "x.softmax(-1)"), ("softmax", SOFTMAX_ROWS, "softmax")),
    ("nn.Softmax", _source("self.s = nn.Softmax(dim=-1)", "self.s(x)"),
     ("softmax", {"dim": 1, **ROWS}, "softmax")),
    ("log_softmax 3d", _source("pass", "torch.log_softmax(x, dim=-2)", "[torch.randn(4, 16, 32)]"),
     ("log_softmax", {"dim": 1, "M": 128, "N": 16}, "softmax")),
    ("nn.LayerNorm", _source("self.ln = nn.LayerNorm(a[0], eps=1e-6)", "self.ln(x)",
                             "[torch.randn(2, 4, 8, 8)]", "[(4, 8, 8)]"),
     ("layer_norm", {"eps": 1e-6, "normalized_shape": [4, 8, 8], "elementwise_affine": True,
                     "M": 2, "N": 256}, "norm")),
    ("F.layer_norm", _source("pass", "F.layer_norm(x, (32,))"),
     ("layer_norm", {"eps": 1e-5, "normalized_shape": [32], "elementwise_affine": False, **ROWS},
      "norm")),
    ("rms written out", _source("self.eps = 1e-5", RMS_BY_HAND),
     ("rms_norm", {"eps": 1e-5, "dim": 1, **ROWS}, "norm")),
    ("gelu tanh", _source("pass", "F.gelu(x, approximate='tanh')"),
     ("gelu", {"approximate": "tanh", **ROWS}, "pointwise")),
    ("nn.GELU", _source("self.g = nn.GELU()", "self.g(x)"),
     ("gelu", {"approximate": "none", **ROWS}, "pointwise")),
    ("silu", _source("pass", "F.silu(x)"), ("silu", ROWS, "pointwise")),
    ("relu_", _source("pass", "x.relu_()"), ("relu", ROWS, "pointwise")),
    ("sum keepdim", _source("pass", "torch.sum(x, dim=1, keepdim=True)"),
     ("sum", {"dim": 1, "keepdim": True, **ROWS}, "reduction")),
    ("mean method", _source("pass", "x.mean(-1)"),
     ("mean", {"dim": 1, "keepdim": False, **ROWS}, "reduction")),
    ("max values", _source("pass", "torch.max(x, dim=1)[0]"),
     ("max", {"dim": 1, "keepdim": False, **ROWS}, "reduction")),
    ("max .values", _source("pass", "torch.max(x, dim=-1).values"),
     ("max", {"dim": 1, "keepdim": False, **ROWS}, "reduction")),
    ("amax", _source("pass", "torch.amax(x, dim=-1)"),
     ("max", {"dim": 1, "keepdim": False, **ROWS}, "reduction")),
    ("full sum", _source("pass", "torch.sum(x)"), (None, {}, "reduction")),
    ("cumsum", _source("pass", "x.cumsum(dim=1)"), ("cumsum", {"dim": 1, **ROWS}, "scan")),
    ("@", _source("pass", "A @ B", TWO, args="A, B"),
     ("matmul", {"M": 16, "N": 4, "K": 8}, "matmul")),
    ("bmm", _source("pass", "torch.bmm(A, B)", "[torch.randn(3, 16, 8), torch.randn(3, 8, 4)]",
                    args="A, B"),
     ("matmul", {"M": 16, "N": 4, "K": 8, "batch": 3}, "matmul")),
    ("linear relu", _source("self.fc = nn.Linear(8, 4)", "torch.relu(self.fc(x))",
                            "[torch.randn(16, 8)]"),
     ("linear_relu", {"bias": True, "M": 16, "N": 4, "K": 8}, "matmul")),
    ("linear nn.ReLU", _source("self.fc = nn.Linear(8, 4, bias=False); self.r = nn.ReLU()",
                               "self.r(self.fc(x))", "[torch.randn(16, 8)]"),
     ("linear_relu", {"bias": False, "M": 16, "N": 4, "K": 8}, "matmul")),
    ("pointwise chain", _source("self.s = nn.Parameter(torch.ones(32))",
                                "torch.sigmoid(x * self.s + 1.0) - x.abs()"),
     ("pointwise_chain", {"nodes": 5}, "pointwise")),
    ("maximum is pointwise", _source("pass", "torch.max(x, x * 2)"),
     ("pointwise_chain", {"nodes": 2}, "pointwise")),
    ("mse written out", _source("pass", "torch.mean((a - b) ** 2)",
                                "[torch.randn(16, 32), torch.randn(16, 32)]", args="a, b"),
     ("mse_loss", {"reduction": "mean", **ROWS}, "reduction")),
    ("max with indices", _source("pass", "torch.max(x, dim=-1)[1]"), (None, {}, "fused")),
    ("transposed matmul", _source("pass", "torch.matmul(A.T, B)", TWO, args="A, B"),
     (None, {}, "fused")),
    ("conv", _source("self.c = nn.Conv2d(3, 8, 3)", "self.c(x)", "[torch.randn(2, 3, 8, 8)]"),
     (None, {}, "unknown")),
    ("conv relu", _source("self.c = nn.Conv2d(3, 8, 3)", "torch.relu(self.c(x))",
                          "[torch.randn(2, 3, 8, 8)]"),
     (None, {}, "fused")),
    ("attention", _source("pass", "F.scaled_dot_product_attention(q, k, v)",
                          "[torch.randn(2, 4, 16, 8)] * 3", args="q, k, v"),
     (None, {}, "attention")),
    ("explicit cuda device", _source("pass", "torch.softmax(x, 1)",
                                     "[torch.randn(16, 32, device='cuda')]"),
     ("softmax", {"dim": 1, **ROWS}, "softmax")),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_infer_op(source: str, expected: tuple[str | None, dict[str, Any], str]) -> None:
    assert infer_op(source) == expected


@pytest.mark.parametrize("source", [
    _source("pass", "x if x.sum() > 0 else -x"),  # data-dependent control flow
    _source("pass", "x", "[torch.randn(int(torch.tensor(3).item()), 4)]"),  # meta cannot run
    _source("pass", "x"),  # no compute at all
    "def (",  # not Python
    "import torch\n",  # no Model
    _source("raise RuntimeError('boom')", "x"),
])  # fmt: skip
def test_untraceable_or_trivial_is_unknown(source: str) -> None:
    assert infer_op(source) == (None, {}, "unknown")


@pytest.mark.parametrize("op", list_ops())
def test_generated_problems_are_recognised_as_their_own_op(op: str) -> None:
    mnk = op in ("matmul", "linear", "linear_relu")
    problem = load_problem(op, shape="8x16x4" if mnk else "8x16")
    inferred, params, family = infer_op(problem.source)
    assert (inferred, family) == (op, problem.op_family)
    assert {k: params[k] for k in ("M", "N") if k in problem.params} == {
        k: problem.params[k] for k in ("M", "N")
    }
