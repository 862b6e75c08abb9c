"""softmax: softmax over the last dim of (batch, heads, query, key) attention scores, as in unfused GPT-2/BERT attention."""

import torch
import torch.nn as nn

BATCH = 4
HEADS = 16
SEQ = 1024
KEVOLVE_SIZES = {"BATCH": 1, "HEADS": 1, "SEQ": 1}


class Model(nn.Module):
    """y = softmax(scores, dim=-1)."""

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.softmax(scores, dim=-1)


def get_inputs():
    return [torch.randn(BATCH, HEADS, SEQ, SEQ)]


def get_init_inputs():
    return []
