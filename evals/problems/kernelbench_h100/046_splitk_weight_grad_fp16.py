"""matmul: tall-skinny dY^T @ X over half a million tokens (K >> M, N; needs split-K), the weight gradient of a small projection such as a LoRA adapter."""

import torch
import torch.nn as nn

TOKENS = 524288
OUT_FEATURES = 256
IN_FEATURES = 256
KEVOLVE_SIZES = {"TOKENS": 16, "OUT_FEATURES": 16, "IN_FEATURES": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = grad_out^T @ x: (out, tokens) @ (tokens, in)."""

    def forward(self, grad_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return grad_out.t() @ x


def get_inputs():
    grad_out = torch.randn(TOKENS, OUT_FEATURES, dtype=DTYPE) * 0.05
    x = torch.randn(TOKENS, IN_FEATURES, dtype=DTYPE) * 0.05
    return [grad_out, x]


def get_init_inputs():
    return []
