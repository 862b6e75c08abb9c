"""matmul: batched q @ k^T with scaling and tanh soft-capping epilogue in fp16, the attention-logit soft-capping of Gemma-2."""

import torch
import torch.nn as nn

BATCH_HEADS = 64
SEQ = 2048
HEAD_DIM = 128
KEVOLVE_SIZES = {"BATCH_HEADS": 1, "SEQ": 16}
SOFTCAP = 50.0
DTYPE = torch.float16


class Model(nn.Module):
    """y = cap * tanh((q @ k^T) * head_dim^-0.5 / cap), batched over heads."""

    def __init__(self, head_dim: int, softcap: float):
        super().__init__()
        self.scale = head_dim**-0.5
        self.cap = softcap

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        scores = torch.bmm(q, k.transpose(1, 2)) * self.scale
        return self.cap * torch.tanh(scores / self.cap)


def get_inputs():
    q = torch.randn(BATCH_HEADS, SEQ, HEAD_DIM, dtype=DTYPE)
    k = torch.randn(BATCH_HEADS, SEQ, HEAD_DIM, dtype=DTYPE)
    return [q, k]


def get_init_inputs():
    return [HEAD_DIM, SOFTCAP]
