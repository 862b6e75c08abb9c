"""Recognising scaled dot-product attention in a traced reference.

The ATen graph (``aten.trace_aten``) is walked once in order; each node gets an abstract
value: a view of one forward input (:class:`Operand`), the scores ``q @ k^T`` with their
scale and masks (:class:`Scores`), the softmax of the scores (:class:`Probs`), the output
``P @ v`` (:class:`Result`), a constant (:class:`~agents.coders.generators.attention.lazy.Lazy`) or
:class:`Bad` (why it is not attention). Both ``F.scaled_dot_product_attention`` (whose
decomposition scales q and k by sqrt(scale), adds a 0/-inf causal bias and guards fully
masked rows) and the explicit ``softmax(q @ k.transpose(-2, -1) * scale) @ v`` with an
optional ``masked_fill``/``tril``/``-inf`` causal mask reduce to the same values.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import fx

from agents.coders.generators.attention.inputs import InputMask, grouped_view, settled
from agents.coders.generators.attention.lazy import (
    Lazy,
    LazyError,
    causal_offset,
    constant,
    lazy_node,
)
from agents.coders.kit.fx import VIEW_OVERLOADS, aten, op_label, static_shape
from tools.errors import ProblemError

_NEG_INF = float("-inf")


@dataclass(frozen=True)
class Bad:
    """Why a value is not part of an attention pattern."""

    reason: str


@dataclass(frozen=True)
class Operand:
    """A view of one forward input: ``(*lead, rows, cols)``, maybe transposed, maybe scaled."""

    index: int
    transposed: bool
    scale: float
    shape: tuple[int, ...]
    group: int = 1
    """Query head ``h`` reads head ``h // group`` of this input (grouped k/v heads)."""
    rep: tuple[int, int] | None = None
    """A head repeat in progress: (inserted dim, its size); see ``inputs.grouped_view``."""
    negated: bool = False
    """``logical_not`` of a boolean input (only as a mask)."""


@dataclass(frozen=True)
class Scores:
    """``scale * q @ k^T`` with causal-style masks (each a Lazy boolean 'visible')."""

    q: int
    k: int
    scale: float
    masks: tuple[Lazy, ...]
    shape: tuple[int, ...]
    k_group: int = 1
    inputs: tuple[InputMask, ...] = ()
    """Masks read from forward inputs (bool keep/drop or an additive bias)."""


@dataclass(frozen=True)
class Probs:
    """``softmax(scores, -1)``; ``source`` is the node the softmax read."""

    scores: Scores
    source: fx.Node
    shape: tuple[int, ...]
    guarded: bool = False


@dataclass(frozen=True)
class Result:
    """``probs @ v``."""

    probs: Probs
    v: int
    shape: tuple[int, ...]
    v_group: int = 1


Value = Any


def _number(x: Value) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, Lazy) and not x.shape:
        return x.scalar()
    return None


def _reshaped(value: Value, new_shape: tuple[int, ...] | None) -> Value:
    """``value`` after a view/expand/copy, if it keeps the last two dims and the batch size."""
    shape = getattr(value, "shape", None)
    if new_shape is None or shape is None or len(new_shape) < 2:
        return Bad("a reshape drops the sequence or head dims")
    if new_shape[-2:] != shape[-2:] or math.prod(new_shape[:-2]) != math.prod(shape[:-2]):
        return Bad(f"a view from {list(shape)} to {list(new_shape)} mixes batch and sequence dims")
    return replace(value, shape=new_shape)


def _permuted(value: Value, dims: list[int]) -> Value:
    if not isinstance(value, Operand):
        return Bad("only q, k and v may be transposed")
    n = len(value.shape)
    dims = [d % n for d in dims]
    if dims[:-2] != list(range(n - 2)) or dims[-2:] not in ([n - 2, n - 1], [n - 1, n - 2]):
        return Bad("q, k or v is permuted across batch or head dims; inputs must be (..., S, D)")
    swapped = dims[-2:] == [n - 1, n - 2]
    shape = value.shape[:-2] + ((value.shape[-1], value.shape[-2]) if swapped else value.shape[-2:])
    return replace(value, transposed=value.transposed ^ swapped, shape=shape)


def _scaled(value: Value, factor: float | None) -> Value:
    if factor is None or not math.isfinite(factor) or factor <= 0:
        return Bad("scores are multiplied by something other than a positive constant")
    if isinstance(value, Scores):
        inputs = tuple(
            replace(m, scale=m.scale * factor) if m.kind == "add" else m for m in value.inputs
        )
        return replace(value, scale=value.scale * factor, inputs=inputs)
    if isinstance(value, Operand):
        return replace(value, scale=value.scale * factor)
    return Bad("only q, k or the scores may be scaled")


