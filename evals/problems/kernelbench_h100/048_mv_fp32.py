"""matvec: fp32 matrix-vector product torch.mv, the step of a power iteration or PageRank on a dense matrix."""

import torch
import torch.nn as nn

ROWS = 16384
COLS = 8192
KEVOLVE_SIZES = {"ROWS": 1, "COLS": 1}


class Model(nn.Module):
    """y = A @ v."""

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.mv(a, v)


def get_inputs():
    return [torch.randn(ROWS, COLS), torch.randn(COLS)]


def get_init_inputs():
    return []
