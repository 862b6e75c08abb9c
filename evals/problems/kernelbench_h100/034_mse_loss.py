"""loss: mean squared error over every element, the regression loss of a diffusion model's noise prediction."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 8192
FEATURES = 4096
KEVOLVE_SIZES = {"BATCH": 1, "FEATURES": 1}


class Model(nn.Module):
    """y = mean((pred - target)^2) (a 0-dim tensor)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target)


def get_inputs():
    return [torch.randn(BATCH, FEATURES), torch.randn(BATCH, FEATURES)]


def get_init_inputs():
    return []
