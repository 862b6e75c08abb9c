"""loss: token-level cross-entropy over a 32k vocabulary with ignored padding targets, the language-modelling loss of LLaMA-2 pretraining."""

import torch
import torch.nn as nn
import torch.nn.functional as F

TOKENS = 4096
VOCAB = 32000
KEVOLVE_SIZES = {"TOKENS": 1, "VOCAB": 1}
IGNORE_INDEX = -100


class Model(nn.Module):
    """y = cross_entropy(logits, targets, ignore_index=-100), mean over the kept tokens."""

    def __init__(self, ignore_index: int):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, ignore_index=self.ignore_index)


def get_inputs():
    logits = torch.randn(TOKENS, VOCAB) * 2.0
    targets = torch.randint(0, VOCAB, (TOKENS,))
    targets[3::7] = IGNORE_INDEX
    return [logits, targets]


def get_init_inputs():
    return [IGNORE_INDEX]
