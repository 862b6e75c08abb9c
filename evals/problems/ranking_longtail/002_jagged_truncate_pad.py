"""gather: jagged user sequences (lengths drawn per sample) truncated to the most recent MAX_LEN events and padded with zeros into a dense (B, MAX_LEN, D) tensor, the input step of sequence models in ranking."""

import torch
import torch.nn as nn

BATCH = 8192
MAX_LEN = 128
DIM = 128
KEVOLVE_SIZES = {"BATCH": 1, "MAX_LEN": 1}


class Model(nn.Module):
    """out[b, t] = values[offsets[b] + start_b + t] for t < min(len_b, MAX_LEN), else 0,
    where start_b = max(len_b - MAX_LEN, 0) keeps the most recent events."""

    def __init__(self, max_len: int):
        super().__init__()
        self.max_len = max_len

    def forward(self, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        offsets = torch.cumsum(lengths, 0) - lengths
        kept = lengths.clamp(max=self.max_len)
        start = offsets + lengths - kept
        t = torch.arange(self.max_len, device=values.device)
        valid = t.unsqueeze(0) < kept.unsqueeze(1)
        index = (start.unsqueeze(1) + t.unsqueeze(0)).clamp(max=values.shape[0] - 1)
        out = values[index]  # (B, MAX_LEN, D)
        return out * valid.unsqueeze(-1).to(values.dtype)


def get_inputs():
    lengths = torch.randint(0, 2 * MAX_LEN, (BATCH,), dtype=torch.int64)
    values = torch.randn(int(lengths.sum()) + 1, DIM)
    return [values, lengths]


def get_init_inputs():
    return [MAX_LEN]
