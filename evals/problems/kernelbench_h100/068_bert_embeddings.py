"""gather: word + position + token-type embedding lookups summed then LayerNorm, the embedding layer of BERT-base."""

import torch
import torch.nn as nn

BATCH = 64
SEQ = 512
VOCAB = 30522
HIDDEN = 768
TYPES = 2
KEVOLVE_SIZES = {"BATCH": 1, "SEQ": 1, "VOCAB": 1, "HIDDEN": 1}
EPS = 1e-12


class Model(nn.Module):
    """y = LayerNorm(word[ids] + position[arange(seq)] + token_type[types])."""

    def __init__(self, vocab: int, max_positions: int, types: int, hidden: int, eps: float):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.token_type = nn.Embedding(types, hidden)
        self.ln = nn.LayerNorm(hidden, eps=eps)

    def forward(self, ids: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.word(ids) + self.position(positions)[None] + self.token_type(types)
        return self.ln(h)


def get_inputs():
    ids = torch.randint(0, VOCAB, (BATCH, SEQ))
    types = torch.randint(0, TYPES, (BATCH, SEQ))
    return [ids, types]


def get_init_inputs():
    return [VOCAB, SEQ, TYPES, HIDDEN, EPS]
