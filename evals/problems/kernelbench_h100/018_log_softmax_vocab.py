"""softmax: log-softmax over a 32k vocabulary (rows longer than one block), the LM-head normalisation of LLaMA-2."""

import torch
import torch.nn as nn

TOKENS = 4096
VOCAB = 32000
KEVOLVE_SIZES = {"TOKENS": 1, "VOCAB": 1}


class Model(nn.Module):
    """y = log_softmax(logits, dim=-1)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits, dim=-1)


def get_inputs():
    return [torch.randn(TOKENS, VOCAB) * 3.0]


def get_init_inputs():
    return []
