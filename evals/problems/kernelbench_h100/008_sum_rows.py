"""reduction: sum over the last dim of a (rows x features) tensor, like summing per-example feature scores in a ranking model."""

import torch
import torch.nn as nn

ROWS = 16384
COLS = 4096
KEVOLVE_SIZES = {"ROWS": 1, "COLS": 1}


class Model(nn.Module):
    """y = x.sum(dim=-1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sum(x, dim=-1)


def get_inputs():
    return [torch.randn(ROWS, COLS)]


def get_init_inputs():
    return []
