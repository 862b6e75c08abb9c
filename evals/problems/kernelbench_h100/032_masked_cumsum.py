"""scan: cumulative sum of masked values along the sequence, the running count/position ids built from an attention mask in HF generation."""

import torch
import torch.nn as nn

BATCH = 16384
SEQ = 4096
KEVOLVE_SIZES = {"BATCH": 1, "SEQ": 1}


class Model(nn.Module):
    """y = cumsum(x * mask, dim=1) for a boolean mask."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x * mask, dim=1)


def get_inputs():
    x = torch.rand(BATCH, SEQ)
    mask = torch.rand(BATCH, SEQ) > 0.3
    return [x, mask]


def get_init_inputs():
    return []
