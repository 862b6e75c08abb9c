"""pointwise: SwiGLU gate silu(gate) * up in fp16, the activation of LLaMA/Mistral MLPs."""

import torch
import torch.nn as nn
import torch.nn.functional as F

TOKENS = 8192
INTERMEDIATE = 11008
KEVOLVE_SIZES = {"TOKENS": 1, "INTERMEDIATE": 1}
DTYPE = torch.float16


class Model(nn.Module):
    """y = silu(gate) * up, fp16 in and out."""

    def forward(self, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        return F.silu(gate) * up


def get_inputs():
    gate = torch.randn(TOKENS, INTERMEDIATE, dtype=DTYPE)
    up = torch.randn(TOKENS, INTERMEDIATE, dtype=DTYPE)
    return [gate, up]


def get_init_inputs():
    return []
