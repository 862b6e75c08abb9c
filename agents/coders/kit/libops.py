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

LIBRARY_MODULES: dict[type, LibKind] = {
    nn.Linear: "gemm",
    nn.Conv1d: "conv",
    nn.Conv2d: "conv",
    nn.Conv3d: "conv",
    nn.ConvTranspose1d: "conv",
    nn.ConvTranspose2d: "conv",
    nn.ConvTranspose3d: "conv",
}
"""Modules whose call is one library op."""
LIBRARY_FUNCTIONS: dict[Any, tuple[str, LibKind]] = {
    torch.matmul: ("torch.matmul", "gemm"),
    operator.matmul: ("torch.matmul", "gemm"),
    torch.mm: ("torch.mm", "gemm"),
    torch.bmm: ("torch.bmm", "gemm"),
    torch.addmm: ("torch.addmm", "gemm"),
    F.linear: ("torch.nn.functional.linear", "gemm"),
    F.conv1d: ("torch.nn.functional.conv1d", "conv"),
    F.conv2d: ("torch.nn.functional.conv2d", "conv"),
    F.conv3d: ("torch.nn.functional.conv3d", "conv"),
    F.conv_transpose1d: ("torch.nn.functional.conv_transpose1d", "conv"),
    F.conv_transpose2d: ("torch.nn.functional.conv_transpose2d", "conv"),
    F.conv_transpose3d: ("torch.nn.functional.conv_transpose3d", "conv"),
}
"""Functions that are one library op, with the name generated code calls them by."""
LIBRARY_METHODS: dict[str, tuple[str, LibKind]] = {
    "matmul": ("torch.matmul", "gemm"),
    "mm": ("torch.mm", "gemm"),
    "bmm": ("torch.bmm", "gemm"),
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
