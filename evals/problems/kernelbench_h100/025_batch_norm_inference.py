"""norm: inference batch norm with running statistics on NCHW activations, as in ResNet-50 served in eval mode."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 64
CHANNELS = 256
HEIGHT = 56
WIDTH = 56
KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": 1, "HEIGHT": 1, "WIDTH": 1}
EPS = 1e-5


class Model(nn.Module):
    """y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", 0.1 * torch.randn(channels))
        self.register_buffer("running_var", 0.5 + torch.rand(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            training=False, eps=self.eps,
        )


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, HEIGHT, WIDTH)]


def get_init_inputs():
    return [CHANNELS, EPS]
