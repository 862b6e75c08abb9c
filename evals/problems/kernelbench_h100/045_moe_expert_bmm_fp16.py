"""matmul: batched per-expert GEMM with per-expert bias and GELU in fp16, the expert FFN of a Switch-Transformer MoE layer at fixed capacity."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPERTS = 8
CAPACITY = 4096
D_MODEL = 4096
D_FF = 4096
KEVOLVE_SIZES = {"EXPERTS": 1, "CAPACITY": 16, "D_MODEL": 16, "D_FF": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y[e] = gelu(x[e] @ W[e] + b[e]) for every expert e."""

    def __init__(self, experts: int, d_model: int, d_ff: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(experts, d_model, d_ff, dtype=DTYPE) * d_model**-0.5)
        self.bias = nn.Parameter(torch.randn(experts, 1, d_ff, dtype=DTYPE) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(torch.bmm(x, self.weight) + self.bias)


def get_inputs():
    return [torch.randn(EXPERTS, CAPACITY, D_MODEL, dtype=DTYPE)]


def get_init_inputs():
    return [EXPERTS, D_MODEL, D_FF]
