"""softmax: softmax over the channel dim (dim 1) of NCHW class logits, the per-pixel class probabilities of a Cityscapes segmentation net."""

import torch
import torch.nn as nn

BATCH = 16
CLASSES = 19
HEIGHT = 512
WIDTH = 512
KEVOLVE_SIZES = {"BATCH": 1, "HEIGHT": 1, "WIDTH": 1}


class Model(nn.Module):
    """y = softmax(x, dim=1): a reduction across a strided dim."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=1)


def get_inputs():
    return [torch.randn(BATCH, CLASSES, HEIGHT, WIDTH)]


def get_init_inputs():
    return []
