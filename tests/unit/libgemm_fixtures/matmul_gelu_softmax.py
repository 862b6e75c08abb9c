"""Matmul, GELU, then softmax over the features."""
import torch
import torch.nn as nn

BATCH = 64
IN_FEATURES = 96
OUT_FEATURES = 200
KEVOLVE_SIZES = {"BATCH": 1, "IN_FEATURES": 1, "OUT_FEATURES": 1}


class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        x = self.linear(x)
        x = torch.nn.functional.gelu(x)
        x = torch.nn.functional.softmax(x, dim=1)
        return x


def get_inputs():
    return [torch.randn(BATCH, IN_FEATURES)]


def get_init_inputs():
    return [IN_FEATURES, OUT_FEATURES]
