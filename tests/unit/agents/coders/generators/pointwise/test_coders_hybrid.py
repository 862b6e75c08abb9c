"""Vendor head + fused pointwise tail (``agents.coders.generators.pointwise.hybrid``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.coders.generators.pointwise.hybrid import HybridCoder, split
from tests.unit.agents.coders import fixtures as fx
from tools.errors import ProblemError
from tools.records import Problem

CONV_TAIL = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """Conv, then a per-channel bias, GELU, scaling, a residual input and a clamp."""

    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k)
        self.bias = nn.Parameter(torch.randn(cout, 1, 1))

    def forward(self, x, r):
        y = self.conv(x)
        y = y + self.bias
        y = torch.nn.functional.gelu(y) * 0.5 + r
        return torch.clamp(y, min=-1.0, max=1.0)


def get_inputs():
    return [torch.randn(2, 3, 13, 11), torch.randn(2, 8, 11, 9)]


def get_init_inputs():
    return [3, 8, 3]
'''

SHARED = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        s = torch.sort(x, dim=-1).values
        t = torch.relu(s) * 2.0
        return t + s.sum(-1, keepdim=True) - 1.0


def get_inputs():
    return [torch.randn(5, 7)]


def get_init_inputs():
    return []
"""


def _problem(source: str) -> Problem:
    return Problem(name="hybrid", source=source, op=None, shapes=[[2, 3, 13, 11]], origin="test")


def test_split_keeps_the_conv_and_fuses_the_tail() -> None:
    hs = split(CONV_TAIL)
    assert hs.kept == ("Conv2d",)
    assert hs.spec.chain is not None
    ops = hs.spec.chain.summary.split(" -> ")
    assert ops[0] == "add" and "gelu" in ops and ops[-1] == "clamp_max"
    assert [o.expr for o in hs.spec.chain.operands] == ["_kv_h[0]", "_kv_h[1]", "_kv_h[2]"]
    assert [o.kind for o in hs.spec.chain.operands] == ["full", "bcast", "full"]
    assert "self.conv(x)" in hs.head_body and hs.head_body.rstrip().endswith("(conv, bias, r)")


def test_a_value_used_by_the_head_stays_in_the_head() -> None:
    hs = split(SHARED)  # s feeds both the tail and the sum: the sum stays a library call
    assert "sum" in hs.kept and "sort" in hs.kept
    assert hs.spec.chain is not None and hs.spec.chain.summary == "relu -> mul -> add -> sub"


@pytest.mark.parametrize(
    "source, reason",
    [
        (fx.CHAIN, "whole forward is pointwise"),
        (CONV_TAIL.replace("return torch.clamp(y, min=-1.0, max=1.0)", "return y")
         .replace("y = torch.nn.functional.gelu(y) * 0.5 + r", "y = torch.relu(y)")
         .replace("y = y + self.bias", "pass"), "saves nothing"),
    ],
)  # fmt: skip
def test_rejections_are_one_sentence(source: str, reason: str) -> None:
    with pytest.raises(ProblemError, match=reason):
        split(source)
    assert not HybridCoder().supports(_problem(source), fx.H100)


def test_named_ops_are_left_to_their_templates() -> None:
    assert not HybridCoder().supports(fx.named_problem("softmax"), fx.H100)


def test_drafts_match_the_reference_under_the_interpreter(tmp_path: Path) -> None:
    coder = HybridCoder()
    problem = _problem(CONV_TAIL)
    drafts = coder.seed(problem, fx.H100)
    assert drafts and all(d.template == "triton.hybrid" for d in drafts)
    assert "Library calls kept as written: Conv2d" in drafts[0].source
    assert drafts[0].transformation.endswith("library calls kept: Conv2d")
    cases = [
        {"id": f"d{i}", "reference": CONV_TAIL, "candidate": d.source, "dtype": dt, "seeds": [0],
         "atol": 1e-4 if dt == "float32" else 2e-2, "rtol": 1e-4 if dt == "float32" else 2e-2}
        for i, d in enumerate(drafts[:2])
        for dt in ("float32", "float16")
    ]  # fmt: skip
    for case in cases:
        case["id"] += case["dtype"]
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    assert all(r["ok"] for r in results.values()), results


LOG1P_CHAIN = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        y = torch.tanh(x * 1.7) * x
        y = torch.log1p(y * y) + torch.expm1(x * 1e-3)
        return torch.clamp(y - 0.5, -0.9, 0.9)


def get_inputs():
    return [torch.randn(19, 301) * 3]


def get_init_inputs():
    return []
"""


def test_log1p_and_expm1_fuse_into_one_chain_and_match(tmp_path: Path) -> None:
    from agents.coders import TritonOfflineCoder

    problem = _problem(LOG1P_CHAIN)
    with pytest.raises(ProblemError, match="whole forward is pointwise"):
        split(LOG1P_CHAIN)  # no library head left: the pointwise coder owns it
    drafts = TritonOfflineCoder().seed(problem, fx.H100)
    assert (
        "log1p" in drafts[0].source and "expm1" not in drafts[0].source.split("class ModelNew")[1]
    )
    cases = [{"id": "c", "reference": LOG1P_CHAIN, "candidate": drafts[0].source, "seeds": [0, 1],
              "atol": 1e-5, "rtol": 1e-5}]  # fmt: skip
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    assert results["c"]["ok"], results


CAPTURED_CONSTANT = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """Conv, then a minimum with a tensor built in forward, a per-channel bias and a scale."""

    def __init__(self, cin, cout, k, c):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k)
        self.c = c
        self.bias = nn.Parameter(torch.randn(cout, 1, 1))

    def forward(self, x):
        x = self.conv(x)
        x = torch.min(x, torch.tensor(self.c))
        x = x + self.bias
        return x * 2.0


def get_inputs():
    return [torch.randn(2, 3, 9, 7)]


def get_init_inputs():
    return [3, 5, 3, 0.25]
'''


def test_a_constant_captured_by_the_trace_is_built_in_forward(tmp_path: Path) -> None:
    """``torch.tensor(self.c)`` in forward is traced as ``self._tensor_constant0``, which
    ``ModelNew`` does not have: the head must build it (on the input's device) instead."""
    hs = split(CAPTURED_CONSTANT)
    assert "_tensor_constant" not in hs.head_body
    assert "torch.tensor(0.25, dtype=torch.float32, device=" in hs.head_body
    drafts = HybridCoder().seed(_problem(CAPTURED_CONSTANT), fx.H100)
    cases = [{"id": "c", "reference": CAPTURED_CONSTANT, "candidate": drafts[0].source,
              "seeds": [0], "atol": 1e-5, "rtol": 1e-5}]  # fmt: skip
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    assert results["c"]["ok"], results
