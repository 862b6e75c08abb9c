"""Inference-mode batch norm as pointwise chain steps (used by ``agents.coders.kit.chain_trace``).

``F.batch_norm(x, running_mean, running_var, weight, bias, training=False, eps=...)`` and an
``nn.BatchNorm*d`` module in eval mode compute ``(x - mean) / sqrt(var + eps) * weight +
bias`` per element, with per-channel (dim 1) statistics: each becomes a broadcast operand
viewed as ``(C, 1, ..., 1)`` so the fused pointwise kernel indexes it ``(i // inner) % C``.
A batch norm in training mode (the state of a freshly built module; the evaluator does not
call ``.eval()``) normalises with batch statistics and is rejected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from tools.errors import ProblemError

if TYPE_CHECKING:
    from agents.coders.kit.chain_trace import ChainBuilder


_BN_ARGS = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps")


def is_batch_norm(node: torch.fx.Node, gm: torch.fx.GraphModule) -> bool:
    """True for an ``F.batch_norm`` call or a ``nn.BatchNorm*d`` module call."""
    if node.op == "call_function":
        return node.target is F.batch_norm
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), nn.modules.batchnorm._BatchNorm)
    return False


def _bn_args(node: torch.fx.Node) -> dict[str, Any]:
    """``F.batch_norm``'s arguments by name (defaults filled in)."""
    bound: dict[str, Any] = {"weight": None, "bias": None, "training": False, "eps": 1e-5}
    bound |= dict(zip(_BN_ARGS, node.args, strict=False)) | dict(node.kwargs)
    return bound


def batch_norm_operands(gm: torch.fx.GraphModule) -> set[torch.fx.Node]:
    """Inputs and attributes read only as a functional batch norm's statistics or affine."""
    used: set[torch.fx.Node] = set()
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target is F.batch_norm:
            args = _bn_args(node)
            used |= {
                args[k]
                for k in ("running_mean", "running_var", "weight", "bias")
                if isinstance(args[k], torch.fx.Node)
            }
    return {
        n
        for n in used
        if n.op in ("placeholder", "get_attr")
        and all(u.op == "call_function" and u.target is F.batch_norm for u in n.users)
        and all(n is not _bn_args(u)["input"] for u in n.users)
    }


def _channel(b: ChainBuilder, probe: torch.fx.Node, expr: str, channels: int, rank: int) -> str:
    """A per-channel tensor viewed to broadcast along dim 1 of a rank-``rank`` input."""
    ones = (1,) * (rank - 2)
    view = f"{expr}.view(-1{', 1' * (rank - 2)})" if ones else expr
    return b.operand(probe, view, shape=(channels, *ones), key=f"{expr}@bn{rank}")


def lower_batch_norm(b: ChainBuilder, node: torch.fx.Node, gm: torch.fx.GraphModule) -> str:
    """``(x - mean) / sqrt(var + eps) [* weight] [+ bias]`` with per-channel operands."""
    x = node.args[0]
    meta = x.meta.get("tensor_meta") if isinstance(x, torch.fx.Node) else None
    if meta is None or len(meta.shape) < 2:
        raise ProblemError("Batch norm needs an input with a channel dim (rank >= 2).")
    rank = len(meta.shape)
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        if module.training or module.running_mean is None:  # type: ignore[union-attr]
            raise ProblemError(
                f"{type(module).__name__} {node.target} normalises with batch statistics (it is"
                " in training mode or tracks no running stats); only eval-mode batch norm is"
                " fused."
            )
        names = ["running_mean", "running_var"]
        names += ["weight", "bias"] if module.affine else []  # type: ignore[union-attr]
        eps = float(module.eps)  # type: ignore[union-attr]
        channels = int(module.num_features)  # type: ignore[union-attr]
        operands = {n: _channel(b, x, f"self.{node.target}.{n}", channels, rank) for n in names}
    else:
        args = _bn_args(node)
        if args["training"] is not False:
            raise ProblemError(
                "F.batch_norm with training=True normalises with batch statistics; only"
                " training=False is fused."
            )
        eps = float(args["eps"])
        operands = {}
        for name in ("running_mean", "running_var", "weight", "bias"):
            t = args[name]
            if t is None:
                continue
            if not isinstance(t, torch.fx.Node) or t.op not in ("placeholder", "get_attr"):
                raise ProblemError(f"Batch-norm {name} must be an input, parameter or buffer.")
            meta_t = t.meta.get("tensor_meta")
            if meta_t is None or len(meta_t.shape) != 1:
                raise ProblemError(f"Batch-norm {name} is not a 1-D per-channel tensor.")
            expr = str(t.target) if t.op == "placeholder" else f"self.{t.target}"
            operands[name] = _channel(b, t, expr, int(meta_t.shape[0]), rank)
        if "running_mean" not in operands or "running_var" not in operands:
            raise ProblemError("F.batch_norm without running statistics uses batch statistics.")
    y = b.emit("sub", b.value(x), operands["running_mean"])
    y = b.emit("div", y, b.emit("sqrt", b.emit("add", operands["running_var"], eps)))
    if "weight" in operands:
        y = b.emit("mul", y, operands["weight"])
    if "bias" in operands:
        y = b.emit("add", y, operands["bias"])
    return y
