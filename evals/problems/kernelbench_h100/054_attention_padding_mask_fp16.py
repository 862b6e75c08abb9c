"""attention: fp16 attention with a boolean key-padding mask from per-sequence lengths, the encoder attention of a padded BERT/T5 batch."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 16
HEADS = 16
SEQ = 1024
HEAD_DIM = 64
KEVOLVE_SIZES = {"BATCH": 1, "HEADS": 1, "SEQ": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = softmax(q k^T / sqrt(d) masked where keep is False) v; keep is (batch, 1, 1, seq)."""

    def forward(self, q, k, v, keep: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)


def get_inputs():
    shape = (BATCH, HEADS, SEQ, HEAD_DIM)
    q, k, v = (torch.randn(shape, dtype=DTYPE) for _ in range(3))
    lengths = torch.randint(1, SEQ + 1, (BATCH,))
    keep = (torch.arange(SEQ)[None, :] < lengths[:, None]).view(BATCH, 1, 1, SEQ)
    return [q, k, v, keep]


def get_init_inputs():
    return []
