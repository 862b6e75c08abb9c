"""scan: cumulative sum over the middle (sequence) dim of (batch, seq, features), the prefix state of causal linear attention."""

import torch
import torch.nn as nn

BATCH = 64
SEQ = 4096
FEATURES = 256
KEVOLVE_SIZES = {"BATCH": 1, "SEQ": 1, "FEATURES": 1}


class Model(nn.Module):
    """y = cumsum(x, dim=1): a scan across a strided dim."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, dim=1)


def get_inputs():
    return [torch.randn(BATCH, SEQ, FEATURES) * 0.05]


def get_init_inputs():
    return []
