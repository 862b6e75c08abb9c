"""gather: log-softmax over a 32k vocabulary then gather of the chosen token's log-prob, the per-token log-probabilities of PPO/RLHF training."""

import torch
import torch.nn as nn

TOKENS = 4096
VOCAB = 32000
KEVOLVE_SIZES = {"TOKENS": 1, "VOCAB": 1}


class Model(nn.Module):
    """y[t] = log_softmax(logits[t])[labels[t]]."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(logits, dim=-1)
        return torch.gather(logp, -1, labels.unsqueeze(-1)).squeeze(-1)


def get_inputs():
    return [torch.randn(TOKENS, VOCAB) * 2.0, torch.randint(0, VOCAB, (TOKENS,))]


def get_init_inputs():
    return []
