"""norm: LayerNorm with weight and bias over the hidden dim of (tokens x hidden), as in every GPT/BERT block."""

import torch
import torch.nn as nn

TOKENS = 16384
HIDDEN = 4096
KEVOLVE_SIZES = {"TOKENS": 1, "HIDDEN": 1}
EPS = 1e-5


class Model(nn.Module):
    """y = LayerNorm(hidden)(x)."""

    def __init__(self, hidden: int, eps: float):
        super().__init__()
        self.ln = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x)


def get_inputs():
    return [torch.randn(TOKENS, HIDDEN) * 2.0 + 0.5]


def get_init_inputs():
    return [HIDDEN, EPS]
