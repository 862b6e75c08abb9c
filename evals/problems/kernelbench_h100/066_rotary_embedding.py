"""fused: rotary position embedding q * cos + rotate_half(q) * sin, applied to the queries of LLaMA attention."""

import torch
import torch.nn as nn

BATCH = 4
HEADS = 32
SEQ = 2048
HEAD_DIM = 128
KEVOLVE_SIZES = {"BATCH": 1, "HEADS": 1, "SEQ": 1}
THETA = 10000.0


class Model(nn.Module):
    """y = x * cos + cat(-x2, x1) * sin, with cos/sin tables for seq positions."""

    def __init__(self, seq: int, head_dim: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
        angles = torch.outer(torch.arange(seq).float(), inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("cos", angles.cos())
        self.register_buffer("sin", angles.sin())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos + rotated * self.sin


def get_inputs():
    return [torch.randn(BATCH, HEADS, SEQ, HEAD_DIM)]


def get_init_inputs():
    return [SEQ, HEAD_DIM, THETA]
