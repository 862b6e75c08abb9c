"""pooling: (1,3,3) stride (1,2,2) max pooling over NCTHW video features, the spatial stem pooling of I3D."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 4
CHANNELS = 64
FRAMES = 16
HEIGHT = 112
WIDTH = 112
KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": 1, "FRAMES": 1, "HEIGHT": 1, "WIDTH": 1}


class Model(nn.Module):
    """y = max_pool3d(x, kernel (1,3,3), stride (1,2,2), padding (0,1,1))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(x, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, FRAMES, HEIGHT, WIDTH)]


def get_init_inputs():
    return []
