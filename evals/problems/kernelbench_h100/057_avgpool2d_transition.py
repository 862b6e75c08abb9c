"""pooling: 2x2 stride-2 average pooling on NCHW, the transition layer of DenseNet-121."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 64
CHANNELS = 256
HEIGHT = 56
WIDTH = 56
KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": 1, "HEIGHT": 2, "WIDTH": 2}


class Model(nn.Module):
    """y = avg_pool2d(x, kernel 2, stride 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=2, stride=2)


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, HEIGHT, WIDTH)]


def get_init_inputs():
    return []
