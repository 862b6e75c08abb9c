"""Algebraic rewrites that remove work from a GEMM problem; each is a plan the search can pick.

Every rewrite is exact in real arithmetic and differs from the reference only by float
reassociation (the order of additions and multiplications), which the correctness
tolerance allows. Each is selected with the ``rewrite=...`` parameter of ``triton.gemm``:

- ``fold_scale``: constant scalings of a factor (``(x * c) @ W``, ``x @ (W / c)``) and the
  constant scalings that open the epilogue become one multiply of the accumulator:
  ``(c1 x) @ (W / c2) * c3 = (c1 / c2 * c3) (x @ W)``. Saves a multiply per loaded element
  on every tile (and keeps the factors' loads feeding ``tl.dot`` directly).
- ``sum_to_gemv``: a sum (or mean) over a linear layer's output features becomes a
  matrix-vector product with the summed weights:
  ``sum_n(alpha (x @ W.T)[m, n] + b[n] + beta) = alpha x[m] . W.sum(0) + b.sum() + N beta``.
  Holds for any affine epilogue between the product and the sum (constant scalings, adds of
  per-column vectors, scalars and constants). 2MNK FLOPs become 2MK (+ NK once to sum the
  weights, cached while they do not change).
- ``merge_linears``: two back-to-back linears with only a bias between them become one:
  ``(x @ W1.T + b1) @ W2.T = x @ (W1.T @ W2.T) + b1 @ W2.T``. Offered only when it reduces
  FLOPs for the shape: with M rows, K inputs, H hidden and N outputs, the original costs
  ``2MH(K + N)``, the merged product ``2MKN`` plus ``2KHN + 2HN`` to merge the weights (once
  when every weight is a parameter, so cached; else every call). The condition is therefore
  ``K N < H (K + N)`` with cached weights and ``M K N + K H N + H N < M H (K + N)`` otherwise.

Precomputed tensors (summed/merged weights) are computed on the device inside
``ModelNew.forward`` by the module's own kernels and cached keyed on the source tensors'
version counters and data pointers (never the output).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch.fx

from agents.coders.generators.gemm.epilogue import RESHAPES, Epilogue
from agents.coders.generators.gemm.plan import (
    GemmPlan,
    MatInput,
    Operand,
    Precompute,
    Source,
    numel,
)
from agents.coders.generators.gemm.product import Product, product, require_plain, start_epilogue
from agents.coders.generators.gemm.trace import IDENTITY_OPS, Traced
from agents.coders.kit.chain import Arg, Step
from agents.coders.kit.fx import ancestors, arg, descendants, op_name, require_shape
from tools.errors import ProblemError

COL = (False, False, True)
SCALAR = (False, False, False)


# ---- (b) constant scalings --------------------------------------------------------------------
def _uses(name: str, steps: list[Step], result: str) -> int:
    return sum(a == name for s in steps for a in s.args) + (result == name)


def fold_scale(plan: GemmPlan) -> GemmPlan | None:
    """Fold the factors' constant scalings and the epilogue's leading ones into one multiply.

    Returns:
        The rewritten plan, or ``None`` when there is nothing to fold (no prologue scaling
        and at most one leading constant scaling in the epilogue).
    """
    scalings = [*plan.a.prologue, *plan.b.prologue]
    steps = list(plan.steps)
    current, consumed = "acc", 0
    for step in steps:
        x, c = step.args[0], step.args[1] if len(step.args) > 1 else None
        if step.op == "mul" and c == current and isinstance(x, float):
            x, c = c, x
        if step.op not in ("mul", "div") or x != current or not isinstance(c, float):
            break
        if _uses(current, steps[consumed + 1 :], plan.result) > 0:
            break
        scalings.append((step.op, c))
        current, consumed = step.var, consumed + 1
    if not plan.a.prologue and not plan.b.prologue and consumed <= 1:
        return None
    factor = 1.0
    for op, c in scalings:
        factor = factor * c if op == "mul" else factor / c
    head = [Step(var="s0", op="mul", args=("acc", factor))] if factor != 1.0 else []
    new_name = "s0" if head else "acc"

    def rename(a: Arg) -> Arg:
        return new_name if a == current else a

    rest = [Step(s.var, s.op, tuple(rename(a) for a in s.args)) for s in steps[consumed:]]
    return replace(
        plan,
        rewrite="fold_scale",
        a=replace(plan.a, prologue=()),
        b=replace(plan.b, prologue=()),
        steps=tuple(head + rest),
        result=str(rename(plan.result)),
        note=f"constant scalings folded into one epilogue multiply by {factor!r}",
    )


# ---- affine forms -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Affine:
    """``alpha * acc + sum(coef * operand) + beta``, elementwise."""

    alpha: float = 0.0
    terms: tuple[tuple[float, str], ...] = ()
    beta: float = 0.0

    def scaled(self, c: float) -> Affine:
        """Every coefficient times ``c``."""
        return Affine(self.alpha * c, tuple((k * c, n) for k, n in self.terms), self.beta * c)

    def plus(self, other: Affine) -> Affine:
        """The sum of two forms."""
        return Affine(self.alpha + other.alpha, self.terms + other.terms, self.beta + other.beta)


def affine(
    steps: list[Step], result: Arg, operands: list[Operand], allowed: tuple[tuple[bool, ...], ...]
) -> tuple[Affine | None, str]:
    """The affine form of ``result``, or ``(None, first non-affine op)``.

    Args:
        steps: The epilogue steps (on ``acc`` and operand names).
        result: The value to express.
        operands: The operands the steps read.
        allowed: Broadcast patterns an operand may have to appear in a term.
    """
    forms: dict[Arg, Affine] = {"acc": Affine(alpha=1.0)}
    for o in operands:
        if o.keep in allowed:
            forms[o.name] = Affine(terms=((1.0, o.name),))

    def form(a: Arg) -> Affine | None:
        if isinstance(a, float):
            return Affine(beta=a)
        return forms.get(a)

    for s in steps:
        args = [form(a) for a in s.args]
        new: Affine | None = None
        consts = [a for a in s.args if isinstance(a, float)]
        if s.op in ("add", "sub") and None not in args:
            new = args[0].plus(args[1] if s.op == "add" else args[1].scaled(-1.0))  # type: ignore[union-attr]
        elif s.op == "mul" and len(consts) == 1 and None not in args:
            new = (args[0] if isinstance(s.args[1], float) else args[1]).scaled(consts[0])  # type: ignore[union-attr]
        elif s.op == "div" and isinstance(s.args[1], float) and args[0] is not None:
            new = args[0].scaled(1.0 / s.args[1])
        elif s.op == "neg" and args[0] is not None:
            new = args[0].scaled(-1.0)
        elif s.op == "identity" and args[0] is not None:
            new = args[0]
        if new is None:
            if s.var in _ancestors_of(result, steps):
                return None, s.op
            continue
        forms[s.var] = new
    return forms.get(result), ""


def _ancestors_of(result: Arg, steps: list[Step]) -> set[str]:
    by_var = {s.var: s for s in steps}
    seen: set[str] = set()
    stack = [result]
    while stack:
        v = stack.pop()
        if isinstance(v, str) and v in by_var and v not in seen:
            seen.add(v)
            stack.extend(by_var[v].args)
    return seen


def _as_row(source: Source, n: int) -> Source:
    """A vector-like source viewed as ``(1, n)``."""
    if numel(source.shape) != n:
        raise ProblemError(f"{source.render()} is not a vector of {n} elements.")
    views = (*source.views, ("reshape", ((1, -1),)))
    return Source(source.base, views, (1, n), source.stable)


# ---- (a) sum over output features ------------------------------------------------------------
def sum_to_gemv(
    traced: Traced, p: Product, reductions: list[torch.fx.Node], out: torch.fx.Node
) -> GemmPlan:
    """``sum_n`` (or ``mean_n``) of an affine epilogue -> ``x @ W.sum(0)`` plus summed terms.

    Raises:
        ProblemError: The reduction is not a sum/mean over the product's output features, or
            the ops before it are not affine.
    """
    red = reductions[0]
    name = op_name(red)
    if len(reductions) > 1 or name not in ("sum", "mean"):
        raise ProblemError(f"{name} after the product is a reduction the epilogue cannot fuse.")
    if p.kind != "mm":
        raise ProblemError("A sum after a batched or vector product is not rewritten.")
    src = red.args[0]
    assert isinstance(src, torch.fx.Node)
    shape = require_shape(src)
    dims = arg(red, 1, "dim")
    if not dims:
        raise ProblemError(
            "A full reduction of the product is not fused; only a sum over its features."
        )
    dims = [int(d) % len(shape) for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
    if dims != [len(shape) - 1] or shape[-1] != p.n or numel(shape) != p.m * p.n:
        raise ProblemError("The sum after the product is not over its output features (last dim).")
    ep = start_epilogue(traced, p)
    value = ep.translate(descendants(p.node), src) if src is not p.node else ep.values[p.node]
    form, bad = affine(ep.steps, value, ep.operands, (COL, SCALAR))
    if form is None:
        raise ProblemError(
            f"The ops between the product and the sum ({bad}) are not affine, so the sum"
            " cannot move into the weights."
        )
    alpha = form.alpha
    for op, c in p.b.prologue:
        alpha = alpha * c if op == "mul" else alpha / c
    n, m = p.n, p.m
    pre = [Precompute("_kv_p0", "rowsum", (p.b.source,))]
    post = Epilogue(traced, (1, m, 1), (m, 1))
    post.forbidden = descendants(p.node)
    acc: str = "acc"
    if alpha != 1.0:
        acc = post.emit("mul", acc, alpha)
    by_name = {o.name: o for o in ep.operands}
    coefs: dict[str, float] = {}
    for coef, operand in form.terms:
        coefs[operand] = coefs.get(operand, 0.0) + coef
    for operand, coef in coefs.items():
        o = by_name[operand]
        if o.keep == COL:
            pname = f"_kv_p{len(pre)}"
            pre.append(Precompute(pname, "rowsum", (_as_row(o.source, n),)))
            term = post.operand(Source(pname, (), (1,), o.source.stable), (m, 1))
            weight = coef
        else:
            term = post.operand(o.source, (m, 1))
            weight = coef * n
        if weight != 1.0:
            term = post.emit("mul", term, weight)
        acc = post.emit("add", acc, term)
    if form.beta:
        acc = post.emit("add", acc, form.beta * n)
    if name == "mean":
        acc = post.emit("div", acc, float(n))
    post.start(red, acc)
    n_before = len(post.ops)
    result = post.translate(descendants(red), out)
    w_sum = Source("_kv_p0", (("unsqueeze", (1,)),), (p.k, 1), p.b.source.stable)
    return post.plan(
        result,
        out,
        (m, 1),
        ep.cast,
        rewrite="sum_to_gemv",
        kind="mm",
        a=p.a,
        b=MatInput(w_sum),
        batch=1,
        m=m,
        n=1,
        k=p.k,
        precompute=tuple(pre),
        thin_only=True,
        summary=" -> ".join([op_name(p.node), *ep.ops, name, *post.ops[n_before:]]),
        note=f"{name} over the {n} output features moved into the weights (x @ W.sum(0))",
    )


# ---- (c) two back-to-back linears -------------------------------------------------------------
def merge_linears(
    traced: Traced, n1: torch.fx.Node, n2: torch.fx.Node, out: torch.fx.Node
) -> GemmPlan:
    """``(x @ B1 + b1) @ B2`` -> ``x @ (B1 @ B2) + b1 @ B2`` when that reduces FLOPs.

    Raises:
        ProblemError: The products are independent, a nonlinearity (or anything but a bias)
            sits between them, or merging would not reduce FLOPs for these shapes.
    """
    p1 = require_plain(product(traced, n1))
    a2 = n2.args[1] if op_name(n2) == "addmm" else n2.args[0]
    assert isinstance(a2, torch.fx.Node)
    x = a2
    while x is not n1 and op_name(x) in RESHAPES | IDENTITY_OPS:
        x = x.args[0]  # type: ignore[assignment]
    region1 = descendants(n1)
    if x not in region1:
        raise ProblemError("The reference has two independent matrix products; one is fused.")
    between = [n for n in traced.gm.graph.nodes if n in region1 and n in ancestors(x)]
    linear_ops = {"add", "sub", "mul", "div", "neg", "_to_copy"} | RESHAPES | IDENTITY_OPS
    nonlinear = [op_name(n) for n in between[1:] if op_name(n) not in linear_ops]
    if nonlinear:
        raise ProblemError(
            f"Two matmuls with a nonlinearity ({nonlinear[0]}) between them are not handled;"
            " the generator fuses one product and its epilogue."
        )
    ep1 = start_epilogue(traced, p1)
    value = ep1.translate(region1, x) if x is not n1 else ep1.values[n1]
    form, _ = affine(ep1.steps, value, ep1.operands, (COL,))
    ok = form is not None and form.alpha == 1.0 and form.beta == 0.0
    if not ok or len(form.terms) > 1 or any(c != 1.0 for c, _ in form.terms):  # type: ignore[union-attr]
        raise ProblemError("Only a bias add between two back-to-back linears is merged.")
    if op_name(n2) not in ("mm", "addmm") or p1.kind != "mm":
        raise ProblemError("Only two plain 2-D products (linears) are merged.")
    if require_shape(a2) != (p1.m, p1.n):
        raise ProblemError("The second product does not read the first one's rows in order.")
    p2 = require_plain(product(traced, n2, a_input=p1.a))
    if p1.b.prologue or p2.b.prologue:
        raise ProblemError("Scaled weights of back-to-back linears are not merged.")
    m, k, h, n = p1.m, p1.k, p1.n, p2.n
    bias = [o for o in ep1.operands if o.name == form.terms[0][1]] if form.terms else []  # type: ignore[union-attr]
    cached = p1.b.source.stable and p2.b.source.stable and all(o.source.stable for o in bias)
    merged = 2 * m * k * n + (0 if cached else 2 * k * h * n + 2 * h * n)
    original = 2 * m * h * (k + n)
    if merged >= original:
        need = "K*N < H*(K+N)" if cached else "M*K*N + K*H*N + H*N < M*H*(K+N)"
        raise ProblemError(
            f"Two back-to-back linears (M={m}, K={k}, H={h}, N={n}) are merged only when it"
            f" reduces FLOPs ({need}), which it does not here."
        )
    pre = [Precompute("_kv_p0", "matmul", (p1.b.source, p2.b.source))]
    ep = Epilogue(traced, (1, m, n), require_shape(n2))
    ep.forbidden = descendants(n1)
    acc: str = "acc"
    if bias:
        pre.append(Precompute("_kv_p1", "matmul", (_as_row(bias[0].source, h), p2.b.source)))
        bias_row = ep.operand(Source("_kv_p1", (), (1, n), cached), require_shape(n2))
        acc = ep.emit("add", acc, bias_row)
    start_epilogue(traced, p2, acc, ep)
    result = ep.translate(descendants(n2), out)
    return ep.plan(
        result,
        out,
        require_shape(n2),
        rewrite="merge_linears",
        kind="mm",
        a=p1.a,
        b=MatInput(Source("_kv_p0", (), (k, n), cached)),
        batch=1,
        m=m,
        n=n,
        k=k,
        precompute=tuple(pre),
        summary=" -> ".join(["mm", *ep.ops]),
        note=f"two linears merged: {original} -> {merged} FLOPs per call",
    )
