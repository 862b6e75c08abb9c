"""matmul: fp32 linear layer with bias and ReLU (no TF32), a hidden layer of a recommendation model's fp32 MLP tower."""

import torch
import torch.nn as nn

BATCH = 8192
IN_FEATURES = 4096
OUT_FEATURES = 4096
KEVOLVE_SIZES = {"BATCH": 16, "IN_FEATURES": 16, "OUT_FEATURES": 16}


class Model(nn.Module):
    """y = relu(x @ W^T + b) in fp32."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


def get_inputs():
    return [torch.randn(BATCH, IN_FEATURES)]


def get_init_inputs():
    return [IN_FEATURES, OUT_FEATURES]
