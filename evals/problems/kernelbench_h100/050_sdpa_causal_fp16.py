"""attention: causal scaled-dot-product attention in fp16 with head dim 128, the prefill attention of LLaMA-2-7B."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 4
HEADS = 32
SEQ = 2048
HEAD_DIM = 128
KEVOLVE_SIZES = {"BATCH": 1, "HEADS": 1, "SEQ": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = softmax(q k^T / sqrt(d) + causal mask) v."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def get_inputs():
    shape = (BATCH, HEADS, SEQ, HEAD_DIM)
    return [torch.randn(shape, dtype=DTYPE) for _ in range(3)]


def get_init_inputs():
    return []
