"""gather: jagged embedding-bag sum (bags of varying size given by offsets) over a 1M-row table, the sparse-feature lookup of DLRM."""

import torch
import torch.nn as nn
import torch.nn.functional as F

ROWS = 1048576
DIM = 128
BAGS = 16384
LOOKUPS = 1048576
KEVOLVE_SIZES = {"ROWS": 1, "BAGS": 1, "LOOKUPS": 1}


class Model(nn.Module):
    """y[b] = sum of table rows indices[offsets[b]:offsets[b+1]] (empty bags give zeros)."""

    def __init__(self, rows: int, dim: int):
        super().__init__()
        self.table = nn.Parameter(torch.randn(rows, dim) * 0.1)

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return F.embedding_bag(indices, self.table, offsets, mode="sum")


def get_inputs():
    indices = torch.randint(0, ROWS, (LOOKUPS,))
    cuts = torch.sort(torch.randint(0, LOOKUPS + 1, (BAGS - 1,))).values
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), cuts])
    return [indices, offsets]


def get_init_inputs():
    return [ROWS, DIM]
