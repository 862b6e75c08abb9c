"""pointwise: bias add then exact GELU after a linear layer, the bias-GELU fusion of BERT/Megatron FFNs."""

import torch
import torch.nn as nn
import torch.nn.functional as F

TOKENS = 16384
HIDDEN = 4096
KEVOLVE_SIZES = {"TOKENS": 1, "HIDDEN": 1}


class Model(nn.Module):
    """y = gelu(x + bias), bias broadcast over rows."""

    def __init__(self, hidden: int):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(hidden) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x + self.bias)


def get_inputs():
    return [torch.randn(TOKENS, HIDDEN)]


def get_init_inputs():
    return [HIDDEN]
