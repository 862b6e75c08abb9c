"""gather: feature hashing of raw 64-bit ids into a 4M-bucket table, then a sum-pooled embedding lookup per sample (padding ids < 0 skipped), the sparse-feature path of a ranking model."""

import torch
import torch.nn as nn

BATCH = 16384
IDS = 64
BUCKETS = 4194304
DIM = 64
KEVOLVE_SIZES = {"BATCH": 1, "IDS": 1, "BUCKETS": 1}
PRIME = 2654435761


class Model(nn.Module):
    """y[b] = sum over valid j of table[(ids[b, j] * PRIME) mod buckets]."""

    def __init__(self, buckets: int, dim: int):
        super().__init__()
        self.buckets = buckets
        self.table = nn.Parameter(torch.randn(buckets, dim) * 0.05)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        valid = ids >= 0
        hashed = torch.remainder(ids.clamp_min(0) * PRIME, self.buckets)
        rows = self.table[hashed]  # (B, L, D)
        return (rows * valid.unsqueeze(-1).to(rows.dtype)).sum(dim=1)


def get_inputs():
    ids = torch.randint(0, 2**40, (BATCH, IDS), dtype=torch.int64)
    pad = torch.rand(BATCH, IDS) < 0.2
    return [ids.masked_fill(pad, -1)]


def get_init_inputs():
    return [BUCKETS, DIM]
