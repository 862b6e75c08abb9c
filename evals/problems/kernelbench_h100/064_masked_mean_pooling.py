"""fused: masked mean pooling of padded token embeddings by sequence length, the sentence embedding of Sentence-BERT."""

import torch
import torch.nn as nn

BATCH = 64
SEQ = 512
HIDDEN = 1024
KEVOLVE_SIZES = {"BATCH": 1, "SEQ": 1, "HIDDEN": 1}


class Model(nn.Module):
    """y[b] = sum_{s < len[b]} h[b, s] / max(len[b], 1)."""

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        mask = (positions[None, :] < lengths[:, None]).to(hidden.dtype)
        summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)
        return summed / lengths.clamp(min=1).unsqueeze(1).to(hidden.dtype)


def get_inputs():
    hidden = torch.randn(BATCH, SEQ, HIDDEN)
    lengths = torch.randint(1, SEQ + 1, (BATCH,))
    return [hidden, lengths]


def get_init_inputs():
    return []
