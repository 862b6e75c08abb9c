"""Grouped k/v heads and masks passed as inputs, as the recogniser tracks them.

Grouped-query attention repeats each k/v head ``G`` times to the query heads, traced as
``unsqueeze(p) -> expand(G at p) [-> clone] -> view(merging dims p - 1 and p)`` (what
``repeat_interleave(k, G, dim=-3)`` and ``k[:, :, None].expand(...).reshape(...)`` become).
The recogniser follows that chain on the k/v operand (``rep`` = the inserted dim and its
size) and ends with ``group = G``: query head ``h`` reads k/v head ``h // G``. Any other
repeat (``k.repeat(1, G, 1, 1)`` reads head ``h % Hkv``) is declined.

A mask given as an input is an :class:`InputMask`: a boolean tensor that keeps (``keep``)
or hides (``drop``) keys where it is true, or a float bias added to the scores (``add``,
times ``scale`` when the scores are scaled after the addition).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

KINDS = ("keep", "drop", "add")


@dataclass(frozen=True)
class InputMask:
    """A mask read from forward input ``index``, broadcast to the scores."""

    index: int
    kind: str
    shape: tuple[int, ...]
    scale: float = 1.0


def grouped_view(op: Any, new: tuple[int, ...] | None) -> Any | str:
    """``op`` (an Operand) after a view/expand/clone to ``new``; a str says why not.

    Returns ``None`` when the view is not part of a head repeat (the caller's plain view
    rules apply).
    """
    if new is None:
        return "a reshape drops the sequence or head dims"
    old = op.shape
    if op.rep is None:
        n = len(old)
        if len(new) == n + 1 and new[-2:] == old[-2:]:
            for p in range(1, n - 1):
                if new == old[:p] + (1,) + old[p:]:
                    return replace(op, shape=new, rep=(p, 1))
        return None
    p, g = op.rep
    if new == old:
        return op
    if len(new) == len(old) and new[:p] + new[p + 1 :] == old[:p] + old[p + 1 :] and g == 1:
        return replace(op, shape=new, rep=(p, new[p]))
    merged = old[: p - 1] + (old[p - 1] * g,) + old[p + 1 :]
    if new == merged and p - 1 == len(new) - 3 and op.group == 1:
        return replace(op, shape=new, rep=None, group=g)
    if g == 1:
        return None
    return (
        f"a view from {list(old)} to {list(new)} repeats k/v heads other than"
        " kv head = query head // group"
    )


def settled(op: Any) -> Any | str:
    """``op`` before a non-view op: a pending size-1 dim is dropped, a pending repeat is not."""
    if op.rep is None:
        return op
    if op.rep[1] != 1:
        return "k/v heads are repeated but not merged into the head dim before use"
    return replace(op, rep=None)
