"""reduction: product over the last dim of factors near 1, like survival probabilities or compounded per-step rates."""

import torch
import torch.nn as nn

ROWS = 65536
STEPS = 1024
KEVOLVE_SIZES = {"ROWS": 1, "STEPS": 1}


class Model(nn.Module):
    """y = prod(x, dim=-1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.prod(x, dim=-1)


def get_inputs():
    return [1.0 + 0.01 * torch.randn(ROWS, STEPS)]


def get_init_inputs():
    return []
