"""pointwise: a 12-op elementwise chain (scale, shift, sigmoid gate, tanh, log1p, clamp), like the hand-written activation tails of research models."""

import torch
import torch.nn as nn

ROWS = 16384
COLS = 4096
KEVOLVE_SIZES = {"ROWS": 1, "COLS": 1}


class Model(nn.Module):
    """Twelve elementwise ops that eager PyTorch runs as twelve kernels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 1.702 + 0.1
        y = torch.sigmoid(y) * x
        y = torch.tanh(y)
        y = y * y + 1.0
        y = torch.log1p(y)
        y = torch.sqrt(y)
        y = y - 0.5
        y = torch.exp(-y * y)
        return torch.clamp(y, 0.05, 0.95)


def get_inputs():
    return [torch.randn(ROWS, COLS)]


def get_init_inputs():
    return []
