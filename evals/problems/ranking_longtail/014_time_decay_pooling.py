"""reduction: time-decayed pooling of a padded user history, each event weighted by exp(-age / tau) with the drawn history length masking the padding, normalised by the total weight (zero for empty histories)."""

import torch
import torch.nn as nn

BATCH = 16384
HIST = 256
DIM = 64
KEVOLVE_SIZES = {"BATCH": 1, "HIST": 1}


class Model(nn.Module):
    """out[b] = sum_t w_bt e_bt / max(sum_t w_bt, 1e-6), w_bt = exp(-age_bt / tau) [t < len_b]."""

    def __init__(self, tau: float):
        super().__init__()
        self.tau = tau

    def forward(self, events: torch.Tensor, ages: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = torch.arange(events.shape[1], device=events.device)
        mask = t.unsqueeze(0) < lengths.unsqueeze(1)
        w = torch.exp(-ages / self.tau) * mask.to(events.dtype)
        total = w.sum(dim=1, keepdim=True).clamp_min(1e-6)
        return (w.unsqueeze(-1) * events).sum(dim=1) / total


def get_inputs():
    lengths = torch.randint(0, HIST + 1, (BATCH,), dtype=torch.int64)
    ages = torch.rand(BATCH, HIST) * 30.0
    return [torch.randn(BATCH, HIST, DIM), ages, lengths]


def get_init_inputs():
    return [7.0]
