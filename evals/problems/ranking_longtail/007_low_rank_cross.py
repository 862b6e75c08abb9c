"""fused: three DCN-v2 low-rank cross layers, x_{l+1} = x0 * (U_l (V_l^T x_l) + b_l) + x_l with rank 64 over 1024 features, the explicit feature-interaction tower of a ranking model."""

import torch
import torch.nn as nn

BATCH = 32768
FEATURES = 1024
RANK = 64
LAYERS = 3
KEVOLVE_SIZES = {"BATCH": 1, "FEATURES": 8}


class Model(nn.Module):
    """Low-rank cross network (DCN-v2, Wang et al. 2021), ``LAYERS`` layers."""

    def __init__(self, features: int, rank: int, layers: int):
        super().__init__()
        self.v = nn.ParameterList(
            [nn.Parameter(torch.randn(features, rank) / features**0.5) for _ in range(layers)]
        )
        self.u = nn.ParameterList(
            [nn.Parameter(torch.randn(rank, features) / rank**0.5) for _ in range(layers)]
        )
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(features)) for _ in range(layers)])

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for v, u, b in zip(self.v, self.u, self.b):
            x = x0 * ((x @ v) @ u + b) + x
        return x


def get_inputs():
    return [torch.randn(BATCH, FEATURES) * 0.5]


def get_init_inputs():
    return [FEATURES, RANK, LAYERS]
