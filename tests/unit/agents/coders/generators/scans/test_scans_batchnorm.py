"""Inference-mode batch norm traced into the pointwise chain (``agents/coders/fx_trace.py``).

Eval-mode ``nn.BatchNorm*d`` and ``F.batch_norm(..., training=False)`` become per-channel
broadcast operands of the fused pointwise kernel; training-mode batch norm (what a freshly
built reference is: the evaluator never calls ``.eval()``) is rejected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.coders import TritonOfflineCoder
from agents.coders.kit.chain_trace import trace_chain
from tests.unit.agents.coders.generators.scans import fixtures as sf
from tools.errors import ProblemError

_SOURCE = """import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn = nn.{module}(c{module_args})
        self.register_buffer("rm", torch.randn(c))
        self.register_buffer("rv", torch.rand(c) + 0.5)
        self.w = nn.Parameter(torch.randn(c))
        if self.bn.running_mean is not None:
            with torch.no_grad():
                self.bn.running_mean.uniform_(-1, 1)
                self.bn.running_var.uniform_(0.5, 2.0)
{eval}

    def forward(self, x):
        {body}


def get_inputs():
    return [torch.randn({shape})]


def get_init_inputs():
    return [7]
"""
MIXED = "y = torch.relu(self.bn(x) * 2); return F.batch_norm(y, self.rm, self.rv, self.w, None, training=False, eps=1e-3) + x"


def _source(
    body: str = "return self.bn(x)",
    shape: str = "3, 7, 5, 6",
    module: str = "BatchNorm2d",
    module_args: str = "",
    eval_mode: bool = True,
) -> str:
    return _SOURCE.format(
        module=module,
        module_args=module_args,
        eval="        self.eval()" if eval_mode else "",
        body="\n        ".join(s.strip() for s in body.split(";")),
        shape=shape,
    )


def test_eval_module_becomes_channel_broadcast_operands() -> None:
    chain = trace_chain(_source())
    kinds = {o.expr: o.kind for o in chain.operands}
    assert kinds == {
        "x": "full",
        "self.bn.running_mean.view(-1, 1, 1)": "bcast",
        "self.bn.running_var.view(-1, 1, 1)": "bcast",
        "self.bn.weight.view(-1, 1, 1)": "bcast",
        "self.bn.bias.view(-1, 1, 1)": "bcast",
    }
    assert chain.summary == "sub -> add -> sqrt -> div -> mul -> add"


def test_functional_batch_norm_and_ranks() -> None:
    chain = trace_chain(_source(MIXED))
    exprs = [o.expr for o in chain.operands]
    assert "self.rm.view(-1, 1, 1)" in exprs and "self.w.view(-1, 1, 1)" in exprs
    assert "self.rm" not in exprs  # read only by batch_norm: no last-dim operand for it
    flat = trace_chain(_source(shape="6, 7", module="BatchNorm1d"))
    assert {o.expr for o in flat.operands} >= {"self.bn.running_mean", "self.bn.bias"}
    no_affine = trace_chain(_source(module_args=", affine=False"))
    assert len(no_affine.operands) == 3 and no_affine.summary == "sub -> add -> sqrt -> div"
    three_d = trace_chain(_source(shape="2, 7, 3, 4, 5", module="BatchNorm3d"))
    assert "self.bn.weight.view(-1, 1, 1, 1)" in {o.expr for o in three_d.operands}


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (_source(eval_mode=False), "training mode"),
        (_source(module_args=", track_running_stats=False"), "batch statistics"),
        (_source("return F.batch_norm(x, self.rm, self.rv, training=True)"), "training=True"),
        (_source("return F.batch_norm(x, None, None, training=True)"), "training=True"),
    ],
)
def test_batch_statistics_are_rejected(source: str, words: str) -> None:
    with pytest.raises(ProblemError, match=words) as info:
        trace_chain(source)
    assert "\n" not in str(info.value) and str(info.value).endswith(".")


CODER = TritonOfflineCoder()


def _draft(source: str, target: Any, index: int = 0) -> str:
    problem = sf.problem("bn", source)
    return CODER.seed(problem, target)[index].source


def test_fused_kernel_matches_and_compiles(tmp_path: Path) -> None:
    mixed, module = _source(MIXED), _source()
    common = {"seeds": [0, 1], "atol": 1e-4, "rtol": 1e-4}
    cases = [
        {
            "id": "mixed",
            "reference": mixed,
            "candidate": _draft(mixed, sf.H100),
            "noncontiguous": True,
            **common,
        },
        {
            "id": "module-hip",
            "reference": module,
            "candidate": _draft(module, sf.MI300X, 1),
            **common,
        },
        {
            "id": "mixed-fp16",
            "reference": mixed,
            "candidate": _draft(mixed, sf.H100),
            **common,
            "dtype": "float16",
            "atol": 2e-2,
            "rtol": 1e-2,
        },
    ]
    (tmp_path / "check").mkdir()
    (tmp_path / "compile").mkdir()
    results = sf.run("check", cases, tmp_path / "check", interpret=True)
    for case_id, result in results.items():
        assert result["ok"], (case_id, result)
    compiled = sf.run(
        "compile",
        [
            {
                "id": "cuda",
                "reference": mixed,
                "candidate": _draft(mixed, sf.H100),
                "targets": ["cuda:90"],
            },
            {
                "id": "hip",
                "reference": mixed,
                "candidate": _draft(mixed, sf.MI300X),
                "targets": ["hip:gfx942"],
            },
        ],
        tmp_path / "compile",
    )
    assert all(r["ok"] for r in compiled.values()), compiled
