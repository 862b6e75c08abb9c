"""reduction: mean over the middle (sequence) dim of (batch, seq, hidden), the mean pooling of sentence encoders."""

import torch
import torch.nn as nn

BATCH = 32
SEQ = 2048
HIDDEN = 1024
KEVOLVE_SIZES = {"BATCH": 1, "SEQ": 1, "HIDDEN": 1}


class Model(nn.Module):
    """y = x.mean(dim=1): a strided reduction (the reduced dim is not the innermost)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mean(x, dim=1)


def get_inputs():
    return [torch.randn(BATCH, SEQ, HIDDEN)]


def get_init_inputs():
    return []
