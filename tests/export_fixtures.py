"""A hand-made finished run for the export tests (no optimization run needed)."""

from __future__ import annotations

import json
from pathlib import Path

from kevolve.runstore import RunInfo, RunStore
from tools.records import Candidate

PROBLEM = '''
import torch
import torch.nn as nn

class Model(nn.Module):
    """Scaled softmax over the last dim, with a learnable scale per column."""

    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, n))

    def forward(self, x):
        return torch.softmax(x, dim=-1) * self.scale

def get_inputs():
    return [torch.randn(6, 16)]

def get_init_inputs():
    return [16]
'''

KERNEL = '''
import torch
import torch.nn as nn

CALLS = [0]

class ModelNew(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n))

    def forward(self, x):
        CALLS[0] += 1
        e = (x - x.amax(dim=-1, keepdim=True)).exp()
        return e / e.sum(dim=-1, keepdim=True) * self.scale
'''


def make_run(runs_dir: Path, run_id: str = "scaled_softmax-20261207-000000-abcd",
             language: str = "cpp", source: str = KERNEL) -> str:
    store = RunStore(runs_dir)
    store.create(RunInfo(run_id=run_id, problem="scaled_softmax", target="cpu", budget=2,
                         status="finished"), PROBLEM)
    cand = Candidate(id="g00-01-aaaaaa", parent_ids=[], generation=0, language=language,
                     memory_mode="seed", source=source, transformation="exp/sum rewrite",
                     author="offline")
    store.save_candidate(run_id, cand)
    best = {"candidate_id": cand.id, "language": language, "correct": True,
            "runtime_ms": 0.01, "speedup_vs_eager": 1.2, "speedup_vs_compile": 1.1,
            "measured_on": "test CPU", "is_reference": False}
    store.write_text(run_id, "summary.json", json.dumps({"run_id": run_id, "status": "finished",
                                                          "best": best}))
    return run_id
