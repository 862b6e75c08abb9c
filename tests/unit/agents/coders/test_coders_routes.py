"""ROUTES decides which generators are asked for a problem; ``supports`` then decides."""

from __future__ import annotations

import pytest

from agents.coders import LanguageCoder
from agents.coders.base import CoderContext, Draft
from agents.coders.routes import GENERATORS, GRAPH, ROUTES, Generator, op_family
from tools.problems.loader import load_problem
from tools.records import Problem, Target

SOURCE = (
    "import torch\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
)


def _problem(op: str | None, op_family_tag: str = "unknown") -> Problem:
    return Problem(name="p", source=SOURCE, op=op, op_family=op_family_tag, origin="test")


class Eager:
    """A generator that claims every problem (what ROUTES must still gate)."""

    language = "triton"
    name = "test-eager"

    def supports(self, problem: Problem, target: Target) -> bool:
        return True

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        return []

    def propose(self, ctx: CoderContext) -> Draft:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("op", "tag", "family"),
    [
        ("softmax", "softmax", "softmax"),
        ("linear_relu", "matmul", "matmul"),
        ("cumsum", "scan", "scan"),
        (None, "fused", GRAPH),
        ("pointwise_chain", "pointwise", GRAPH),
        ("argmin", "reduction", "reduction"),  # a named op read from a file, not in ops
        ("argmin", "unknown", GRAPH),
    ],
)
def test_op_family(op: str | None, tag: str, family: str) -> None:
    assert op_family(_problem(op, tag)) == family


def test_routes_gate_a_generator_that_claims_everything(
    monkeypatch: pytest.MonkeyPatch, target_for: object
) -> None:
    monkeypatch.setitem(GENERATORS, Eager.name, Generator("unused:Eager", frozenset({GRAPH})))
    coder = LanguageCoder("triton", [Eager()])
    target = target_for("triton")  # type: ignore[operator]
    assert coder.supporting(load_problem("softmax"), target) == []
    assert [c.name for c in coder.supporting(_problem(None), target)] == [Eager.name]


def test_references_only_generators_are_not_asked_for_named_ops() -> None:
    for name in ("triton-attention", "triton-pooling", "triton-hybrid", "triton-gather"):
        assert [f for f, names in ROUTES.items() if name in names] == [GRAPH], name