def _matmul(a: Value, b: Value, shape: tuple[int, ...] | None) -> Value:
    if shape is None:
        return Bad("a matmul has no static shape")
    if isinstance(a, Operand) and isinstance(b, Operand):
        if a.transposed or not b.transposed:
            return Bad("the first matmul is not q @ k.transpose(-2, -1)")
        if a.group != 1 or a.negated or b.negated:
            return Bad("q has repeated heads or a negated input is multiplied")
        return Scores(
            q=a.index, k=b.index, scale=a.scale * b.scale, masks=(), shape=shape, k_group=b.group
        )
    if isinstance(a, Probs) and isinstance(b, Operand):
        if b.transposed or b.scale != 1.0:
            return Bad("the second matmul is not softmax(...) @ v")
        return Result(probs=a, v=b.index, shape=shape, v_group=b.group)
    return Bad("a matmul is neither q @ k^T nor softmax(...) @ v")


def _visible(cond: Lazy, when: bool) -> Lazy:
    """The 'key visible' predicate: ``cond`` itself (``when``) or its negation."""

    def at(idx: tuple[torch.Tensor, ...]) -> torch.Tensor:
        keep = cond.at(idx).bool()
        return keep if when else ~keep

    return Lazy(cond.shape, at)


def _masked(scores: Scores, mask: Lazy) -> Scores:
    return replace(scores, masks=scores.masks + (mask,))


def _is_row_guard(cond: fx.Node, softmax_in: fx.Node) -> bool:
    """``cond`` is SDPA's "row fully masked": not(any(not(x == -inf), -1)) or all(x == -inf, -1)."""

    def eq_inf(n: Any) -> bool:
        return (
            isinstance(n, fx.Node)
            and n.target is aten.eq.Scalar
            and n.args[0] is softmax_in
            and n.args[1] == _NEG_INF
        )

    def reduce_last(n: Any, target: Any) -> fx.Node | None:
        if isinstance(n, fx.Node) and n.target is target and n.args[1] in (-1, [-1]):
            return n.args[0]  # type: ignore[return-value]
        return None

    def negated(n: Any) -> Any:
        if isinstance(n, fx.Node) and n.target is aten.logical_not.default:
            return n.args[0]
        return None

    inner = reduce_last(negated(cond), aten.any.dim)
    if inner is not None and eq_inf(negated(inner)):
        return True
    inner = reduce_last(cond, aten.all.dim)
    return inner is not None and eq_inf(inner)


def _where(node: fx.Node, cond: Value, a: Value, b: Value) -> Value:
    guard = node.args[0]
    zeros = isinstance(a, Lazy) and a.scalar() == 0.0
    if (
        isinstance(b, Probs)
        and zeros
        and isinstance(guard, fx.Node)
        and _is_row_guard(guard, b.source)
    ):
        return replace(b, guarded=True)
    if isinstance(cond, Operand):
        return _input_where(cond, a, b)
    for value in (cond, a, b):
        if isinstance(value, Bad):
            return value
    if isinstance(cond, Lazy) and isinstance(b, Scores) and _number(a) == _NEG_INF:
        return _masked(b, _visible(cond, False))
    if isinstance(cond, Lazy) and isinstance(a, Scores) and _number(b) == _NEG_INF:
        return _masked(a, _visible(cond, True))
    return Bad("a where() is not a causal mask on the scores")


def _input_where(cond: Operand, a: Value, b: Value) -> Value:
    """``where(mask_input, a, b)``: a 0/-inf bias, or -inf filled into the scores."""
    if cond.transposed or cond.scale != 1.0 or cond.group != 1:
        return Bad("a mask input is transposed, scaled or repeated")
    keep, drop = ("drop", "keep") if cond.negated else ("keep", "drop")
    na, nb = _number(a), _number(b)
    if na == 0.0 and nb == _NEG_INF:
        return InputMask(index=cond.index, kind=keep, shape=cond.shape)
    if na == _NEG_INF and nb == 0.0:
        return InputMask(index=cond.index, kind=drop, shape=cond.shape)
    if isinstance(a, Scores) and nb == _NEG_INF:
        return _with_input(a, InputMask(index=cond.index, kind=keep, shape=cond.shape))
    if isinstance(b, Scores) and na == _NEG_INF:
        return _with_input(b, InputMask(index=cond.index, kind=drop, shape=cond.shape))
    return Bad("a where() on a mask input is not a -inf mask of the scores")


