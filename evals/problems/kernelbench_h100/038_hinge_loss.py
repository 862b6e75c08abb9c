"""loss: one-vs-all multi-label hinge loss mean(relu(1 - y * score)) with labels in {-1, +1}, as in linear-SVM heads and the GAN hinge loss."""

import torch
import torch.nn as nn

BATCH = 16384
LABELS = 4096
KEVOLVE_SIZES = {"BATCH": 1, "LABELS": 1}


class Model(nn.Module):
    """y = mean(clamp(1 - labels * scores, min=0))."""

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.clamp(1.0 - labels * scores, min=0.0).mean()


def get_inputs():
    scores = torch.randn(BATCH, LABELS)
    labels = torch.randint(0, 2, (BATCH, LABELS)).float() * 2.0 - 1.0
    return [scores, labels]


def get_init_inputs():
    return []
