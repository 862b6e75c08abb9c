"""attention: causal grouped-query attention (32 query heads sharing 8 KV heads) in fp16, the prefill attention of LLaMA-3-8B."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 2
SEQ = 4096
Q_HEADS = 32
KV_HEADS = 8
HEAD_DIM = 128
KEVOLVE_SIZES = {"BATCH": 1, "SEQ": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """KV heads repeated to the query heads, then causal scaled-dot-product attention."""

    def __init__(self, q_heads: int, kv_heads: int):
        super().__init__()
        self.groups = q_heads // kv_heads

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        k = torch.repeat_interleave(k, self.groups, dim=1)
        v = torch.repeat_interleave(v, self.groups, dim=1)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def get_inputs():
    q = torch.randn(BATCH, Q_HEADS, SEQ, HEAD_DIM, dtype=DTYPE)
    k = torch.randn(BATCH, KV_HEADS, SEQ, HEAD_DIM, dtype=DTYPE)
    v = torch.randn(BATCH, KV_HEADS, SEQ, HEAD_DIM, dtype=DTYPE)
    return [q, k, v]


def get_init_inputs():
    return [Q_HEADS, KV_HEADS]
