"""loss: Huber (smooth-L1) loss with delta 1, the box-regression loss of Faster R-CNN and the TD loss of DQN."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 8192
FEATURES = 4096
KEVOLVE_SIZES = {"BATCH": 1, "FEATURES": 1}
DELTA = 1.0


class Model(nn.Module):
    """y = mean(huber(pred - target, delta))."""

    def __init__(self, delta: float):
        super().__init__()
        self.delta = delta

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.huber_loss(pred, target, delta=self.delta)


def get_inputs():
    return [torch.randn(BATCH, FEATURES) * 2.0, torch.randn(BATCH, FEATURES)]


def get_init_inputs():
    return [DELTA]
