"""The gather-chain generator and resized literals, on small problems of their own kinds.

Each problem below is written here (ops of the ranking long tail's kinds, not copies of the
suite): candidates are rendered at the problem's size and run under the Triton interpreter
(one subprocess) at the evaluator's irregular size, where sizes and ``__init__`` arguments
differ, against the reference built at that size.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.coders.generators.gather import GatherChainCoder, analyze_gather_chain
from agents.coders.generators.gather.coder import render
from agents.coders.generators.pointwise import HybridCoder
from agents.coders.routes import ROUTES
from tests.support import model_source
from tests.unit.agents.coders import fixtures as fx
from tools.errors import ProblemError
from tools.evaluator.shapes import irregular_variant
from tools.hardware import load_target
from tools.problems.loader import load_problem_file
from tools.records import Problem

HARNESS = Path(__file__).resolve().parent / "harness.py"

PROBLEMS = {
    # hashed ids into a table whose size is an __init__ argument; padded ids skipped; mean
    "hash_bag_mean": model_source(
        """
        keep = (ids >= 0).to(torch.float32)
        slot = torch.remainder(ids.clamp_min(0) * 40503 + 7, self.table_size)
        rows = self.emb[slot] * keep.unsqueeze(-1)
        return rows.sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp_min(1.0)
        """,
        "ids.masked_fill(torch.rand(ROWS_N, SLOTS) < 0.3, -1)",
        args="ids",
        params="table: int, width: int",
        init="self.table_size = table\nself.emb = nn.Parameter(torch.randn(table, width))",
        init_inputs="TABLE, WIDTH",
        prepare="ids = torch.randint(0, 2**33, (ROWS_N, SLOTS), dtype=torch.int64)",
        constants="""
        ROWS_N = 37
        SLOTS = 6
        TABLE = 101
        WIDTH = 8
        KEVOLVE_SIZES = {"ROWS_N": 1, "SLOTS": 1, "TABLE": 1}
        """,
    ),
    # jagged rows (offsets from a cumsum the library keeps) left-aligned into a padded block
    "jagged_head_pad": model_source(
        """
        starts = torch.cumsum(counts, 0) - counts
        pos = torch.arange(self.keep, device=flat.device)
        inside = pos.unsqueeze(0) < counts.unsqueeze(1)
        where = (starts.unsqueeze(1) + pos.unsqueeze(0)).clamp(max=flat.shape[0] - 1)
        return torch.where(inside.unsqueeze(-1), torch.tanh(flat[where]), torch.zeros(()))
        """,
        "torch.randn(int(counts.sum()) + 1, FEAT), counts",
        args="flat, counts",
        params="keep: int",
        init="self.keep = keep",
        init_inputs="KEEP",
        prepare="counts = torch.randint(0, 2 * KEEP, (SEQS,), dtype=torch.int64)",
        constants='SEQS = 9\nKEEP = 9\nFEAT = 4\nKEVOLVE_SIZES = {"SEQS": 1, "KEEP": 1}',
    ),
    # masked softmax over a padded history, then a weighted pooling through a matmul
    "masked_softmax_pool": model_source(
        """
        t = torch.arange(logits.shape[1], device=logits.device)
        valid = t.unsqueeze(0) < lengths.unsqueeze(1)
        w = torch.softmax(logits.masked_fill(~valid, float("-inf")), dim=-1)
        w = torch.where(valid, w, torch.zeros_like(w))
        return torch.bmm(w.unsqueeze(1), hist).squeeze(1) * 0.5
        """,
        "torch.randn(USERS, EVENTS), torch.randn(USERS, EVENTS, WIDTH), lengths",
        args="logits, hist, lengths",
        prepare="lengths = torch.randint(0, EVENTS + 1, (USERS,), dtype=torch.int64)\nlengths[0] = 0",
        constants='USERS = 6\nEVENTS = 7\nWIDTH = 5\nKEVOLVE_SIZES = {"USERS": 1, "EVENTS": 1}',
    ),
    # a gathered pairwise hinge-style loss: whole-tensor sums over gathered pairs
    "pair_loss": model_source(
        """
        a = torch.gather(scores, 1, left)
        b = torch.gather(scores, 1, right)
        ordered = torch.gather(grades, 1, left) < torch.gather(grades, 1, right)
        loss = F.logsigmoid(b - a).neg() * ordered.to(scores.dtype)
        return loss.sum() / ordered.sum().clamp_min(1).to(scores.dtype)
        """,
        "torch.randn(LISTS, ITEMS), torch.randint(0, 3, (LISTS, ITEMS)), "
        "torch.randint(0, ITEMS, (LISTS, PAIRS)), torch.randint(0, ITEMS, (LISTS, PAIRS))",
        args="scores, grades, left, right",
        constants='LISTS = 5\nITEMS = 9\nPAIRS = 11\nKEVOLVE_SIZES = {"LISTS": 1, "ITEMS": 1, "PAIRS": 1}',
    ),
    # weighted BCE-with-logits with a per-slot bias looked up by index, then the mean
    "weighted_bce": model_source(
        """
        z = logits + self.bias[slot]
        return F.binary_cross_entropy_with_logits(z, target, weight=weight)
        """,
        "torch.randn(EVENTS), torch.randint(-SLOTS, SLOTS, (EVENTS,)), "
        "(torch.rand(EVENTS) < 0.3).float(), torch.rand(EVENTS)",
        args="logits, slot, target, weight",
        params="slots: int",
        init="self.bias = nn.Parameter(torch.randn(slots))",
        init_inputs="SLOTS",
        constants='EVENTS = 53\nSLOTS = 6\nKEVOLVE_SIZES = {"EVENTS": 1}',
    ),
}

SCATTER_PROBLEMS = {
    # per-row scores written back to the top-k slots a library sort picked (zeros elsewhere)
    "topk_writeback": model_source(
        """
        top = torch.topk(x, self.pick, dim=1)
        return torch.zeros_like(x).scatter(1, top.indices, torch.log_softmax(top.values, dim=1))
        """,
        "torch.randn(ROWS_N, COLS)",
        params="pick: int",
        init="self.pick = pick",
        init_inputs="PICK",
        constants='ROWS_N = 7\nCOLS = 13\nPICK = 4\nKEVOLVE_SIZES = {"ROWS_N": 1, "COLS": 1}',
    ),
    # segment sums of a jagged batch (segment ids from lengths), scaled on the way in
    "segment_sum": model_source(
        """
        seg = torch.repeat_interleave(
            torch.arange(lengths.shape[0]), lengths, output_size=values.shape[0]
        )
        out = torch.zeros(lengths.shape[0], values.shape[1])
        return out.index_add_(0, seg, torch.sigmoid(values) * 2.0)
        """,
        "torch.randn(int(lengths.sum()), WIDTH), lengths",
        args="values, lengths",
        prepare="lengths = torch.randint(0, 2 * AVG + 1, (SEGS,))",
        constants='SEGS = 6\nAVG = 3\nWIDTH = 5\nKEVOLVE_SIZES = {"SEGS": 1, "AVG": 1}',
    ),
}
"""Results written through an index (``scatter``, ``index_add_``): a kernel writes the base,
a second stores (or atomically adds) each source element at its index."""

HYBRID_PROBLEM = model_source(
    """
    a = self.table[torch.remainder(keys * 2654435761, self.rows)]
    b = self.table[torch.remainder(keys * 40503 + 1, self.rows)]
    return torch.relu(a + b) * 0.5
    """,
    "torch.randint(0, 2**40, (KEYS, SLOTS), dtype=torch.int64)",
    args="keys",
    params="rows: int, width: int",
    init="self.rows = rows\nself.table = nn.Parameter(torch.randn(rows, width))",
    init_inputs="ROWS, WIDTH",
    constants='KEYS = 21\nSLOTS = 4\nROWS = 97\nWIDTH = 8\nKEVOLVE_SIZES = {"KEYS": 1, "ROWS": 1}',
)


def _problem(name: str, source: str, tmp_path: Path) -> Problem:
    path = tmp_path / f"{name}.py"
    path.write_text(f'"""gather: {name}."""\n' + source)
    return load_problem_file(path)


def _run(cases: list[dict], tmp_path: Path) -> dict:
    return fx.run_script(HARNESS, cases, tmp_path, interpret=True)


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
        cases.append({"name": name, "reference": variant.source, "candidate": draft.source})
        # and at its own size
        cases.append({"name": name + "@own", "reference": problem.source,
                      "candidate": render(problem, {"BLOCK": 64, "num_warps": 2})})
    errors = _run(cases, tmp_path)
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
    case = {"name": "hybrid", "reference": variant.source, "candidate": draft.source}
    errors = _run([case], tmp_path)
    assert isinstance(errors["hybrid"], float) and errors["hybrid"] < 1e-5, errors
