"""Offline coders: registry, Protocol conformance, supports(), the PyTorch passthrough, static rules."""

from __future__ import annotations

import ast
from typing import Any

import pytest
import torch

from agents.coders import (
    Coder,
    CppOfflineCoder,
    TritonOfflineCoder,
    coder_for,
    offline_coders,
    pytorch_passthrough,
)
from tests.unit.agents.coders import fixtures as fx
from tools.errors import ConfigError

TRITON = TritonOfflineCoder()
CPP = CppOfflineCoder()


def test_offline_coders_conform_to_the_protocol() -> None:
    coders = offline_coders()
    assert {c.language for c in coders} == {"triton", "cpp"}
    for coder in coders:
        assert isinstance(coder, Coder)
        assert coder_for(coder.language).language == coder.language
    with pytest.raises(ConfigError):
        coder_for("cuda")


def test_supports() -> None:
    assert TRITON.supports(fx.named_problem("softmax"), fx.H100)
    assert not TRITON.supports(fx.named_problem("softmax"), fx.CPU)
    assert CPP.supports(fx.named_problem("softmax"), fx.CPU)
    assert not CPP.supports(fx.named_problem("softmax", dtype="float16"), fx.CPU)
    assert not CPP.supports(fx.named_problem("softmax"), fx.H100)
    assert not TRITON.supports(fx.named_problem("softmax", dim=0), fx.H100)
    unsupported = fx.CHAIN.replace(
        "return torch.where(z > 0.1, z, torch.tanh(y) / 3)", "return z.sum(dim=0)"
    )
    assert not TRITON.supports(fx.chain_problem(unsupported, "reduction_chain"), fx.H100)
    assert TRITON.supports(fx.chain_problem(), fx.H100) and CPP.supports(fx.chain_problem(), fx.CPU)


@pytest.mark.parametrize(
    "op", ["softmax", "layer_norm", "rms_norm", "linear_relu", "max", "gelu", "matmul"]
)
def test_pytorch_passthrough_matches_reference(op: str) -> None:
    problem = fx.named_problem(op, M=8, N=64, K=32)
    draft = pytorch_passthrough(problem)
    assert draft.language == "pytorch" and "get_inputs" not in draft.source
    assert "class Model(" not in draft.source and "Model(" not in draft.source.replace(
        "ModelNew(", ""
    )
    ref_ns: dict[str, Any] = {}
    new_ns: dict[str, Any] = {}
    exec(problem.source, ref_ns)  # noqa: S102 - test inputs
    exec(draft.source, new_ns)  # noqa: S102
    torch.manual_seed(0)
    ref = ref_ns["Model"](*ref_ns["get_init_inputs"]())
    torch.manual_seed(0)
    new = new_ns["ModelNew"](*ref_ns["get_init_inputs"]())
    inputs = ref_ns["get_inputs"]()
    torch.testing.assert_close(new(*inputs), ref(*inputs))


def test_pytorch_passthrough_of_a_file_renames_model() -> None:
    draft = pytorch_passthrough(fx.chain_problem())
    assert "class ModelNew(nn.Module)" in draft.source and "get_init_inputs" not in draft.source
    namespace: dict[str, Any] = {}
    exec(draft.source, namespace)  # noqa: S102
    assert "Model" not in namespace and "get_inputs" not in namespace


ALL_OPS = [
    "softmax",
    "log_softmax",
    "sum",
    "mean",
    "max",
    "min",
    "cumsum",
    "gelu",
    "silu",
    "relu",
    "sigmoid",
    "tanh",
    "layer_norm",
    "rms_norm",
    "matmul",
    "linear",
    "linear_relu",
]


def _init_lines(source: str) -> range:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            return range(node.lineno, (node.end_lineno or node.lineno) + 1)
    return range(0)


def test_every_listed_op_is_supported() -> None:
    for op in ALL_OPS:
        problem = fx.named_problem(op, M=64, N=64, K=64)
        assert TRITON.supports(problem, fx.H100), op
        assert CPP.supports(problem, fx.CPU), op


def test_drafts_pass_the_evaluators_static_checks_even_without_torch_ops() -> None:
    """Strict policy: torch ops remain only in the copied ``__init__`` (parameter creation)."""
    static = pytest.importorskip("tools.evaluator.static_checks")
    problems = [fx.named_problem(op, M=64, N=64, K=64) for op in ALL_OPS]
    problems += [
        fx.chain_problem(),
        fx.chain_problem(fx.ZOO, "zoo"),
        fx.chain_problem(fx.OUTER, "outer"),
    ]
    checked = 0
    for problem in problems:
        for coder, target in ((TRITON, fx.H100), (TRITON, fx.MI300X), (CPP, fx.CPU)):
            for draft in coder.seed(problem, target):
                assert not static.check_source(draft.source), (problem.name, coder.name)
                init = _init_lines(draft.source)
                strict = static.check_source(draft.source, allow_reference_ops=False)
                kernel_ops = [str(v) for v in strict if v.line not in init]
                assert not kernel_ops, (problem.name, coder.name, kernel_ops)
                checked += 1
        baseline = pytorch_passthrough(problem)
        assert not static.check_source(baseline.source, allow_reference_ops=True)
    assert checked > 100
