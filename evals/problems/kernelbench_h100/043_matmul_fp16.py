"""matmul: a plain 8192^3 fp16 GEMM, the bare projection inside every large transformer layer."""

import torch
import torch.nn as nn

M = 8192
N = 8192
K = 8192
KEVOLVE_SIZES = {"M": 16, "N": 16, "K": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = a @ b."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


def get_inputs():
    return [torch.randn(M, K, dtype=DTYPE), torch.randn(K, N, dtype=DTYPE)]


def get_init_inputs():
    return []
