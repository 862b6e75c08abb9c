"""torch.fx tracing of pointwise chains, the chain IR's emitters, and the reference surgery."""

from __future__ import annotations

from typing import Any

import pytest

from agents.coders.kit.chain import Chain, Operand, Step, chain_lines, step_expression
from agents.coders.kit.chain_trace import bcast_geometry, trace_chain
from agents.coders.kit.reference import forward_arg_names, model_new_block
from tests.support import model_source
from tests.unit.agents.coders import fixtures as fx
from tools.errors import ProblemError


def _source(expr: str, init: str = "pass") -> str:
    return model_source(f"return {expr}", "torch.randn(4, 8, 6, 5)", init=init)


def test_brief_example_traces_to_one_chain() -> None:
    chain = trace_chain(fx.SIMPLE_CHAIN)
    assert chain.summary == "mul -> add -> relu -> sigmoid -> sub"
    assert [o.expr for o in chain.operands] == ["x"]  # y is in the signature but never read
    assert chain.forward_args == ("x", "y")
    lines = chain_lines(chain, "triton")
    assert lines[0] == "v0 = (in0 * 2.0)" and lines[-1] == "v4 = (v3 - in0)"


def test_every_fusable_op_traces() -> None:
    chain = trace_chain(fx.ZOO)
    ops = {s.op for s in chain.steps}
    expected = {
        "leaky_relu",
        "elu",
        "softplus",
        "mish",
        "hardsigmoid",
        "hardswish",
        "clamp_min",
        "clamp_max",
        "log",
        "abs",
        "sqrt",
        "rsqrt",
        "sin",
        "cos",
        "erf",
        "reciprocal",
        "square",
        "maximum",
        "minimum",
        "neg",
        "silu",
        "exp",
        "pow",
        "where",
        "ge",
        "le",
        "ne",
        "lt",
        "sigmoid",
        "add",
        "sub",
        "mul",
        "div",
    }
    assert expected <= ops, expected - ops
    assert {o.expr: o.kind for o in chain.operands}["self.shift"] == "bcast"
    for language in ("triton", "cpp"):
        assert len(chain_lines(chain, language)) == len(chain.steps)


def test_outer_broadcast_has_no_full_operand() -> None:
    chain = trace_chain(fx.OUTER)
    assert [o.kind for o in chain.operands] == ["bcast", "bcast", "bcast"]
    assert chain.summary == "sigmoid -> mul -> add"


def test_parameters_become_broadcast_operands() -> None:
    chain = trace_chain(fx.CHAIN)
    kinds = {o.expr: o.kind for o in chain.operands}
    assert kinds == {"x": "full", "y": "full", "self.scale": "bcast"}
    assert "gelu_tanh" in chain.summary and chain.summary.endswith("where")


@pytest.mark.parametrize(
    ("init", "expr", "kind"),
    [
        ("        self.register_buffer('b', torch.randn(8, 1, 1))", "x * self.b", "bcast"),
        ("        self.register_buffer('s', torch.tensor(2.0))", "x - self.s", "scalar"),
        ("        self.register_buffer('r', torch.randn(5))", "F.silu(x + self.r)", "bcast"),
    ],
)
def test_buffers_of_every_kind(init: str, expr: str, kind: str) -> None:
    chain = trace_chain(_source(expr, init))
    assert chain.operands[1].kind == kind


@pytest.mark.parametrize(
    "expr",
    [
        "x.sum(dim=-1)",
        "torch.softmax(x, dim=-1)",
        "x @ x.transpose(-1, -2)",
        "x.view(-1)",
        "torch.pow(2.0, x)",
        "torch.div(x, 3, rounding_mode='floor')",
        "x > 0",
    ],
)
def test_non_pointwise_graphs_are_rejected(expr: str) -> None:
    with pytest.raises(ProblemError):
        trace_chain(_source(expr))


def test_unsupported_broadcast_pattern_is_rejected() -> None:
    # dims 1 and 3 of 4: not a contiguous range
    init = "        self.register_buffer('b', torch.randn(8, 1, 5))"
    with pytest.raises(ProblemError, match="broadcasts"):
        trace_chain(_source("x * self.b", init))


def test_bcast_geometry() -> None:
    assert bcast_geometry((5,), (4, 8, 6, 5)) == (1, 5)
    assert bcast_geometry((8, 1, 1), (4, 8, 6, 5)) == (30, 8)
    assert bcast_geometry((1,), (4, 8)) == (1, 1)
    assert bcast_geometry((8, 1, 5), (4, 8, 6, 5)) is None
    assert bcast_geometry((3,), (4, 8)) is None


def test_pow_and_constants_emit_in_both_languages() -> None:
    cases: list[tuple[Any, str, str]] = [
        (2.0, "(in0 * in0)", "(in0 * in0)"),
        (-1.0, "(1.0 / (in0))", "(1.0f / (in0))"),
        (0.5, "tl.sqrt(in0)", "std::sqrt(in0)"),
        (1.7, "tl.exp2(1.7 * tl.log2(in0))", "std::pow(in0, 1.7f)"),
    ]
    for exponent, triton_expr, cpp_expr in cases:
        step = Step(var="v0", op="pow", args=("in0", exponent))
        assert step_expression(step, "triton") == triton_expr
        assert step_expression(step, "cpp") == cpp_expr
    clamp = Step(var="v1", op="clamp_min", args=("v0", -0.5))
    assert step_expression(clamp, "triton") == "tl.where(v0 < (-0.5), (-0.5), v0)"
    assert step_expression(clamp, "cpp") == "(v0 < (-0.5f) ? (-0.5f) : v0)"
    chain = Chain(operands=(Operand("in0", "x"),), steps=(clamp,), result="v1")
    assert chain_lines(chain, "cpp") == ["const auto v1 = (v0 < (-0.5f) ? (-0.5f) : v0);"]


def test_model_new_block_renames_and_drops_the_harness() -> None:
    source = fx.named_problem("layer_norm").source
    block = model_new_block(source, "def forward(self, x):\n    return x\n")
    assert "class ModelNew(nn.Module)" in block and "self.ln = nn.LayerNorm(n, eps=eps)" in block
    assert (
        "get_inputs" not in block and "get_init_inputs" not in block and "self.ln(x)" not in block
    )
    assert forward_arg_names(source) == ("x",)
    legacy = source.replace("super().__init__()", "super(Model, self).__init__()")
    assert "super(ModelNew, self)" in model_new_block(legacy)


def test_reference_without_model_is_a_problem_error() -> None:
    with pytest.raises(ProblemError, match="no class Model"):
        model_new_block("import torch\n")
    with pytest.raises(ProblemError, match="not valid Python"):
        model_new_block("def broken(:\n")
