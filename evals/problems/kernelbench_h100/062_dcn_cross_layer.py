"""fused: DCN-v2 cross layer x0 * (xl @ W^T + b) + xl in fp32 (no TF32), the feature-crossing layer of Deep & Cross Network v2."""

import torch
import torch.nn as nn

BATCH = 16384
DIM = 1024
KEVOLVE_SIZES = {"BATCH": 16, "DIM": 16}


class Model(nn.Module):
    """y = x0 * linear(xl) + xl."""

    def __init__(self, dim: int):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        return x0 * self.fc(xl) + xl


def get_inputs():
    return [torch.randn(BATCH, DIM), torch.randn(BATCH, DIM)]


def get_init_inputs():
    return [DIM]
