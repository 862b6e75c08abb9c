"""reduction: L2 norm of a whole flattened tensor to one scalar, the global gradient norm of gradient clipping."""

import torch
import torch.nn as nn

NUMEL = 2**26
KEVOLVE_SIZES = {"NUMEL": 1}


class Model(nn.Module):
    """y = sqrt(sum(x * x)) over every element (a 0-dim tensor)."""

    def forward(self, grads: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(grads)


def get_inputs():
    return [torch.randn(NUMEL) * 1e-3]


def get_init_inputs():
    return []