def _with_input(scores: Scores, mask: InputMask) -> Value:
    if scores.inputs:
        return Bad("the scores have more than one mask input")
    return replace(scores, inputs=(mask,))


def _add(first: Value, second: Value) -> Value:
    """``scores + bias``: a constant 0/-inf mask, a mask input's bias or a float input."""
    scores, bias = (first, second) if isinstance(first, Scores) else (second, first)
    if not isinstance(scores, Scores):
        return Bad("an addition is not a mask added to the scores")
    if isinstance(bias, InputMask):
        return _with_input(scores, bias)
    if isinstance(bias, Operand):
        if bias.transposed or bias.scale != 1.0 or bias.group != 1 or bias.negated:
            return Bad("an attention bias input is transposed, scaled or repeated")
        return _with_input(scores, InputMask(index=bias.index, kind="add", shape=bias.shape))
    if isinstance(bias, Lazy):
        if bias.values is None or not bias.values <= {0.0, _NEG_INF}:
            return Bad("an additive attention bias other than a 0/-inf mask")
        return _masked(scores, Lazy(bias.shape, lambda idx, b=bias: b.at(idx) == 0))
    return Bad("an addition to the scores is not a 0/-inf mask")


_FUSED = ("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
          "_scaled_dot_product_attention_math")  # fmt: skip
"""Attention ops a graph may keep undecomposed (other torch versions, other backends)."""


@dataclass(frozen=True)
class Outputs:
    """The tuple a fused attention op returns; item 0 is the attention output."""

    first: Value


def _fused(node: fx.Node, args: list[Value]) -> Value:
    """An undecomposed SDPA op read from its schema: q, k, v, is_causal, scale, no mask."""
    schema = node.target._schema  # type: ignore[union-attr]
    bound = {
        a.name: args[i] if i < len(args) else node.kwargs.get(a.name, a.default_value)
        for i, a in enumerate(schema.arguments)
    }
    q, k, v = bound["query"], bound["key"], bound["value"]
    if not all(isinstance(t, Operand) and not t.transposed and t.scale == 1.0 for t in (q, k, v)):
        return Bad("a fused attention op reads something other than q, k, v inputs")
    if bound.get("attn_mask") is not None or bound.get("dropout_p", 0.0) or bound.get("enable_gqa"):
        return Bad("a fused attention op has a mask, dropout or grouped heads")
    seq_q, seq_k, d = q.shape[-2], k.shape[-2], q.shape[-1]
    masks: tuple[Lazy, ...] = ()
    if bound.get("is_causal"):  # SDPA's causal mask is top-left aligned: j <= i
        masks = (Lazy((seq_q, seq_k), lambda idx: idx[-1] <= idx[-2]),)
    scale = bound.get("scale") or d**-0.5
    scores = Scores(q=q.index, k=k.index, scale=scale, masks=masks, shape=q.shape[:-1] + (seq_k,))
    probs = Probs(scores=scores, source=node, shape=scores.shape, guarded=True)
    result = Result(probs=probs, v=v.index, shape=q.shape[:-1] + (v.shape[-1],))
    return Outputs(result) if len(schema.returns) > 1 else result


def _settled(value: Value) -> Value:
    if isinstance(value, Operand):
        done = settled(value)
        return Bad(done) if isinstance(done, str) else done
    return value


