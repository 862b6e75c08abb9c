"""reduction: argmax over a 128k-token vocabulary, the greedy decoding step of LLaMA-3."""

import torch
import torch.nn as nn

TOKENS = 512
VOCAB = 128256
KEVOLVE_SIZES = {"TOKENS": 1, "VOCAB": 1}


class Model(nn.Module):
    """y = argmax(logits, dim=-1) (int64)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.argmax(logits, dim=-1)


def get_inputs():
    return [torch.randn(TOKENS, VOCAB)]


def get_init_inputs():
    return []
