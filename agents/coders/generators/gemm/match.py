"""Recognising "one matrix product plus an elementwise epilogue" in a traced reference.

:func:`analyze_gemm` traces a problem to ATen and accepts:

- one product (``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``mv``, ``addmv``, ``dot``; hence
  ``matmul``/``linear``/``einsum`` with any leading batch dims) whose inputs are views of
  forward inputs or parameters, optionally scaled by constants, by 0-dim parameter-only
  tensors (scalar epilogue factors) or ``F.normalize``-d over K (row / column scales of the
  accumulator, :mod:`agents.coders.generators.gemm.normalize`), followed by elementwise ops
  (the plain plan ``none``, plus ``fold_scale`` when constant scalings can move);
- a product followed by an affine epilogue and a sum/mean over its output features
  (``sum_to_gemv``);
- two back-to-back linears with nothing but a bias between them, when merging them reduces
  FLOPs (``merge_linears``).

Anything else raises ``ProblemError`` with one sentence saying what is not handled.
"""

from __future__ import annotations

import logging

import torch.fx

from agents.coders.generators.gemm import rewrites
from agents.coders.generators.gemm.epilogue import Epilogue
from agents.coders.generators.gemm.plan import GemmPlan, GemmSpec
from agents.coders.generators.gemm.product import (
    Product,
    output_node,
    product,
    require_plain,
    start_epilogue,
)
from agents.coders.generators.gemm.trace import MATMUL_OPS, REDUCTION_OPS, Traced, trace_aten
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.fx import descendants, op_name, require_shape
from tools.errors import ProblemError
from tools.records import Problem

logger = logging.getLogger(__name__)


def plain_plan(traced: Traced, p: Product, out: torch.fx.Node) -> GemmPlan:
    """The product and its whole epilogue, as traced (rewrite ``none``)."""
    ep = Epilogue(traced, p.mm3, require_shape(p.node), real_dims=p.real_dims)
    ep.forbidden = descendants(p.node)
    value = "acc"
    by_name = {n.name: n for n in traced.gm.graph.nodes}
    for name in (*p.a.scalars, *p.b.scalars):
        value = ep.emit("mul", value, ep.value(by_name[name], require_shape(p.node)))
    ep = start_epilogue(traced, p, value, ep)
    result = ep.translate(descendants(p.node), out)
    if isinstance(result, str) and result != "acc" and not result.startswith("v"):
        raise ProblemError("The reference's output does not depend on the product's value.")
    return ep.plan(
        result,
        out,
        require_shape(p.node),
        rewrite="none",
        kind=p.kind,
        a=p.a,
        b=p.b,
        batch=p.batch,
        m=p.m,
        n=p.n,
        k=p.k,
        summary=" -> ".join([op_name(p.node), *ep.ops]),
    )


def _analyze(problem: Problem) -> GemmSpec:
    traced = trace_aten(problem.source)
    out = output_node(traced)
    nodes = [n for n in traced.gm.graph.nodes if n.users and op_name(n) in MATMUL_OPS]
    if not nodes:
        raise ProblemError("The reference has no matrix product (mm, bmm, matmul, linear).")
    dtype = problem.dtype if problem.dtype in ("float32", "float16", "bfloat16") else traced.dtype
    if len(nodes) == 2:
        plan = rewrites.merge_linears(traced, nodes[0], nodes[1], out)
        return GemmSpec("linear+linear", dtype, traced.forward_args, {plan.rewrite: plan})
    if len(nodes) > 2:
        raise ProblemError(f"The reference has {len(nodes)} matrix products; one is fused.")
    p = product(traced, nodes[0])
    region = descendants(p.node)
    reductions = [n for n in region if op_name(n) in REDUCTION_OPS]
    if reductions:
        plan = rewrites.sum_to_gemv(traced, require_plain(p), reductions, out)
        return GemmSpec("linear+sum", dtype, traced.forward_args, {plan.rewrite: plan})
    plan = plain_plan(traced, p, out)
    plans = {"none": plan}
    folded = rewrites.fold_scale(plan)
    if folded is not None:
        plans[folded.rewrite] = folded
    return GemmSpec("matmul+epilogue", dtype, traced.forward_args, plans)


analyze_gemm = cached_recogniser(_analyze, "GEMM")
"""Read a problem into a :class:`GemmSpec` (cached per problem content).

Raises ``ProblemError`` when the reference is not one product with a fusable epilogue (or a
pattern a rewrite turns into one); the message says what is not handled.
"""
