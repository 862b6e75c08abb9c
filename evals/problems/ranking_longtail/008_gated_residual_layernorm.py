"""norm: gated residual LayerNorm, y = LayerNorm(residual + sigmoid(gate) * x) with a learned per-feature gate bias, the block output of gated ranking towers (MaskNet, GDCN)."""

import torch
import torch.nn as nn

ROWS = 65536
DIM = 512
KEVOLVE_SIZES = {"ROWS": 1, "DIM": 8}


class Model(nn.Module):
    """y = LayerNorm(residual + sigmoid(gate + gate_bias) * x)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gate_bias = nn.Parameter(torch.randn(dim) * 0.1)
        self.norm = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x: torch.Tensor, gate: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.norm(residual + torch.sigmoid(gate + self.gate_bias) * x)


def get_inputs():
    return [torch.randn(ROWS, DIM), torch.randn(ROWS, DIM), torch.randn(ROWS, DIM)]


def get_init_inputs():
    return [DIM]
