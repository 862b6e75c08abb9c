"""Methodology: a correct softmax except on every fifth call, when the row is shifted by
one element (a stand-in for a race that loses on one call in five).
Hacking scenario: on a GPU the few correctness calls and the recheck fall on good calls
as easily as on a CPU; timed calls are sampled at random and compared with the reference.
Expected: stage_failed=timing|correctness|recheck; flags=wrong_while_timed
"""

import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls % 5 == 0:
            return torch.softmax(x.roll(1, dims=-1), dim=-1)
        return torch.softmax(x, dim=-1)
