"""Row-normalised factors and scalar factors of a product, folded into the epilogue.

``F.normalize(x, dim=-1)`` traces to ``div(x, expand(clamp_min(linalg_vector_norm(x, 2,
[-1], True), eps)))``. When the normalised dim is the contraction dim ``K``, the product
``normalize(A) @ normalize(B)^T`` equals ``(A @ B^T) * sa[i] * sb[j]`` with
``sa = 1 / max(||a_i||, eps)``: a small pre-pass (``_kv_inv_norms``, one read of the factor)
computes ``sa``/``sb`` in fp32 and the tiled kernel scales its accumulator before the epilogue.
The K loop stays a plain product: accumulating ``sum(a^2)`` from the tiles that also feed
``tl.dot`` changed the sm_90 wgmma pipeline and gave wrong logits on the H100 (071).
The reference rounds the normalised operand to the input dtype before the product; scaling
the fp32 accumulator afterwards is at least as accurate.

A 0-dim factor computed from parameters only (``logit_scale.exp() * x``) is a scalar
epilogue factor, read from the Model's parameter at call time.
"""

from __future__ import annotations

import torch.fx

from agents.coders.generators.gemm.trace import Traced
from agents.coders.kit.fx import ancestors, op_name, require_shape

_TRANSPOSES = (("t", ()), ("transpose", (0, 1)), ("transpose", (1, 0)), ("permute", ((1, 0),)))
"""The views that turn a (N, K) matrix normalised over K into the (K, N) factor B."""


def _only_params(traced: Traced, node: torch.fx.Node) -> bool:
    """Whether ``node`` is computed from parameters and buffers only (no forward input)."""
    return all(n.name in traced.params for n in ancestors(node) if n.op == "placeholder")


def scalar_factor(
    traced: Traced, node: torch.fx.Node
) -> tuple[torch.fx.Node, torch.fx.Node] | None:
    """``(scalar, other)`` when ``node`` is ``mul`` of a 0-dim parameter-only tensor and a tensor."""
    if op_name(node) != "mul" or len(node.args) != 2:
        return None
    x, y = node.args
    for s, other in ((x, y), (y, x)):
        if (
            isinstance(s, torch.fx.Node)
            and isinstance(other, torch.fx.Node)
            and require_shape(s) == ()
            and len(require_shape(other)) >= 1
            and _only_params(traced, s)
        ):
            return s, other
    return None


def row_normalised(node: torch.fx.Node) -> tuple[torch.fx.Node, float] | None:
    """``(x, eps)`` when ``node`` is ``x / max(||x||_2 over the last dim, eps)`` (``F.normalize``)."""
    if op_name(node) != "div" or len(node.args) != 2:
        return None
    x, den = node.args
    if not isinstance(x, torch.fx.Node) or not isinstance(den, torch.fx.Node):
        return None
    while op_name(den) in ("expand", "alias", "detach"):
        den = den.args[0]  # type: ignore[assignment]
    if op_name(den) != "clamp_min" or not isinstance(den.args[0], torch.fx.Node):
        return None
    eps = den.args[1]
    norm = den.args[0]
    if op_name(norm) != "linalg_vector_norm" or norm.args[0] is not x:
        return None
    ord_ = norm.args[1] if len(norm.args) > 1 else norm.kwargs.get("ord", 2)
    dims = norm.args[2] if len(norm.args) > 2 else norm.kwargs.get("dim")
    rank = len(require_shape(x))
    if float(ord_) != 2.0 or dims is None or [int(d) % rank for d in dims] != [rank - 1]:
        return None
    if not isinstance(eps, (int, float)) or eps < 0:
        return None
    return x, float(eps)


def normalised_over_k(side: str, views_after: tuple) -> bool:
    """Whether a factor normalised over its own last dim is normalised over the contraction K.

    Args:
        side: ``a`` (factor ``(M, K)``) or ``b`` (factor ``(K, N)``).
        views_after: The views applied between the normalisation and the product.
    """
    if side == "a":
        return not views_after
    return len(views_after) == 1 and views_after[0] in _TRANSPOSES
