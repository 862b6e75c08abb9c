"""norm: InstanceNorm2d with affine parameters, the normalisation of fast style-transfer networks (Johnson et al.)."""

import torch
import torch.nn as nn

BATCH = 16
CHANNELS = 64
HEIGHT = 256
WIDTH = 256
KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": 1, "HEIGHT": 2, "WIDTH": 2}
EPS = 1e-5


class Model(nn.Module):
    """y = InstanceNorm2d(channels, affine=True)(x): per (sample, channel) statistics."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, eps=eps, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, HEIGHT, WIDTH) * 3.0 + 1.0]


def get_init_inputs():
    return [CHANNELS, EPS]
