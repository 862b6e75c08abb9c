"""reduction: jagged sum pooling, the rows of a values tensor summed per sample over segments whose lengths are drawn per call (zero-length segments give zeros), the pooling of multi-hot feature lists in ranking models."""

import torch
import torch.nn as nn

BATCH = 32768
MEAN_LEN = 40
DIM = 128
KEVOLVE_SIZES = {"BATCH": 1, "MEAN_LEN": 1}


class Model(nn.Module):
    """out[b] = sum of values[offsets[b] : offsets[b] + lengths[b]]."""

    def forward(self, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        segment = torch.repeat_interleave(
            torch.arange(lengths.shape[0], device=values.device), lengths,
            output_size=values.shape[0],
        )
        out = torch.zeros(lengths.shape[0], values.shape[1], dtype=values.dtype, device=values.device)
        return out.index_add_(0, segment, values)


def get_inputs():
    lengths = torch.randint(0, 2 * MEAN_LEN + 1, (BATCH,), dtype=torch.int64)
    values = torch.randn(int(lengths.sum()), DIM)
    return [values, lengths]


def get_init_inputs():
    return []
