"""matvec: fp16 vector-matrix product v @ A (a column-wise weighted sum), the input gradient of a batch-1 linear layer."""

import torch
import torch.nn as nn

ROWS = 16384
COLS = 8192
KEVOLVE_SIZES = {"ROWS": 16, "COLS": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = v @ A for v of shape (rows,) and A of shape (rows, cols)."""

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return torch.matmul(v, a)


def get_inputs():
    v = torch.randn(ROWS, dtype=DTYPE) * 0.05
    a = torch.randn(ROWS, COLS, dtype=DTYPE)
    return [v, a]


def get_init_inputs():
    return []
