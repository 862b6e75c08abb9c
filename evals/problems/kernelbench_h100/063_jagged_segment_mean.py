"""fused: mean over jagged segments (values plus per-user lengths, some empty), the user-history pooling of a sequential recommender on jagged tensors."""

import torch
import torch.nn as nn

USERS = 16384
TOTAL = 2097152
DIM = 64
KEVOLVE_SIZES = {"USERS": 1, "TOTAL": 1, "DIM": 1}


class Model(nn.Module):
    """y[u] = mean of values[offset[u]:offset[u] + lengths[u]] (zeros for an empty segment)."""

    def forward(self, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        sums = torch.segment_reduce(values, "sum", lengths=lengths, axis=0)
        return sums / lengths.clamp(min=1).unsqueeze(1).to(values.dtype)


def get_inputs():
    values = torch.randn(TOTAL, DIM)
    cuts = torch.sort(torch.randint(0, TOTAL + 1, (USERS - 1,))).values
    bounds = torch.cat([torch.zeros(1, dtype=torch.int64), cuts, torch.full((1,), TOTAL)])
    return [values, bounds[1:] - bounds[:-1]]


def get_init_inputs():
    return []
