"""Reading one traced matrix product: its factors, sizes, addend, and epilogue start.

A factor is a placeholder (forward input, parameter or buffer) reached through view ops and
optionally scaled by constants; anything else computing a factor is rejected with one
sentence. ``mv`` and ``dot`` are read as products with one (or two) unit dims, so every
product lives in matmul space ``(batch, M, N)`` with contraction ``K``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.fx

from agents.coders.generators.gemm.epilogue import Epilogue
from agents.coders.generators.gemm.normalize import normalised_over_k, row_normalised, scalar_factor
from agents.coders.generators.gemm.plan import MatInput, MatmulKind, Source
from agents.coders.generators.gemm.trace import MATMUL_OPS, REDUCTION_OPS, VIEW_OPS, Traced, view_of
from agents.coders.kit.chain import is_finite_constant
from agents.coders.kit.fx import arg, descendants, op_name, require_shape, val
from tools.errors import ProblemError

_KIND: dict[str, MatmulKind] = {
    "mm": "mm",
    "addmm": "mm",
    "bmm": "bmm",
    "baddbmm": "bmm",
    "mv": "mv",
    "addmv": "mv",
    "dot": "dot",
}


@dataclass(frozen=True)
class Product:
    """One traced matrix product, read into matmul space."""

    node: torch.fx.Node
    kind: MatmulKind
    a: MatInput
    b: MatInput
    a_node: torch.fx.Node
    b_node: torch.fx.Node
    batch: int
    m: int
    n: int
    k: int
    addend: torch.fx.Node | None
    alpha: float
    beta: float

    @property
    def mm3(self) -> tuple[int, int, int]:
        """(batch, M, N)."""
        return (self.batch, self.m, self.n)

    @property
    def real_dims(self) -> tuple[bool, bool, bool]:
        """Which of (batch, M, N) the product has as dims of its own (sizes that may vary)."""
        return (self.kind == "bmm", self.kind in ("mm", "bmm"), self.kind in ("mm", "bmm"))


def mat_input(traced: Traced, node: torch.fx.Node) -> MatInput:
    """A product's factor: a placeholder, views and constant scalings (in order).

    Raises:
        ProblemError: The factor is computed by something else (a reduction, an activation).
    """
    views, scalings, scalars = [], [], []
    norm: tuple[float, tuple] | None = None
    current = node
    while current.op != "placeholder":
        if current.op == "get_attr":
            raise ProblemError("A matmul input is a tensor constant created in forward.")
        name = op_name(current)
        args = current.args
        if name in VIEW_OPS:
            view = view_of(current)
            if view is not None:
                views.append(view)
            current = args[0]  # type: ignore[assignment]
        elif (found := scalar_factor(traced, current)) is not None:
            if norm is not None:
                raise ProblemError("A matmul input is normalised after a scalar factor.")
            scalars.append(found[0].name)
            current = found[1]
        elif (normed := row_normalised(current)) is not None:
            if norm is not None or scalings:
                raise ProblemError("A matmul input combines a normalisation with other scalings.")
            norm = (normed[1], tuple(reversed(views)))
            current = normed[0]
        elif name in ("mul", "div") and is_finite_constant(args[1]):
            if norm is not None:
                raise ProblemError("A matmul input is scaled by a constant before normalising.")
            scalings.append((name, float(args[1])))  # type: ignore[arg-type]
            current = args[0]  # type: ignore[assignment]
        elif name == "mul" and is_finite_constant(args[0]):
            if norm is not None:
                raise ProblemError("A matmul input is scaled by a constant before normalising.")
            scalings.append(("mul", float(args[0])))  # type: ignore[arg-type]
            current = args[1]  # type: ignore[assignment]
        elif name in REDUCTION_OPS:
            raise ProblemError(
                f"A matmul input is computed by a reduction ({name}); reductions before the"
                " matmul are not handled."
            )
        elif name in MATMUL_OPS:
            raise ProblemError("A matmul input is itself a product; only one product is fused.")
        elif name == "_to_copy":
            raise ProblemError("A matmul input is cast to another dtype before the product.")
        else:
            raise ProblemError(
                f"A matmul input is computed by {name} before the product; only views and"
                " constant scalings are fused there."
            )
    source = Source(
        base=traced.exprs[current.name],
        views=tuple(reversed(views)),
        shape=require_shape(node),
        stable=current.name in traced.params,
    )
    return MatInput(
        source=source,
        prologue=tuple(reversed(scalings)),
        norm_eps=None if norm is None else norm[0],
        norm_views=() if norm is None else norm[1],
        scalars=tuple(reversed(scalars)),
    )


def _with_view(m: MatInput, method: str, dim: int, shape: tuple[int, ...]) -> MatInput:
    s = m.source
    source = Source(base=s.base, views=(*s.views, (method, (dim,))), shape=shape, stable=s.stable)
    return replace(m, source=source)


def product(traced: Traced, node: torch.fx.Node, a_input: MatInput | None = None) -> Product:
    """Read one product node (its factors, sizes, and ``addmm``-style addend).

    Args:
        traced: The traced reference.
        node: The product node.
        a_input: The first factor, when the caller already knows it (a merged product).
    """
    name = op_name(node)
    if val(node) is None or val(node).dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ProblemError(f"The product {name} is not in float32, float16 or bfloat16.")
    addend, alpha, beta = None, 1.0, 1.0
    if name.startswith(("addm", "baddbmm")):
        addend = node.args[0]  # type: ignore[assignment]
        a_node, b_node = node.args[1], node.args[2]
        beta, alpha = float(arg(node, 3, "beta", 1)), float(arg(node, 4, "alpha", 1))
    else:
        a_node, b_node = node.args[0], node.args[1]
    assert isinstance(a_node, torch.fx.Node) and isinstance(b_node, torch.fx.Node)
    a = a_input if a_input is not None else mat_input(traced, a_node)
    b = mat_input(traced, b_node)
    kind = _KIND[name]
    for side, m in (("a", a), ("b", b)):
        if m.norm_eps is not None and (kind != "mm" or not normalised_over_k(side, m.norm_views)):
            raise ProblemError(
                "A matmul input is normalised over a dim other than the contraction dim."
            )
    if kind == "mv":
        b = _with_view(b, "unsqueeze", 1, (*b.source.shape, 1))
    if kind == "dot":
        a = _with_view(a, "unsqueeze", 0, (1, *a.source.shape))
        b = _with_view(b, "unsqueeze", 1, (*b.source.shape, 1))
    sa, sb = a.source.shape, b.source.shape
    batch = sa[0] if kind == "bmm" else 1
    return Product(
        node=node,
        kind=kind,
        a=a,
        b=b,
        a_node=a_node,
        b_node=b_node,
        batch=batch,
        m=sa[-2],
        n=sb[-1],
        k=sa[-1],
        addend=addend if isinstance(addend, torch.fx.Node) else None,
        alpha=alpha,
        beta=beta,
    )


def require_plain(p: Product) -> Product:
    """``p`` itself, when no factor carries a normalisation or a scalar factor.

    Raises:
        ProblemError: A rewrite other than the plain plan would drop those factors.
    """
    for m in (p.a, p.b):
        if m.norm_eps is not None or m.scalars:
            raise ProblemError(
                "A normalised or scalar-scaled matmul input is fused only into a plain product."
            )
    return p


def start_epilogue(
    traced: Traced, p: Product, value: str = "acc", ep: Epilogue | None = None
) -> Epilogue:
    """An epilogue whose product value includes the ``addmm`` alpha/beta/addend terms.

    Args:
        traced: The traced reference.
        p: The product.
        value: The accumulator's value before alpha (a rewrite may add terms to ``acc``).
        ep: An epilogue already holding those terms' operands and steps.
    """
    node_shape = require_shape(p.node)
    if ep is None:
        ep = Epilogue(traced, p.mm3, node_shape, real_dims=p.real_dims)
        ep.forbidden = descendants(p.node)
    if p.alpha != 1:
        value = ep.emit("mul", value, p.alpha)
    if p.addend is not None and p.beta != 0:
        addend = ep.value(p.addend, node_shape)
        if p.beta != 1:
            addend = ep.emit("mul", addend, p.beta)
        value = ep.emit("add", value, addend)
    ep.start(p.node, value)
    return ep


def output_node(traced: Traced) -> torch.fx.Node:
    """The node the reference returns (a single tensor)."""
    out = next(n for n in traced.gm.graph.nodes if n.op == "output").args[0]
    if isinstance(out, (tuple, list)):
        if len(out) != 1:
            raise ProblemError("The reference returns several tensors; one output is fused.")
        out = out[0]
    if not isinstance(out, torch.fx.Node) or not isinstance(val(out), torch.Tensor):
        raise ProblemError("The reference does not return a tensor.")
    if not val(out).dtype.is_floating_point:
        raise ProblemError(
            "The reference returns a non-float tensor; only float outputs are fused."
        )
    return out
