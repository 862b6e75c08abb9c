"""attention: non-causal attention written out (q k^T, scale, softmax, @ v) in fp16, the self-attention of BERT-large as written in HF Transformers."""

import torch
import torch.nn as nn

BATCH = 8
HEADS = 16
SEQ = 1024
HEAD_DIM = 64
KEVOLVE_SIZES = {"BATCH": 1, "HEADS": 1, "SEQ": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = softmax(q @ k^T * d^-0.5, dim=-1) @ v, every step in fp16 as eager runs it."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.scale = head_dim**-0.5

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        return torch.matmul(torch.softmax(scores, dim=-1), v)


def get_inputs():
    shape = (BATCH, HEADS, SEQ, HEAD_DIM)
    return [torch.randn(shape, dtype=DTYPE) for _ in range(3)]


def get_init_inputs():
    return [HEAD_DIM]
