"""fused: MoE router softmax, top-2 selection, renormalisation and scatter to dense gates, the token router of Mixtral/DeepSeek-MoE."""

import torch
import torch.nn as nn

TOKENS = 262144
EXPERTS = 64
KEVOLVE_SIZES = {"TOKENS": 1}
TOP_K = 2


class Model(nn.Module):
    """gates = zeros.scatter(topk indices of softmax(logits), renormalised topk weights)."""

    def __init__(self, top_k: int):
        super().__init__()
        self.top_k = top_k

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits, dim=-1)
        weights, idx = torch.topk(probs, self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        return torch.zeros_like(probs).scatter(-1, idx, weights)


def get_inputs():
    return [torch.randn(TOKENS, EXPERTS) * 2.0]


def get_init_inputs():
    return [TOP_K]
