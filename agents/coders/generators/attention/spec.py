"""What the attention template knows about a problem, and the limits it checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import fx

from agents.coders.generators.attention.inputs import InputMask
from agents.coders.generators.attention.recognize import Result
from agents.coders.kit.dtypes import FLOAT_DTYPES, DtypeSized
from agents.coders.kit.fx import dtype_of, static_shape
from tools.errors import ProblemError

MAX_HEAD_DIM = 256
"""Longest head dim the template handles: tiles are padded to the next power of two (at least
16, what ``tl.dot`` needs) with masked loads, and the space picks query/key blocks that keep
the padded q/k/v tiles within the target's shared memory and the accumulator in registers."""


def padded(d: int) -> int:
    """The power-of-two tile width (>= 16) the kernel uses for a head dim of ``d``."""
    return max(16, 1 << (d - 1).bit_length())


@dataclass(frozen=True)
class AttentionSpec(DtypeSized):
    """An attention problem as the template sees it."""

    dtype: str
    """dtype of q, k and v."""
    out_dtype: str
    batch: tuple[int, ...]
    """Leading dims shared by q, k, v and the output (``(B, H)``, ``(B,)`` or ``()``)."""
    seq_q: int
    seq_k: int
    head_dim: int
    head_dim_v: int
    scale: float
    """Factor applied to ``q . k`` before the softmax."""
    causal: bool
    causal_offset: int = 0
    """Key ``j`` is visible from query ``i`` when ``j <= i + causal_offset``."""
    args: tuple[int, int, int] = (0, 1, 2)
    """Positions of q, k, v among ``forward_args`` (the same input may appear twice)."""
    forward_args: tuple[str, ...] = ("q", "k", "v")
    form: str = "explicit"
    """``sdpa`` when the reference's graph carries SDPA's masked-row guard, else ``explicit``."""
    group: int = 1
    """Query heads per k/v head: query head ``h`` reads k/v head ``h // group``."""
    mask_arg: int | None = None
    """Position among ``forward_args`` of a mask input, broadcast to the scores."""
    mask_kind: str = ""
    """``keep``/``drop`` (boolean: keys visible / hidden where true) or ``add`` (a bias)."""
    mask_scale: float = 1.0
    """Factor applied to an ``add`` bias (the scores' scale when applied after it)."""
    op: str = field(default="attention")
    family: str = field(default="attention")


def spec_from(
    result: Result,
    offset: int | None,
    placeholders: tuple[fx.Node, ...],
    out: fx.Node,
    forward_args: tuple[str, ...],
) -> AttentionSpec:
    """The :class:`AttentionSpec` of a recognised graph, after the template's limits.

    Raises:
        ProblemError: Shapes, dtypes or head dims the template does not handle.
    """
    scores = result.probs.scores
    q, k, v = (placeholders[i] for i in (scores.q, scores.k, result.v))
    shapes = [static_shape(n) for n in (q, k, v)]
    if any(s is None for s in shapes):
        raise ProblemError("Attention inputs have no static shapes.")
    sq, sk, sv = shapes  # type: ignore[misc]
    group = _group(result, sq, sk, sv)
    mask = _mask(result, placeholders, sq[:-1] + (sk[-2],))
    dtypes = {str(dtype_of(n)).removeprefix("torch.") for n in (q, k, v)}
    if len(dtypes) != 1 or next(iter(dtypes)) not in FLOAT_DTYPES:
        raise ProblemError(f"Attention inputs of dtypes {sorted(dtypes)} are not supported.")
    out_shape = static_shape(out)
    if out_shape != sq[:-1] + (sv[-1],):
        raise ProblemError(f"The attention output shape {out_shape} is not q's with v's head dim.")
    for name, d in (("q/k", sq[-1]), ("v", sv[-1])):
        if not 1 <= d <= MAX_HEAD_DIM:
            raise ProblemError(
                f"The {name} head dim {d} is not supported; the attention template handles"
                f" head dims 1 to {MAX_HEAD_DIM}."
            )
    if sq[-2] == 0 or sk[-2] == 0:
        raise ProblemError("Attention over an empty sequence has nothing to compute.")
    return AttentionSpec(
        dtype=next(iter(dtypes)),
        out_dtype=str(dtype_of(out)).removeprefix("torch."),
        batch=tuple(sq[:-2]),
        seq_q=sq[-2],
        seq_k=sk[-2],
        head_dim=sq[-1],
        head_dim_v=sv[-1],
        scale=scores.scale,
        causal=offset is not None,
        causal_offset=offset or 0,
        args=(scores.q, scores.k, result.v),
        forward_args=forward_args,
        form="sdpa" if result.probs.guarded else "explicit",
        group=group,
        mask_arg=mask.index if mask else None,
        mask_kind=mask.kind if mask else "",
        mask_scale=mask.scale if mask else 1.0,
    )


def _group(result: Result, sq: tuple[int, ...], sk: tuple[int, ...], sv: tuple[int, ...]) -> int:
    """Query heads per k/v head (1 without grouping), after checking the shapes agree."""
    group = result.probs.scores.k_group
    bad = (
        group != result.v_group
        or sk[:-2] != sv[:-2]
        or sk[-2] != sv[-2]
        or sq[-1] != sk[-1]
        or len(sq) != len(sk)
    )
    if group == 1:
        bad = bad or sq[:-2] != sk[:-2]
    else:
        bad = bad or len(sq) < 3 or sq[:-3] != sk[:-3] or sq[-3] != sk[-3] * group
    if bad:
        raise ProblemError(
            f"q {list(sq)}, k {list(sk)}, v {list(sv)} do not share batch dims and sizes, nor"
            " are k/v heads repeated as kv head = query head // group for both k and v."
        )
    return group


def _mask(
    result: Result, placeholders: tuple[fx.Node, ...], scores_shape: tuple[int, ...]
) -> InputMask | None:
    """The mask input of the scores, if any, once its shape and dtype are checked."""
    inputs = result.probs.scores.inputs
    if not inputs:
        return None
    mask = inputs[0]
    node = placeholders[mask.index]
    shape, dtype = static_shape(node), dtype_of(node)
    try:
        fits = shape == mask.shape and torch.broadcast_shapes(shape, scores_shape) == scores_shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ProblemError(
            f"The mask input of shape {list(shape or ())} is reshaped or does not broadcast"
            f" to the scores {list(scores_shape)}; only masks used as given are supported."
        )
    is_bool = dtype == torch.bool
    if (mask.kind == "add") == is_bool or (
        not is_bool and dtype is not None and not dtype.is_floating_point
    ):
        raise ProblemError(
            f"The mask input of dtype {dtype} is not a boolean mask nor a float bias."
        )
    return mask
