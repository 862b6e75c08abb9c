"""softmax: scale, additive causal mask and softmax in one, the fused scale-mask-softmax of GPT-2/Megatron attention."""

import torch
import torch.nn as nn

BATCH = 4
HEADS = 16
SEQ = 1024
KEVOLVE_SIZES = {"BATCH": 1, "HEADS": 1, "SEQ": 1}
HEAD_DIM = 64


class Model(nn.Module):
    """y = softmax(scores / sqrt(head_dim) + mask, dim=-1); mask is (seq, seq), 0 or -1e4."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.scale = head_dim**-0.5

    def forward(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores * self.scale + mask, dim=-1)


def get_inputs():
    scores = torch.randn(BATCH, HEADS, SEQ, SEQ) * 4.0
    mask = torch.triu(torch.full((SEQ, SEQ), -1e4), diagonal=1)
    return [scores, mask]


def get_init_inputs():
    return [HEAD_DIM]
