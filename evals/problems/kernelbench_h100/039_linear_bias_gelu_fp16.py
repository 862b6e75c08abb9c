"""matmul: fp16 linear layer with bias and tanh-GELU epilogue, the MLP up-projection of GPT-2/GPT-J."""

import torch
import torch.nn as nn
import torch.nn.functional as F

TOKENS = 8192
D_MODEL = 4096
D_FF = 16384
KEVOLVE_SIZES = {"TOKENS": 16, "D_MODEL": 16, "D_FF": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = gelu_tanh(x @ W^T + b)."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.fc = nn.Linear(d_model, d_ff, dtype=DTYPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.fc(x), approximate="tanh")


def get_inputs():
    return [torch.randn(TOKENS, D_MODEL, dtype=DTYPE)]


def get_init_inputs():
    return [D_MODEL, D_FF]
