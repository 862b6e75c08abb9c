"""matmul: fp16 linear layer with bias and a clamp epilogue, the activation clipping of quantization-aware LLM layers."""

import torch
import torch.nn as nn

TOKENS = 8192
IN_FEATURES = 8192
OUT_FEATURES = 8192
KEVOLVE_SIZES = {"TOKENS": 16, "IN_FEATURES": 16, "OUT_FEATURES": 16}
CLIP = 2.0
DTYPE = torch.float16


class Model(nn.Module):
    """y = clamp(x @ W^T + b, -clip, clip)."""

    def __init__(self, in_features: int, out_features: int, clip: float):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, dtype=DTYPE)
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.fc(x), -self.clip, self.clip)


def get_inputs():
    return [torch.randn(TOKENS, IN_FEATURES, dtype=DTYPE)]


def get_init_inputs():
    return [IN_FEATURES, OUT_FEATURES, CLIP]
