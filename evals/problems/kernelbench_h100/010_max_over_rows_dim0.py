"""reduction: column-wise max over dim 0 of (samples x features), the per-feature range of a quantization observer."""

import torch
import torch.nn as nn

SAMPLES = 65536
FEATURES = 1024
KEVOLVE_SIZES = {"SAMPLES": 1, "FEATURES": 1}


class Model(nn.Module):
    """y = amax(x, dim=0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(x, dim=0)


def get_inputs():
    return [torch.randn(SAMPLES, FEATURES)]


def get_init_inputs():
    return []
