"""norm: RMSNorm written out by hand (mean of squares, rsqrt, weight), the LLaMA normalisation layer."""

import torch
import torch.nn as nn

TOKENS = 16384
HIDDEN = 4096
KEVOLVE_SIZES = {"TOKENS": 1, "HIDDEN": 1}
EPS = 1e-6


class Model(nn.Module):
    """y = weight * x * rsqrt(mean(x^2, -1) + eps)."""

    def __init__(self, hidden: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def get_inputs():
    return [torch.randn(TOKENS, HIDDEN)]


def get_init_inputs():
    return [HIDDEN, EPS]
