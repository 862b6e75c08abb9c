"""matmul: fp16 output projection scaled and added to the residual stream, the attention out-projection of a DeepNet/GPT block."""

import torch
import torch.nn as nn

TOKENS = 8192
D_MODEL = 4096
KEVOLVE_SIZES = {"TOKENS": 16, "D_MODEL": 16}
ALPHA = 0.5
DTYPE = torch.float16


class Model(nn.Module):
    """y = residual + alpha * (x @ W^T)."""

    def __init__(self, d_model: int, alpha: float):
        super().__init__()
        self.proj = nn.Linear(d_model, d_model, bias=False, dtype=DTYPE)
        self.alpha = alpha

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return residual + self.alpha * self.proj(x)


def get_inputs():
    x = torch.randn(TOKENS, D_MODEL, dtype=DTYPE)
    residual = torch.randn(TOKENS, D_MODEL, dtype=DTYPE)
    return [x, residual]


def get_init_inputs():
    return [D_MODEL, ALPHA]
