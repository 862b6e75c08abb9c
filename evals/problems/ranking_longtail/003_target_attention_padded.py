"""attention: target attention of a candidate item over a padded user history (lengths drawn per sample, one row in eight empty), masked softmax with empty rows giving zeros, the user-interest module of DIN/BST-style ranking models."""

import math

import torch
import torch.nn as nn

BATCH = 16384
HIST = 200
DIM = 64
KEVOLVE_SIZES = {"BATCH": 1, "HIST": 1}


class Model(nn.Module):
    """out[b] = sum_t softmax_t(q[b] . k[b, t] / sqrt(D), t < len_b) v[b, t]; 0 when len_b = 0."""

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        scores = torch.einsum("bd,btd->bt", query, keys) / math.sqrt(query.shape[-1])
        t = torch.arange(keys.shape[1], device=keys.device)
        mask = t.unsqueeze(0) < lengths.unsqueeze(1)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        weights = torch.where(mask, weights, torch.zeros_like(weights))
        return torch.einsum("bt,btd->bd", weights, values)


def get_inputs():
    lengths = torch.randint(1, HIST + 1, (BATCH,), dtype=torch.int64)
    lengths[::8] = 0
    return [
        torch.randn(BATCH, DIM),
        torch.randn(BATCH, HIST, DIM),
        torch.randn(BATCH, HIST, DIM),
        lengths,
    ]


def get_init_inputs():
    return []
