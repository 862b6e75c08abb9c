"""Vendor head + fused pointwise tail: what no generator covers keeps its library call.

Many real forwards are one op no template writes (a convolution, an embedding, a sort)
followed by a chain of elementwise ops (bias, activation, scaling, clamp, residual). Eager
PyTorch launches one kernel per tail op and re-reads the intermediate each time. This
generator keeps the head exactly as the reference writes it (the ``torch.fx`` code of the
nodes before the tail, run on ``ModelNew``'s own modules) and fuses the whole tail into one
Triton kernel, reusing the pointwise template, its space and its search moves.

The tail is the largest set of pointwise nodes ending at the output whose values are used
only inside the tail. Its operands are head values, forward inputs, parameters or buffers.
The transformation text names the ops kept as library calls, so the report says plainly
what was not rewritten.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from agents.coders.generators.pointwise.coder import TEMPLATES, TritonOfflineCoder
from agents.coders.generators.pointwise.head import HEAD_VAR, head_body_source, trace_module
from agents.coders.generators.pointwise.remap import RemapGraph, analyze_remap
from agents.coders.generators.pointwise.remap_render import (
    forward_source,
    kernel_source,
    wrapper_source,
)
from agents.coders.kit.cache import RefusalCache
from agents.coders.kit.chain import BOOLEAN_OPS, Chain
from agents.coders.kit.chain_trace import (
    ChainBuilder,
    is_pointwise_node,
    lower_node,
)
from agents.coders.kit.opspec import OpSpec
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import LAUNCH_KEYS, base_variables, render_template
from agents.coders.kit.resized import model_int_attributes, resized_literals
from agents.coders.kit.space import Params, Space
from tools.errors import ProblemError
from tools.evaluator.shapes import irregular_variant
from tools.records import Problem, Target

logger = logging.getLogger(__name__)

MIN_TAIL_STEPS = 2
"""A tail of one op saves nothing over eager (one kernel either way)."""


@dataclass(frozen=True)
class HybridSpec:
    """A problem split into a library head and a fused pointwise tail."""

    spec: OpSpec
    """The tail as a pointwise ``OpSpec`` (its chain's operands read ``_kv_h[i]``)."""
    head_body: str
    """Statements of ``forward`` computing the head; they end by assigning ``_kv_h``."""
    kept: tuple[str, ...]
    """Names of the ops kept as library calls (for the report)."""
    remap: RemapGraph | None = None
    """Set when the whole forward fuses as strided loads and cat selects (no head at all)."""


def _tail(gm: torch.fx.GraphModule, result: torch.fx.Node) -> set[torch.fx.Node]:
    """Pointwise nodes feeding the output whose every user is in the tail (or the output)."""
    tail: set[torch.fx.Node] = set()
    frontier = [result]
    while frontier:
        node = frontier.pop()
        if node in tail or not is_pointwise_node(node, gm):
            continue
        if any(u.op != "output" and u not in tail for u in node.users):
            continue  # needed by the head too: recompute nothing, keep it in the head
        tail.add(node)
        frontier.extend(a for a in node.all_input_nodes)
    # a node admitted before one of its users was rejected would leak: drop until stable
    changed = True
    while changed:
        changed = False
        for node in list(tail):
            if any(u.op != "output" and u not in tail for u in node.users):
                tail.discard(node)
                changed = True
    return tail


def _op_name(node: torch.fx.Node, gm: torch.fx.GraphModule) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__name__
    return str(getattr(node.target, "__name__", node.target))


def resized_head_literals(problem: Problem) -> dict[tuple[str, int], str]:
    """Literals of the traced forward that change at the evaluator's irregular size, each
    bound to the model attribute holding it (``agents.coders.kit.resized``); none when the
    evaluator does not re-size the problem.

    Raises:
        ProblemError: A literal changes with the size and no model attribute holds it.
    """
    variant = irregular_variant(problem)
    if variant is None:
        return {}
    here = model_int_attributes(problem.source)
    there = model_int_attributes(variant.source)
    candidates = {f"self.{k}": (v, there[k]) for k, v in here.items() if k in there}
    return resized_literals(
        trace_module(problem.source).graph.nodes,
        trace_module(variant.source).graph.nodes,
        candidates,
    )


def split(source: str, resized: dict[tuple[str, int], str] | None = None) -> HybridSpec:
    """Split a reference into a head kept as written and a fusable pointwise tail.

    ``resized`` (see :func:`resized_head_literals`) names the literals the head must read
    from the model (``self.buckets``) instead of writing the traced value.

    Raises:
        ProblemError: The reference does not trace, has no pointwise tail of at least
            ``MIN_TAIL_STEPS`` ops after a library call, or the tail cannot be fused.
    """
    gm = trace_module(source)
    nodes = list(gm.graph.nodes)
    output = next(n for n in nodes if n.op == "output")
    result = output.args[0]
    if not isinstance(result, torch.fx.Node) or "tensor_meta" not in result.meta:
        raise ProblemError("The reference does not return a single tensor.")
    if any(str(n.target).startswith("*") for n in nodes if n.op == "placeholder"):
        raise ProblemError("forward takes *args; cannot split it.")
    tail = _tail(gm, result)
    head = [n for n in nodes if n.op in ("call_function", "call_method", "call_module")
            and n not in tail]  # fmt: skip
    if not head:
        raise ProblemError("The whole forward is pointwise; the pointwise coder fuses it.")
    if len(tail) < MIN_TAIL_STEPS:
        raise ProblemError(
            f"The pointwise tail after the library calls has {len(tail)} op(s); fusing fewer "
            f"than {MIN_TAIL_STEPS} saves nothing."
        )
    tail_nodes = [n for n in nodes if n in tail]
    boundary: list[torch.fx.Node] = []
    for node in tail_nodes:
        for arg in node.all_input_nodes:
            if arg not in tail and arg not in boundary:
                boundary.append(arg)
    resized = resized or {}
    if any(name == n.name for n in tail_nodes for name, _ in resized):
        raise ProblemError(
            "a tail op uses a literal that changes with the problem's size; the fused kernel "
            "would keep the traced value."
        )
    chain = _tail_chain(gm, tail_nodes, boundary, result)
    head_body = head_body_source(gm, boundary, resized)
    forward_args = tuple(str(n.target) for n in nodes if n.op == "placeholder")
    meta = result.meta["tensor_meta"]
    numel = 1
    for s in meta.shape:
        numel *= int(s)
    kept = tuple(dict.fromkeys(_op_name(n, gm) for n in head))
    spec = OpSpec(
        family="pointwise",
        op="hybrid",
        dtype=str(meta.dtype).removeprefix("torch."),
        rows=1,
        cols=numel,
        forward_args=forward_args,
        chain=chain,
        options={"kept": kept},
    )
    return HybridSpec(spec=spec, head_body=head_body, kept=kept)


def _tail_chain(
    gm: torch.fx.GraphModule,
    tail_nodes: list[torch.fx.Node],
    boundary: list[torch.fx.Node],
    result: torch.fx.Node,
) -> Chain:
    b = ChainBuilder(tuple(result.meta["tensor_meta"].shape))
    for i, node in enumerate(boundary):
        b.operand(node, f"{HEAD_VAR}[{i}]")
    for node in tail_nodes:
        b.names[node.name] = lower_node(b, node, gm)
    out = b.names.get(result.name)
    if not isinstance(out, str) or any(s.var == out and s.op in BOOLEAN_OPS for s in b.steps):
        raise ProblemError("The tail does not yield a float tensor.")
    return Chain(
        operands=tuple(b.operands),
        steps=tuple(b.steps),
        result=out,
        forward_args=tuple(str(n.target) for n in gm.graph.nodes if n.op == "placeholder"),
        summary=" -> ".join(b.ops),
    )


_SPECS: RefusalCache[str, HybridSpec] = RefusalCache("hybrid chain")
REMAP_TEMPLATE = "triton.remap"


def _remap_spec(source: str) -> HybridSpec:
    """The whole forward as one kernel of strided loads and cat selects (no library head)."""
    graph = analyze_remap(source)
    numel = 1
    for s in graph.out_shape:
        numel *= s
    spec = OpSpec(
        family="pointwise",
        op="remap",
        dtype=graph.dtype,
        rows=1,
        cols=numel,
        forward_args=graph.chain.forward_args,
        chain=graph.chain,
    )
    return HybridSpec(spec=spec, head_body="", kept=(), remap=graph)


def _remap_or_split(problem: Problem) -> HybridSpec:
    """One remap kernel when the whole forward is one; else a library head and a chain."""
    resized = resized_head_literals(problem)
    if not resized:  # the one-kernel remap writes every literal as traced
        try:
            return _remap_spec(problem.source)
        except ProblemError as remap_error:
            logger.debug("no one-kernel remap for %s: %s", problem.name, remap_error)
    return split(problem.source, resized)


def _variant(params: list[Params], spec: HybridSpec) -> list[Params]:
    if spec.remap is None:
        return params
    return [{**p, "variant": "tile"} for p in params]


def _render_remap(problem: Problem, spec: HybridSpec, target: Target, params: Params) -> str:
    """The one-kernel module: views in ``forward``, every load strided, cats as selects."""
    graph = spec.remap
    assert graph is not None
    cats = ", ".join(f"cat along dim {c.dim} of {len(c.pieces)} pieces" for c in graph.cats)
    return render_template(
        TEMPLATES,
        "triton/remap.py.j2",
        **base_variables(
            f"One fused kernel for {problem.name} ({graph.chain.summary}, {graph.dtype})"
            f" on {target.display_name}: slices are strided loads"
            f"{', ' + cats + ' as selects' if cats else ''}; no library call kept.",
            REMAP_TEMPLATE,
            params,
            target,
            LAUNCH_KEYS,
        ),
        kernel=kernel_source(graph),
        wrapper=wrapper_source(graph, int(params["BLOCK_SIZE"]), int(params["persistent"])),
        model_block=model_new_block(problem.source, forward_source(graph)),
    )


class HybridCoder(TritonOfflineCoder):
    """Library head kept as written, pointwise tail fused into one Triton kernel."""

    name = "triton-hybrid"

    def analyze(self, problem: Problem) -> HybridSpec:  # type: ignore[override]
        """Split ``problem`` (cached per source); ``routes`` asks only for references."""
        key = hashlib.sha1(problem.source.encode()).hexdigest()
        return _SPECS.get(key, lambda: _remap_or_split(problem))

    def spec_ok(self, spec: Any) -> bool:  # type: ignore[override]
        """Float tails of a supported dtype."""
        return super().spec_ok(spec.spec)

    def space(self, spec: Any, target: Target) -> Space:  # type: ignore[override]
        """The pointwise space, under this generator's own template name."""
        base = super().space(spec.spec, target)
        if spec.remap is not None:
            return Space(REMAP_TEMPLATE, {"tile": base.variants["flat"]}, base.check)
        return Space("triton.hybrid", base.variants, base.check)

    def seed_params(self, spec: Any, target: Target) -> list[Params]:  # type: ignore[override]
        """The pointwise seeds for the tail's size."""
        return _variant(super().seed_params(spec.spec, target), spec)

    def safer(self, params: Params, spec: Any, target: Target) -> list[Params]:  # type: ignore[override]
        """The pointwise fallbacks."""
        return _variant(super().safer(params, spec.spec, target), spec)

    def _draft(self, problem, spec, target, space, params, text):  # type: ignore[no-untyped-def, override]
        """Every draft's transformation names the library calls kept, so the report says so."""
        draft = super()._draft(problem, spec, target, space, params, text)
        kept = ", ".join(spec.kept) or "none (one kernel)"
        return draft.model_copy(
            update={"transformation": f"{draft.transformation}; library calls kept: {kept}"}
        )

    def render(self, problem: Problem, spec: Any, target: Target, params: Params) -> str:  # type: ignore[override]
        """The pointwise kernel, with a forward that first runs the head as written."""
        if spec.remap is not None:
            return _render_remap(problem, spec, target, params)
        source = super().render(problem, spec.spec, target, params)
        kept = ", ".join(spec.kept)
        source = source.replace("``triton.pointwise``", "``triton.hybrid``", 1).replace(
            "\n\nGenerated by",
            f"\nLibrary calls kept as written: {kept}; the pointwise tail after them is fused."
            "\n\nGenerated by",
            1,
        )
        return _splice_head(source, spec.head_body)


def _splice_head(source: str, head_body: str) -> str:
    """Insert the head statements at the top of ``ModelNew.forward`` (text, comments kept)."""
    match = re.search(r"^(    def forward\(self.*\):\n)", source, flags=re.MULTILINE)
    if match is None:
        raise ProblemError("The rendered module has no ModelNew.forward to put the head into.")
    lines = "".join(f"        {line}\n" for line in head_body.splitlines())
    return source[: match.end()] + lines + source[match.end() :]
