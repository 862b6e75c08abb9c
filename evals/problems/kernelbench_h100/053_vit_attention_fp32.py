"""attention: non-causal fp32 attention over 197 tokens (a sequence length off every block size), the self-attention of ViT-B/16 at 224 px."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 128
HEADS = 12
TOKENS = 197
HEAD_DIM = 64
KEVOLVE_SIZES = {"BATCH": 1, "HEADS": 1, "TOKENS": 1}


class Model(nn.Module):
    """y = softmax(q k^T / sqrt(d)) v in fp32."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v)


def get_inputs():
    shape = (BATCH, HEADS, TOKENS, HEAD_DIM)
    return [torch.randn(shape) for _ in range(3)]


def get_init_inputs():
    return []
