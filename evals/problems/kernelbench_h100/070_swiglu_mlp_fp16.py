"""fused: the two fp16 GEMMs of a SwiGLU MLP with the gate fused, silu(x W_g^T) * (x W_u^T), the up-projection of LLaMA-7B."""

import torch
import torch.nn as nn
import torch.nn.functional as F

TOKENS = 4096
D_MODEL = 4096
D_FF = 11008
KEVOLVE_SIZES = {"TOKENS": 16, "D_MODEL": 16, "D_FF": 16}
DTYPE = torch.float16


class Model(nn.Module):
    """y = silu(gate_proj(x)) * up_proj(x)."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False, dtype=DTYPE)
        self.up_proj = nn.Linear(d_model, d_ff, bias=False, dtype=DTYPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.gate_proj(x)) * self.up_proj(x)


def get_inputs():
    return [torch.randn(TOKENS, D_MODEL, dtype=DTYPE)]


def get_init_inputs():
    return [D_MODEL, D_FF]
