"""fused: DLRM pairwise dot-product feature interaction (bmm of features with themselves, strictly-lower triangle, concat with the dense vector)."""

import torch
import torch.nn as nn

BATCH = 16384
SPARSE_FEATURES = 26
DIM = 128
KEVOLVE_SIZES = {"BATCH": 1}


class Model(nn.Module):
    """T = [dense, sparse...]; Z = T T^T; y = cat(dense, Z[i > j])."""

    def __init__(self, num_features: int):
        super().__init__()
        li, lj = torch.tril_indices(num_features, num_features, offset=-1)
        self.register_buffer("li", li)
        self.register_buffer("lj", lj)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        t = torch.cat([dense.unsqueeze(1), sparse], dim=1)
        z = torch.bmm(t, t.transpose(1, 2))
        return torch.cat([dense, z[:, self.li, self.lj]], dim=1)


def get_inputs():
    dense = torch.randn(BATCH, DIM)
    sparse = torch.randn(BATCH, SPARSE_FEATURES, DIM)
    return [dense, sparse]


def get_init_inputs():
    return [SPARSE_FEATURES + 1]
