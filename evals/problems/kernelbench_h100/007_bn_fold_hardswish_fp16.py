"""pointwise: folded batch-norm scale/shift per channel then hardswish in fp16, the conv epilogue of MobileNetV3."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 64
CHANNELS = 96
HEIGHT = 112
WIDTH = 112
KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": 1, "HEIGHT": 1, "WIDTH": 1}
DTYPE = torch.float16


class Model(nn.Module):
    """y = hardswish(x * scale[c] + shift[c]) on NCHW fp16."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(1.0 + 0.1 * torch.randn(channels, 1, 1, dtype=DTYPE))
        self.shift = nn.Parameter(0.1 * torch.randn(channels, 1, 1, dtype=DTYPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardswish(x * self.scale + self.shift)


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, HEIGHT, WIDTH, dtype=DTYPE)]


def get_init_inputs():
    return [CHANNELS]
