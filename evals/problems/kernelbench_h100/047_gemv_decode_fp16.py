"""matvec: batch-1 fp16 linear layer (a GEMV over a 28672x8192 weight), the MLP projection of LLaMA-2-70B during token-by-token decoding."""

import torch
import torch.nn as nn

IN_FEATURES = 8192
OUT_FEATURES = 28672
KEVOLVE_SIZES = {"IN_FEATURES": 16, "OUT_FEATURES": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = x @ W^T for x of shape (1, in_features)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.proj = nn.Linear(in_features, out_features, bias=False, dtype=DTYPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def get_inputs():
    return [torch.randn(1, IN_FEATURES, dtype=DTYPE)]


def get_init_inputs():
    return [IN_FEATURES, OUT_FEATURES]
