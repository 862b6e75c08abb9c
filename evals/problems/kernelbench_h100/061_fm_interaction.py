"""fused: factorization-machine second-order interaction 0.5 * sum((sum_f v)^2 - sum_f v^2), the FM component of DeepFM."""

import torch
import torch.nn as nn

BATCH = 65536
FIELDS = 39
DIM = 16
KEVOLVE_SIZES = {"BATCH": 1}


class Model(nn.Module):
    """y = 0.5 * sum_d((sum_f e[:, f, d])^2 - sum_f e[:, f, d]^2), shape (batch, 1)."""

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        square_of_sum = emb.sum(dim=1).pow(2)
        sum_of_square = emb.pow(2).sum(dim=1)
        return 0.5 * (square_of_sum - sum_of_square).sum(dim=1, keepdim=True)


def get_inputs():
    return [torch.randn(BATCH, FIELDS, DIM) * 0.1]


def get_init_inputs():
    return []
