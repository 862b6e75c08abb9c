"""loss: temperature-scaled KL divergence between student and teacher softmaxes, the knowledge-distillation loss of DistilBERT/Hinton et al."""

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 32768
CLASSES = 1000
KEVOLVE_SIZES = {"BATCH": 1, "CLASSES": 1}
TEMPERATURE = 2.0


class Model(nn.Module):
    """y = T^2 * KL(softmax(teacher / T) || softmax(student / T)), batch mean."""

    def __init__(self, temperature: float):
        super().__init__()
        self.t = temperature

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(student / self.t, dim=-1)
        log_q = F.log_softmax(teacher / self.t, dim=-1)
        return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * self.t**2


def get_inputs():
    return [torch.randn(BATCH, CLASSES) * 3.0, torch.randn(BATCH, CLASSES) * 3.0]


def get_init_inputs():
    return [TEMPERATURE]