def _step(node: fx.Node, args: list[Value]) -> Value:
    """The abstract value of one node that depends on the forward inputs."""
    target, shape = node.target, static_shape(node)
    first = args[0] if args else None
    for value in args:
        if isinstance(value, Bad) and target is not aten.where.self:
            return value
    if op_label(node).removeprefix("aten.") in _FUSED:
        return _fused(node, args)
    if target is operator.getitem:
        if isinstance(first, Outputs) and args[1] == 0:
            return first.first
        return Bad("the reference returns more than the attention output")
    if target is aten._to_copy.default:
        extra = set(node.kwargs) - {"dtype"}
        return first if not extra else Bad("a copy changes device or layout")
    if target in VIEW_OVERLOADS:
        if isinstance(first, Operand):
            grouped = grouped_view(first, shape)
            if isinstance(grouped, str):
                return Bad(grouped)
            if grouped is not None:
                return grouped
        return _reshaped(first, shape)
    args = [_settled(a) for a in args]
    first = args[0] if args else None
    if target in (aten.logical_not.default, aten.bitwise_not.default):
        if isinstance(first, Operand):
            return replace(first, negated=not first.negated)
        return Bad("a negation outside a mask input")
    if target in (aten.permute.default, aten.transpose.int):
        if target is aten.transpose.int:
            n = len(first.shape) if hasattr(first, "shape") else 0
            dims = list(range(n))
            i, j = args[1] % max(n, 1), args[2] % max(n, 1)
            dims[i], dims[j] = dims[j], dims[i]
            return _permuted(first, dims)
        return _permuted(first, list(args[1]))
    if target in (aten.mul.Tensor, aten.mul.Scalar):
        if isinstance(args[1], (Operand, Scores)):
            return _scaled(args[1], _number(first))
        return _scaled(first, _number(args[1]))
    if target in (aten.div.Tensor, aten.div.Scalar):
        d = _number(args[1])
        return _scaled(first, 1.0 / d if d else None)
    if target in (aten.bmm.default, aten.mm.default):
        return _matmul(first, args[1], shape)
    if target is aten.add.Tensor and len(args) == 2:
        return _add(first, args[1])
    if target is aten.where.self:
        return _where(node, *args[:3])
    if target is aten.masked_fill.Scalar:
        if isinstance(first, Scores) and isinstance(args[1], Lazy) and _number(args[2]) == _NEG_INF:
            return _masked(first, _visible(args[1], False))
        if isinstance(first, Scores) and isinstance(args[1], Operand):
            return _input_where(args[1], args[2], first)
        return Bad("a masked_fill is not a causal -inf mask")
    if target in (aten._softmax.default, aten.softmax.int):
        if not isinstance(first, Scores) or shape is None or args[1] % len(shape) != len(shape) - 1:
            return Bad("softmax is not over the last dim of q @ k^T")
        return Probs(scores=first, source=node.args[0], shape=shape)  # type: ignore[arg-type]
    if target in (aten.full_like.default, aten.zeros_like.default) and shape is not None:
        return constant(shape, args[1] if target is aten.full_like.default else 0.0)
    return Bad(f"{op_label(node)} is not part of an attention pattern")


def walk(gm: fx.GraphModule, placeholders: tuple[fx.Node, ...]) -> dict[fx.Node, Value]:
    """Abstract values of every node of the graph (see the module docstring)."""
    env: dict[fx.Node, Value] = {}
    tainted: set[fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op == "output":
            continue
        if node.op == "placeholder":
            tainted.add(node)
            shape = static_shape(node)
            index = placeholders.index(node)
            env[node] = (
                Operand(index=index, transposed=False, scale=1.0, shape=shape)
                if shape is not None and len(shape) >= 2
                else Bad("an input has fewer than two dims")
            )
            continue
        if node.op != "call_function":
            env[node] = Bad(
                f"the graph reads {node.target}, a buffer, parameter or tensor constant"
            )
            continue
        args = [env[a] if isinstance(a, fx.Node) else a for a in node.args]
        if any(isinstance(a, fx.Node) and a in tainted for a in node.all_input_nodes):
            tainted.add(node)
            env[node] = _step(node, args)
            continue
        bad = next((a for a in args if isinstance(a, Bad)), None)
        if bad is not None:
            env[node] = bad
            continue
        try:
            env[node] = lazy_node(node, args)
        except (LazyError, TypeError, ValueError, IndexError) as e:
            env[node] = Bad(f"a constant in the graph is not understood ({e})")
    return env


_RANDOM_WORDS = ("bernoulli", "rand", "dropout", "uniform", "normal", "multinomial")


def _is_random(node: fx.Node) -> bool:
    name = op_label(node) if node.op == "call_function" else ""
    return any(word in name for word in _RANDOM_WORDS)


def recognise(
    gm: fx.GraphModule, placeholders: tuple[fx.Node, ...], out: fx.Node
) -> tuple[Result, int | None]:
    """The attention computed by the graph, and its causal offset (``None``: not causal).

    Raises:
        ProblemError: The graph is not softmax(q @ k^T * scale [+ causal mask]) @ v.
    """
    random = next((n for n in gm.graph.nodes if _is_random(n)), None)
    if random is not None:
        raise ProblemError(
            f"The reference draws random numbers ({op_label(random)}, as dropout does);"
            " only deterministic attention is supported."
        )
    env = walk(gm, placeholders)
    result = env.get(out)
    if isinstance(result, Bad):
        raise ProblemError(f"Not an attention pattern: {result.reason}.")
    if not isinstance(result, Result):
        raise ProblemError("Not an attention pattern: the output is not softmax(q @ k^T) @ v.")
    scores = result.probs.scores
    seq_q, seq_k = scores.shape[-2], scores.shape[-1]
    return result, causal_offset(scores.masks, seq_q, seq_k)
