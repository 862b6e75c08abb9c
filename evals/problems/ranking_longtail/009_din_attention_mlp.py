"""attention: DIN activation unit, a small MLP over [q, k, q - k, q * k] scores each history item against the candidate, masked by the drawn history length and sum-pooled without softmax (Zhou et al. 2018)."""

import torch
import torch.nn as nn

BATCH = 8192
HIST = 100
DIM = 32
HIDDEN = 64
KEVOLVE_SIZES = {"BATCH": 1, "HIST": 1}


class Model(nn.Module):
    """out[b] = sum_{t < len_b} a(q_b, k_bt) k_bt with a = Linear(sigmoid(Linear([q,k,q-k,q*k])))."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(4 * dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        q = query.unsqueeze(1).expand_as(keys)
        feats = torch.cat([q, keys, q - keys, q * keys], dim=-1)
        score = self.fc2(torch.sigmoid(self.fc1(feats))).squeeze(-1)  # (B, T)
        t = torch.arange(keys.shape[1], device=keys.device)
        mask = (t.unsqueeze(0) < lengths.unsqueeze(1)).to(score.dtype)
        return torch.einsum("bt,btd->bd", score * mask, keys)


def get_inputs():
    lengths = torch.randint(0, HIST + 1, (BATCH,), dtype=torch.int64)
    return [torch.randn(BATCH, DIM), torch.randn(BATCH, HIST, DIM), lengths]


def get_init_inputs():
    return [DIM, HIDDEN]
