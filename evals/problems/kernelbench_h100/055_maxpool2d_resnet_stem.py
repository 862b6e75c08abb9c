"""pooling: 3x3 stride-2 max pooling with padding 1 on NCHW, the stem pooling of ResNet-50."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 64
CHANNELS = 64
HEIGHT = 112
WIDTH = 112
KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": 1, "HEIGHT": 1, "WIDTH": 1}


class Model(nn.Module):
    """y = max_pool2d(x, kernel 3, stride 2, padding 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, HEIGHT, WIDTH)]


def get_init_inputs():
    return []
