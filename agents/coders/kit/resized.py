"""Literals of a traced graph that change when the problem is re-sized.

A tracer turns every Python int the forward computes with into a literal of the graph: a
table size ``Model.__init__`` stored as ``self.buckets`` and used by ``torch.remainder``
becomes ``remainder(x, 4092)``. A kernel or head that keeps the literal is wrong at any
other size (the evaluator also checks an irregular one). :func:`resized_literals` compares
the graph traced at two sizes, node by node, and binds each literal that changes to the
integer attribute of the model that equals it at both sizes; a changing literal that
matches none is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tools.errors import ProblemError


def model_int_attributes(source: str) -> dict[str, int]:
    """The public integer attributes ``Model(*get_init_inputs())`` sets, built on meta.

    Raises:
        ProblemError: The reference does not build on the meta device.
    """
    from tools.problems.materialize import build_model, exec_source, meta_device

    try:
        with meta_device():
            model = build_model(exec_source(source, "<reference>"))
    except (Exception, SystemExit) as e:
        raise ProblemError(f"The reference does not build on the meta device ({e}).") from e
    return {
        k: v
        for k, v in vars(model).items()
        if isinstance(v, int) and not isinstance(v, bool) and k.isidentifier() and not k.startswith("_")
    }


def resized_literals(
    here: Iterable[Any],
    there: Iterable[Any],
    candidates: Mapping[str, tuple[int, int]],
) -> dict[tuple[str, int], str]:
    """``(node name, argument position) -> expression`` for every int literal that changes.

    Args:
        here: The graph's nodes at the problem's size (``torch.fx`` nodes).
        there: The same graph traced at the other size.
        candidates: Expression (``self.buckets``, a size symbol) -> its value here and there.

    Raises:
        ProblemError: The graphs differ in structure, a size list changes, or a changing
            literal equals no candidate at both sizes.
    """
    a, b = list(here), list(there)
    if len(a) != len(b) or any(x.target != y.target for x, y in zip(a, b, strict=True)):
        raise ProblemError("the traced graph changes with the problem's size; no kernel fits both.")
    out: dict[tuple[str, int], str] = {}
    for x, y in zip(a, b, strict=True):
        for i, (u, v) in enumerate(zip(x.args, y.args, strict=False)):
            if isinstance(u, (list, tuple)) and isinstance(v, (list, tuple)):
                if any(
                    isinstance(p, int) and isinstance(q, int) and p != q
                    for p, q in zip(u, v, strict=False)
                ):
                    raise ProblemError(
                        f"a size list of {x.target} is a constant that changes with the size."
                    )
                continue
            if not isinstance(u, int) or isinstance(u, bool) or u == v:
                continue
            match = [name for name, (hu, hv) in candidates.items() if hu == u and hv == v]
            if not match:
                raise ProblemError(
                    f"the literal {u} of {x.target} changes with the problem's size and equals "
                    "no input dimension or model attribute; no kernel can take it as an argument."
                )
            out[(x.name, i)] = match[0]
    return out
