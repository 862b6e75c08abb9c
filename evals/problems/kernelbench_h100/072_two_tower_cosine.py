"""fused: row-wise cosine similarity of user and item tower embeddings then sigmoid, the scoring of a two-tower retrieval model (YouTube DNN)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

PAIRS = 1048576
DIM = 64
KEVOLVE_SIZES = {"PAIRS": 1, "DIM": 1}
TEMPERATURE = 0.05


class Model(nn.Module):
    """y = sigmoid(cosine_similarity(user, item) / temperature)."""

    def __init__(self, temperature: float):
        super().__init__()
        self.temperature = temperature

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(F.cosine_similarity(user, item, dim=-1) / self.temperature)


def get_inputs():
    return [torch.randn(PAIRS, DIM), torch.randn(PAIRS, DIM)]


def get_init_inputs():
    return [TEMPERATURE]
