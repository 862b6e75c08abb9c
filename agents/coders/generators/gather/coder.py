"""The gather-chain generator: gathers, index math, pointwise ops and row reductions in Triton.

It writes any reference whose result the lowering in :mod:`.lower` can compute: embedding
lookups and bags, jagged truncation and padding, masked and top-k softmax tails, gathered
losses, bucketized and hashed embeddings, pooling over masked histories, small MLP heads
(their library GEMMs kept, everything after them fused). Nothing in it names a problem.

Parameters: ``BLOCK`` (lanes per program) and ``num_warps``.
"""

from __future__ import annotations

import logging

from agents.coders.base import CoderContext, Draft, fingerprint
from agents.coders.generators.gather.lower import (
    Built,
    bound_literals,
    build_module,
    trace_for_lowering,
)
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.resized import model_int_attributes
from tools.errors import KevolveError, ProblemError
from tools.evaluator.shapes import irregular_variant
from tools.records import Language, Problem, Target

logger = logging.getLogger(__name__)

TEMPLATE = "triton.gatherchain"
SPACE: tuple[dict[str, int], ...] = (
    {"BLOCK": 256, "num_warps": 4},
    {"BLOCK": 512, "num_warps": 4},
    {"BLOCK": 128, "num_warps": 4},
    {"BLOCK": 1024, "num_warps": 8},
    {"BLOCK": 64, "num_warps": 2},
)
"""Launch shapes tried in order: the seed first, then wider and narrower programs."""

_HEADER = '''"""Triton gather chain for {name}: {what}."""
import operator
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
import triton
import triton.language as tl

'''


def _plan(problem: Problem) -> tuple[object, dict[tuple[str, int], str]]:
    trace = trace_for_lowering(problem.source)
    variant = irregular_variant(problem)
    if variant is None:
        return trace, {}
    other = trace_for_lowering(variant.source)
    here = model_int_attributes(problem.source)
    there = model_int_attributes(variant.source)
    attrs = {k: (v, there[k]) for k, v in here.items() if k in there}
    return trace, bound_literals(trace, other, attrs)


def _check(problem: Problem) -> Built:
    trace, bound = _plan(problem)
    return build_module(trace, bound, 256, 4)  # type: ignore[arg-type]


analyze_gather_chain = cached_recogniser(_check, "gather chain")
"""The lowering of a problem at the seed's parameters (cached), or ``ProblemError``."""


def render(problem: Problem, params: dict[str, int]) -> str:
    """The candidate module at ``params``."""
    trace, bound = _plan(problem)
    built = build_module(trace, bound, params["BLOCK"], params["num_warps"])  # type: ignore[arg-type]
    kept = ", ".join(sorted(set(built.library_ops))) or "none"
    what = f"{built.kernels} kernel(s); PyTorch keeps: {kept}"
    return (
        _HEADER.format(name=problem.name, what=what)
        + built.source
        + "\n\n"
        + model_new_block(problem.source, built.forward)
    )


class GatherChainCoder:
    """Gather + pointwise + row-reduction chains lowered from the ATen graph (``Coder``)."""

    language: Language = "triton"
    name = "triton-gatherchain"
    templates = (TEMPLATE,)

    def supports(self, problem: Problem, target: Target) -> bool:
        """True for a GPU target running Triton and a reference the lowering covers."""
        if target.kind != "gpu" or "triton" not in target.languages:
            return False
        try:
            analyze_gather_chain(problem)
        except ProblemError as e:
            logger.debug("gather chain declines %s: %s", problem.name, e)
            return False
        return True

    def _draft(self, problem: Problem, params: dict[str, int], how: str) -> Draft:
        return Draft(
            language="triton",
            source=render(problem, params),
            transformation=how,
            template=TEMPLATE,
            params=dict(params),
        )

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """The lowering at the first launch shape."""
        return [self._draft(problem, SPACE[0], f"initial {TEMPLATE}")]

    def propose(self, ctx: CoderContext) -> Draft:
        """The next launch shape not yet in the tree.

        Raises:
            KevolveError: Every launch shape has been tried.
        """
        for params in SPACE:
            if fingerprint(TEMPLATE, params) not in ctx.tried:
                return self._draft(
                    ctx.problem, params, f"{TEMPLATE} with BLOCK={params['BLOCK']}, "
                    f"num_warps={params['num_warps']}"
                )
        raise KevolveError("every gather-chain launch shape has been tried")
