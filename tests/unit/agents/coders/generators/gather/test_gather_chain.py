"""The gather-chain generator and resized literals, on small problems of their own kinds.

Each problem below is written here (ops of the ranking long tail's kinds, not copies of the
suite): candidates are rendered at the problem's size and run under the Triton interpreter
(one subprocess) at the evaluator's irregular size, where sizes and ``__init__`` arguments
differ, against the reference built at that size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.coders.generators.gather import GatherChainCoder, analyze_gather_chain
from agents.coders.generators.gather.coder import render
from agents.coders.generators.pointwise import HybridCoder
from agents.coders.routes import ROUTES
from tools.errors import ProblemError
from tools.evaluator.shapes import irregular_variant
from tools.hardware import load_target
from tools.problems.loader import load_problem_file
from tools.records import Problem

HARNESS = Path(__file__).resolve().parent / "harness.py"

_HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"

PROBLEMS = {
    # hashed ids into a table whose size is an __init__ argument; padded ids skipped; mean
    "hash_bag_mean": '''
ROWS_N = 37
SLOTS = 6
TABLE = 101
WIDTH = 8
KEVOLVE_SIZES = {"ROWS_N": 1, "SLOTS": 1, "TABLE": 1}


class Model(nn.Module):
    def __init__(self, table: int, width: int):
        super().__init__()
        self.table_size = table
        self.emb = nn.Parameter(torch.randn(table, width))

    def forward(self, ids):
        keep = (ids >= 0).to(torch.float32)
        slot = torch.remainder(ids.clamp_min(0) * 40503 + 7, self.table_size)
        rows = self.emb[slot] * keep.unsqueeze(-1)
        return rows.sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp_min(1.0)


def get_inputs():
    ids = torch.randint(0, 2**33, (ROWS_N, SLOTS), dtype=torch.int64)
    return [ids.masked_fill(torch.rand(ROWS_N, SLOTS) < 0.3, -1)]


def get_init_inputs():
    return [TABLE, WIDTH]
''',
    # jagged rows (offsets from a cumsum the library keeps) left-aligned into a padded block
    "jagged_head_pad": '''
SEQS = 9
KEEP = 5
FEAT = 4
KEVOLVE_SIZES = {"SEQS": 1, "KEEP": 1}


class Model(nn.Module):
    def __init__(self, keep: int):
        super().__init__()
        self.keep = keep

    def forward(self, flat, counts):
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(self.keep, device=flat.device)
        inside = pos.unsqueeze(0) < counts.unsqueeze(1)
        where = (starts.unsqueeze(1) + pos.unsqueeze(0)).clamp(max=flat.shape[0] - 1)
        return torch.where(inside.unsqueeze(-1), torch.tanh(flat[where]), torch.zeros(()))


def get_inputs():
    counts = torch.randint(0, 2 * KEEP, (SEQS,), dtype=torch.int64)
    return [torch.randn(int(counts.sum()) + 1, FEAT), counts]


def get_init_inputs():
    return [KEEP]
''',
    # masked softmax over a padded history, then a weighted pooling through a matmul
    "masked_softmax_pool": '''
USERS = 6
EVENTS = 7
WIDTH = 5
KEVOLVE_SIZES = {"USERS": 1, "EVENTS": 1}


class Model(nn.Module):
    def forward(self, logits, hist, lengths):
        t = torch.arange(logits.shape[1], device=logits.device)
        valid = t.unsqueeze(0) < lengths.unsqueeze(1)
        w = torch.softmax(logits.masked_fill(~valid, float("-inf")), dim=-1)
        w = torch.where(valid, w, torch.zeros_like(w))
        return torch.bmm(w.unsqueeze(1), hist).squeeze(1) * 0.5


def get_inputs():
    lengths = torch.randint(0, EVENTS + 1, (USERS,), dtype=torch.int64)
    lengths[0] = 0
    return [torch.randn(USERS, EVENTS), torch.randn(USERS, EVENTS, WIDTH), lengths]


def get_init_inputs():
    return []
''',
    # a gathered pairwise hinge-style loss: whole-tensor sums over gathered pairs
    "pair_loss": '''
LISTS = 5
ITEMS = 9
PAIRS = 11
KEVOLVE_SIZES = {"LISTS": 1, "ITEMS": 1, "PAIRS": 1}


class Model(nn.Module):
    def forward(self, scores, grades, left, right):
        a = torch.gather(scores, 1, left)
        b = torch.gather(scores, 1, right)
        ordered = torch.gather(grades, 1, left) < torch.gather(grades, 1, right)
        loss = F.logsigmoid(b - a).neg() * ordered.to(scores.dtype)
        return loss.sum() / ordered.sum().clamp_min(1).to(scores.dtype)


def get_inputs():
    return [
        torch.randn(LISTS, ITEMS),
        torch.randint(0, 3, (LISTS, ITEMS)),
        torch.randint(0, ITEMS, (LISTS, PAIRS)),
        torch.randint(0, ITEMS, (LISTS, PAIRS)),
    ]


def get_init_inputs():
    return []
''',
    # weighted BCE-with-logits with a per-slot bias looked up by index, then the mean
    "weighted_bce": '''
EVENTS = 53
SLOTS = 6
KEVOLVE_SIZES = {"EVENTS": 1}


class Model(nn.Module):
    def __init__(self, slots: int):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(slots))

    def forward(self, logits, slot, target, weight):
        z = logits + self.bias[slot]
        return F.binary_cross_entropy_with_logits(z, target, weight=weight)


def get_inputs():
    return [
        torch.randn(EVENTS),
        torch.randint(-SLOTS, SLOTS, (EVENTS,)),
        (torch.rand(EVENTS) < 0.3).float(),
        torch.rand(EVENTS),
    ]


def get_init_inputs():
    return [SLOTS]
''',
}

SCATTER_PROBLEMS = {
    # per-row scores written back to the top-k slots a library sort picked (zeros elsewhere)
    "topk_writeback": '''
ROWS_N = 7
COLS = 13
PICK = 4
KEVOLVE_SIZES = {"ROWS_N": 1, "COLS": 1}


class Model(nn.Module):
    def __init__(self, pick: int):
        super().__init__()
        self.pick = pick

    def forward(self, x):
        top = torch.topk(x, self.pick, dim=1)
        return torch.zeros_like(x).scatter(1, top.indices, torch.log_softmax(top.values, dim=1))


def get_inputs():
    return [torch.randn(ROWS_N, COLS)]


def get_init_inputs():
    return [PICK]
''',
    # segment sums of a jagged batch (segment ids from lengths), scaled on the way in
    "segment_sum": '''
SEGS = 6
AVG = 3
WIDTH = 5
KEVOLVE_SIZES = {"SEGS": 1, "AVG": 1}


class Model(nn.Module):
    def forward(self, values, lengths):
        seg = torch.repeat_interleave(
            torch.arange(lengths.shape[0]), lengths, output_size=values.shape[0]
        )
        out = torch.zeros(lengths.shape[0], values.shape[1])
        return out.index_add_(0, seg, torch.sigmoid(values) * 2.0)


def get_inputs():
    lengths = torch.randint(0, 2 * AVG + 1, (SEGS,))
    return [torch.randn(int(lengths.sum()), WIDTH), lengths]


def get_init_inputs():
    return []
''',
}
"""Results written through an index (``scatter``, ``index_add_``): a kernel writes the base,
a second stores (or atomically adds) each source element at its index."""

HYBRID_PROBLEM = '''
KEYS = 21
SLOTS = 4
ROWS = 97
WIDTH = 8
KEVOLVE_SIZES = {"KEYS": 1, "ROWS": 1}


class Model(nn.Module):
    def __init__(self, rows: int, width: int):
        super().__init__()
        self.rows = rows
        self.table = nn.Parameter(torch.randn(rows, width))

    def forward(self, keys):
        a = self.table[torch.remainder(keys * 2654435761, self.rows)]
        b = self.table[torch.remainder(keys * 40503 + 1, self.rows)]
        return torch.relu(a + b) * 0.5


def get_inputs():
    return [torch.randint(0, 2**40, (KEYS, SLOTS), dtype=torch.int64)]


def get_init_inputs():
    return [ROWS, WIDTH]
'''


def _problem(name: str, body: str, tmp_path: Path) -> Problem:
    path = tmp_path / f"{name}.py"
    path.write_text(f'"""gather: {name}."""\n' + _HEAD + body)
    return load_problem_file(path)


def _run(cases: list[dict]) -> dict:
    file = Path(cases[0]["dir"]) / "cases.json"
    file.write_text(json.dumps(cases))
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run(
        [sys.executable, str(HARNESS), str(file)], capture_output=True, text=True, env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_gather_chain_is_routed_for_references():
    assert "triton-gatherchain" in ROUTES["graph"]


def test_candidates_are_correct_at_the_irregular_size(tmp_path):
    """Every problem is lowered, and its candidate (rendered at the problem's own size) is
    correct at the evaluator's irregular size, where the table size and the padded length
    passed to ``__init__`` also change."""
    target = load_target("h100")
    coder = GatherChainCoder()
    cases = []
    for name, body in {**PROBLEMS, **SCATTER_PROBLEMS}.items():
        problem = _problem(name, body, tmp_path)
        assert coder.supports(problem, target), analyze_gather_chain.__doc__
        draft = coder.seed(problem, target)[0]
        variant = irregular_variant(problem)
        assert variant is not None
        cases.append({"name": name, "reference": variant.source, "candidate": draft.source,
                      "dir": str(tmp_path)})
        # and at its own size
        cases.append({"name": name + "@own", "reference": problem.source,
                      "candidate": render(problem, {"BLOCK": 64, "num_warps": 2}),
                      "dir": str(tmp_path)})
    errors = _run(cases)
    bad = {k: v for k, v in errors.items() if not isinstance(v, float) or v > 1e-4}
    assert not bad, bad


def test_a_literal_that_changes_with_the_size_and_matches_nothing_is_declined(tmp_path):
    body = PROBLEMS["hash_bag_mean"].replace("self.table_size)", "TABLE - 2)")
    problem = _problem("module_constant", body, tmp_path)
    with pytest.raises(ProblemError, match="changes with the problem's size"):
        analyze_gather_chain(problem)
    assert not GatherChainCoder().supports(problem, load_target("h100"))


def test_hybrid_head_reads_a_resized_table_size_from_the_model(tmp_path):
    """The hybrid generator's library head used to write ``remainder(x, 97)`` as traced:
    at the irregular size the table has 51 rows and the lookup ran out of bounds."""
    problem = _problem("hybrid_hash", HYBRID_PROBLEM, tmp_path)
    target = load_target("h100")
    coder = HybridCoder()
    assert coder.supports(problem, target)
    draft = coder.seed(problem, target)[0]
    variant = irregular_variant(problem)
    errors = _run([{"name": "hybrid", "reference": variant.source, "candidate": draft.source,
                    "dir": str(tmp_path)}])
    assert isinstance(errors["hybrid"], float) and errors["hybrid"] < 1e-5, errors
