"""Which traced calls are library ops: convolutions and matrix products.

A convolution (``nn.Conv*d``, ``nn.ConvTranspose*d``, grouped or depthwise, or their
``F.conv*`` forms) or a matrix product (``nn.Linear``, ``F.linear``, ``matmul``, ``mm``,
``bmm``, ``addmm``) is fastest as the vendor library's call (cuDNN, cuBLAS, rocBLAS) on most
shapes; generators that fuse around such calls keep them as written and read this table.
"""

from __future__ import annotations

import operator
from typing import Any, Literal

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

LibKind = Literal["conv", "gemm"]

_CONVS = tuple(f"conv{t}{d}d" for t in ("", "_transpose") for d in (1, 2, 3))
"""``F`` convolution names: ``conv1d``..``conv3d``, ``conv_transpose1d``..``conv_transpose3d``."""
_PRODUCTS = ("matmul", "mm", "bmm")
"""Matrix products that are ``torch`` functions and tensor methods of the same name."""

LIBRARY_MODULES: dict[type, LibKind] = {
    nn.Linear: "gemm",
    **{getattr(nn, f"Conv{t}{d}d"): "conv" for t in ("", "Transpose") for d in (1, 2, 3)},
}
"""Modules whose call is one library op."""
LIBRARY_FUNCTIONS: dict[Any, tuple[str, LibKind]] = {
    **{getattr(torch, name): (f"torch.{name}", "gemm") for name in (*_PRODUCTS, "addmm")},
    operator.matmul: ("torch.matmul", "gemm"),
    **{
        getattr(F, name): (f"torch.nn.functional.{name}", kind)
        for name, kind in (("linear", "gemm"), *((c, "conv") for c in _CONVS))
    },
}
"""Functions that are one library op, with the name generated code calls them by."""
LIBRARY_METHODS: dict[str, tuple[str, LibKind]] = {
    name: (f"torch.{name}", "gemm") for name in _PRODUCTS
}


def library_kind(node: torch.fx.Node, gm: torch.fx.GraphModule) -> LibKind | None:
    """The kind of library op a node calls, or ``None``."""
    if node.op == "call_module":
        return LIBRARY_MODULES.get(type(gm.get_submodule(str(node.target))))
    if node.op == "call_function":
        found = LIBRARY_FUNCTIONS.get(node.target)
        return found[1] if found else None
    if node.op == "call_method":
        found = LIBRARY_METHODS.get(str(node.target))
        return found[1] if found else None
    return None
