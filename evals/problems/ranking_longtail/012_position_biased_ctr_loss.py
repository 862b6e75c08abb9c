"""loss: position-debiased CTR loss, binary cross-entropy with logits where each impression's logit gets the learned bias of the slot it was shown in (PAL-style position modelling), averaged over impressions."""

import torch
import torch.nn as nn
import torch.nn.functional as F

IMPRESSIONS = 4194304
POSITIONS = 50
KEVOLVE_SIZES = {"IMPRESSIONS": 1}


class Model(nn.Module):
    """loss = mean BCEWithLogits(logit + position_bias[pos], click)."""

    def __init__(self, positions: int):
        super().__init__()
        self.position_bias = nn.Parameter(-torch.linspace(0.0, 2.0, positions))

    def forward(
        self, logits: torch.Tensor, positions: torch.Tensor, clicks: torch.Tensor
    ) -> torch.Tensor:
        biased = logits + self.position_bias[positions]
        return F.binary_cross_entropy_with_logits(biased, clicks)


def get_inputs():
    logits = torch.randn(IMPRESSIONS)
    positions = torch.randint(0, POSITIONS, (IMPRESSIONS,), dtype=torch.int64)
    clicks = (torch.rand(IMPRESSIONS) < 0.1).float()
    return [logits, positions, clicks]


def get_init_inputs():
    return [POSITIONS]
