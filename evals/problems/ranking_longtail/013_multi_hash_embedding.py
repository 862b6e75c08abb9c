"""gather: multi-hash (count-sketch style) embeddings, each raw id hashed by three independent multipliers into one shared 2M-row table and the three rows summed, the collision-robust hashing trick for huge id spaces."""

import torch
import torch.nn as nn

BATCH = 65536
FIELDS = 16
BUCKETS = 2097152
DIM = 32
KEVOLVE_SIZES = {"BATCH": 1, "BUCKETS": 1}
MULTIPLIERS = (2654435761, 2246822519, 3266489917)


class Model(nn.Module):
    """out[b, f] = sum_h table[(ids[b, f] * m_h + h) mod buckets]."""

    def __init__(self, buckets: int, dim: int):
        super().__init__()
        self.buckets = buckets
        self.table = nn.Parameter(torch.randn(buckets, dim) * 0.05)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out = None
        for h, m in enumerate(MULTIPLIERS):
            rows = self.table[torch.remainder(ids * m + h, self.buckets)]
            out = rows if out is None else out + rows
        return out


def get_inputs():
    return [torch.randint(0, 2**40, (BATCH, FIELDS), dtype=torch.int64)]


def get_init_inputs():
    return [BUCKETS, DIM]
