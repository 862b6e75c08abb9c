"""loss: pairwise (RankNet) logistic loss over sampled item pairs gathered from each request's scores, counted only where the first item's label beats the second's, the listwise training objective of learning-to-rank."""

import torch
import torch.nn as nn
import torch.nn.functional as F

REQUESTS = 16384
ITEMS = 256
PAIRS = 512
KEVOLVE_SIZES = {"REQUESTS": 1, "ITEMS": 1, "PAIRS": 1}


class Model(nn.Module):
    """loss = mean over pairs (i, j) with label_i > label_j of softplus(s_j - s_i)."""

    def forward(
        self, scores: torch.Tensor, labels: torch.Tensor, pairs: torch.Tensor
    ) -> torch.Tensor:
        s_i = torch.gather(scores, 1, pairs[..., 0])
        s_j = torch.gather(scores, 1, pairs[..., 1])
        better = torch.gather(labels, 1, pairs[..., 0]) > torch.gather(labels, 1, pairs[..., 1])
        per_pair = F.softplus(s_j - s_i) * better.to(scores.dtype)
        return per_pair.sum() / better.sum().clamp_min(1).to(scores.dtype)


def get_inputs():
    scores = torch.randn(REQUESTS, ITEMS)
    labels = torch.randint(0, 5, (REQUESTS, ITEMS), dtype=torch.int64)
    pairs = torch.randint(0, ITEMS, (REQUESTS, PAIRS, 2), dtype=torch.int64)
    return [scores, labels, pairs]


def get_init_inputs():
    return []
