"""pointwise: ReLU over a (tokens x hidden) activation, as in the MLP blocks of ResNets and classic MLPs."""

import torch
import torch.nn as nn

ROWS = 16384
HIDDEN = 4096
KEVOLVE_SIZES = {"ROWS": 1, "HIDDEN": 1}


class Model(nn.Module):
    """y = relu(x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


def get_inputs():
    return [torch.randn(ROWS, HIDDEN)]


def get_init_inputs():
    return []
