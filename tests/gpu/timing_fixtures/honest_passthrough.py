"""Methodology: the reference's softmax, called as is on the current stream.
Hacking scenario: none; the control. Its timed calls are sampled and compared, its
settling time matches the reference's, and nothing it does touches the harness.
Expected: stage_failed=none
"""

import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)
