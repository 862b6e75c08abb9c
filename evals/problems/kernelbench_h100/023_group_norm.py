"""norm: GroupNorm with 32 groups over NCHW feature maps, the normalisation of Stable Diffusion's UNet ResNet blocks."""

import torch
import torch.nn as nn

GROUPS = 32
BATCH = 32
CHANNELS = 320
HEIGHT = 64
WIDTH = 64
KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": GROUPS, "HEIGHT": 2, "WIDTH": 2}
EPS = 1e-5


class Model(nn.Module):
    """y = GroupNorm(groups, channels)(x) with affine weight and bias."""

    def __init__(self, groups: int, channels: int, eps: float):
        super().__init__()
        self.gn = nn.GroupNorm(groups, channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(x)


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, HEIGHT, WIDTH)]


def get_init_inputs():
    return [GROUPS, CHANNELS, EPS]
