"""pointwise: scaled residual update residual * alpha + (x + bias), the DeepNet/ResiDual residual branch of a transformer layer."""

import torch
import torch.nn as nn

TOKENS = 16384
HIDDEN = 4096
KEVOLVE_SIZES = {"TOKENS": 1, "HIDDEN": 1}
ALPHA = 1.5


class Model(nn.Module):
    """y = residual * alpha + (x + bias); bias broadcast over rows."""

    def __init__(self, hidden: int, alpha: float):
        super().__init__()
        self.alpha = alpha
        self.bias = nn.Parameter(torch.randn(hidden) * 0.02)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return residual * self.alpha + (x + self.bias)


def get_inputs():
    return [torch.randn(TOKENS, HIDDEN), torch.randn(TOKENS, HIDDEN)]


def get_init_inputs():
    return [HIDDEN, ALPHA]
