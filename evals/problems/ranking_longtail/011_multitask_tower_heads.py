"""matmul: eight multi-task tower heads (click, like, share, ... ) over one shared representation, each Linear -> ReLU -> Linear -> sigmoid, as a batched matmul over stacked tower weights (MMoE/PLE-style outputs)."""

import torch
import torch.nn as nn

BATCH = 32768
DIM = 512
HIDDEN = 256
TASKS = 8
KEVOLVE_SIZES = {"BATCH": 1, "DIM": 8, "HIDDEN": 8}


class Model(nn.Module):
    """p[b, t] = sigmoid(w2_t . relu(W1_t x_b + b1_t) + b2_t), for every task t."""

    def __init__(self, dim: int, hidden: int, tasks: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(tasks, dim, hidden) / dim**0.5)
        self.b1 = nn.Parameter(torch.zeros(tasks, 1, hidden))
        self.w2 = nn.Parameter(torch.randn(tasks, hidden, 1) / hidden**0.5)
        self.b2 = nn.Parameter(torch.zeros(tasks, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(torch.matmul(x.unsqueeze(0), self.w1) + self.b1)  # (T, B, H)
        logits = torch.bmm(h, self.w2) + self.b2  # (T, B, 1)
        return torch.sigmoid(logits.squeeze(-1).t())  # (B, T)


def get_inputs():
    return [torch.randn(BATCH, DIM)]


def get_init_inputs():
    return [DIM, HIDDEN, TASKS]
