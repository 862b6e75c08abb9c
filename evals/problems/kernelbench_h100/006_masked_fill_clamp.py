"""pointwise: masked fill of padded positions then clamp of the logits, as before the softmax of padded BERT batches."""

import torch
import torch.nn as nn

ROWS = 16384
COLS = 4096
KEVOLVE_SIZES = {"ROWS": 1, "COLS": 1}


class Model(nn.Module):
    """y = clamp(where(keep, x * 0.125, -1e4), -50, 50)."""

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        y = torch.where(keep, x * 0.125, torch.full_like(x, -1e4))
        return torch.clamp(y, -50.0, 50.0)


def get_inputs():
    x = torch.randn(ROWS, COLS)
    keep = torch.rand(ROWS, COLS) > 0.1
    return [x, keep]


def get_init_inputs():
    return []
