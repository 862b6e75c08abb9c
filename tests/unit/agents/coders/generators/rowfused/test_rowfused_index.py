"""Row-fused generator: index arithmetic (``repeat`` of a parameter, ``arange``) on suite files.

``024_instance_norm`` repeats its affine weight per sample (read at ``row % C``) and
``064_masked_mean_pooling`` compares an ``arange`` along the row with per-sample lengths (the
column index, no load). Drafts are generated at one small size of the file's declared sizes
and checked in the Triton interpreter at another, irregular one (``tests/unit/agents/coders/harness.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.coders.generators.rowfused import RowFusedCoder, recognise
from agents.coders.generators.rowfused.geometry import wrap_terms
from agents.coders.generators.rowfused.ir import Load, Term
from agents.coders.generators.rowfused.values import squeeze_map
from tests.support import REPO
from tools.errors import ProblemError
from tools.problems.resize import resize_source
from tools.records import Problem

SUITE = REPO / "evals" / "problems" / "kernelbench_h100"



from tests.unit.agents.coders import fixtures as fx

CODER = RowFusedCoder()
SIZES: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "024_instance_norm": (
        {"BATCH": 2, "CHANNELS": 4, "HEIGHT": 16, "WIDTH": 16},
        {"BATCH": 3, "CHANNELS": 5, "HEIGHT": 10, "WIDTH": 14},
    ),
    "064_masked_mean_pooling": (
        {"BATCH": 4, "SEQ": 32, "HIDDEN": 64},
        {"BATCH": 3, "SEQ": 19, "HIDDEN": 37},
    ),
    "061_fm_interaction": ({"BATCH": 64}, {"BATCH": 21}),
    "068_bert_embeddings": (
        {"BATCH": 2, "SEQ": 8, "VOCAB": 50, "HIDDEN": 32},
        {"BATCH": 3, "SEQ": 7, "VOCAB": 37, "HIDDEN": 40},
    ),
}
"""Per file: the sizes a draft is generated at, and the irregular sizes it is checked at."""


def _source(name: str, sizes: dict[str, int]) -> str:
    return resize_source((SUITE / f"{name}.py").read_text(), sizes)


def _problem(name: str, sizes: dict[str, int] | None = None) -> Problem:
    text = (SUITE / f"{name}.py").read_text() if sizes is None else _source(name, sizes)
    return Problem(name=name, source=text)


def test_suite_files_are_claimed_at_their_full_size() -> None:
    norm = recognise(_problem("024_instance_norm"))
    assert (norm.outer, norm.n_len, norm.inner) == (1024, 65536, 1)
    weights = [op for op in norm.ops if isinstance(op, Load) and op.shape == "row"]
    assert weights and all(op.terms == (Term("r", 1, 64, 1),) for op in weights)
    pool = recognise(_problem("064_masked_mean_pooling"))
    assert (pool.outer, pool.n_len, pool.inner) == (64, 512, 1024)
    iota = [op for op in pool.ops if isinstance(op, Load) and op.operand < 0]
    assert iota and iota[0].terms == (Term("n"),)
    assert [o.dtype for o in pool.operands] == ["float32", "int64"]
    assert CODER.seed(_problem("064_masked_mean_pooling"), fx.H100)


def test_embedding_lookups_are_gathered_row_loads() -> None:
    bert = recognise(_problem("068_bert_embeddings"))
    assert (bert.outer, bert.n_len, bert.inner) == (64 * 512, 768, 1)
    gathers = [op for op in bert.ops if isinstance(op, Load) and op.index is not None]
    assert len(gathers) == 3 and all(op.width == 768 and op.terms == (Term("n"),) for op in gathers)
    producers = {op.var: op for op in bert.ops if isinstance(op, Load)}
    position = producers[gathers[1].index]  # arange along the sequence: row % SEQ, no load
    assert position.operand < 0 and position.terms == (Term("r", 1, 512, 1),)
    assert [o.dtype for o in bert.operands].count("int64") == 2
    assert bert.outputs[0].dtype is None  # follows the tables' float dtype


def test_fm_interaction_reduces_over_the_inner_rows_of_one_tile() -> None:
    fm = recognise(_problem("061_fm_interaction"))
    assert (fm.outer, fm.n_len, fm.inner) == (65536, 39, 16)
    assert [r.kind for r in fm.reductions()] == ["sum", "sum", "inner_sum"]
    assert fm.outputs[0].kind == "outer" and fm.outputs[0].shape == (65536, 1)
    sp = CODER.space(fm, fx.H100)
    assert set(sp.variants) == {"single"} and sp.variants["single"]["BLOCK_M"] == (16,)
    seeds = CODER.seed(_problem("061_fm_interaction"), fx.H100)
    assert seeds and all(d.params["BLOCK_M"] == 16 for d in seeds)
    safer = CODER.safer(seeds[0].params, fm, fx.H100)
    assert safer and all(sp.is_legal(q) and q["num_warps"] == 1 for q in safer)


def test_inner_reductions_mixed_with_rows_are_declined() -> None:
    source = (SUITE / "061_fm_interaction.py").read_text()
    source = source.replace(
        "return 0.5 * (square_of_sum - sum_of_square).sum(dim=1, keepdim=True)",
        "return square_of_sum - sum_of_square.sum(dim=1, keepdim=True)",
    )
    with pytest.raises(ProblemError, match="inner rows"):
        recognise(Problem(name="fm_mixed", source=source))


def test_wrap_terms_fold_the_period_into_the_digits() -> None:
    assert wrap_terms((Term("r"),), 64) == (Term("r", 1, 64, 1),)
    assert wrap_terms((Term("f", 1, 8, 1), Term("r", 8, 0, 8)), 16) == (
        Term("f", 1, 8, 1),
        Term("r", 8, 2, 8),
    )
    assert wrap_terms((Term("n"), Term("r", 1, 0, 64)), 64) == (Term("n", 1, 64, 1),)
    with pytest.raises(ProblemError, match="period"):
        wrap_terms((Term("r", 1, 0, 3),), 64)


def test_squeeze_map_moves_broadcast_dims_with_the_view() -> None:
    assert squeeze_map((1, 5), (4, 5), (4, 5, 1)) == (1, 5, 1)
    assert squeeze_map((4, 1), (4, 5), (1, 4, 1, 5)) == (1, 4, 1, 1)
    assert squeeze_map((4, 1), (4, 5), (20,)) is None


def test_inner_repeats_are_declined() -> None:
    source = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 1))

    def forward(self, x):
        return torch.softmax(x, dim=-1) * self.w.repeat(1, 6)


def get_inputs():
    return [torch.randn(4, 6)]


def get_init_inputs():
    return []
"""
    with pytest.raises(ProblemError, match="repeat"):
        recognise(Problem(name="inner_repeat", source=source))


_DIRECT = """
import json, sys, torch
from tests.support import load_module as load
from tests.unit.agents.coders import harness as h

def check(case):
    ref, new = load(case["reference"]), load(case["candidate"])
    dtype = getattr(torch, case["dtype"])
    torch.manual_seed(0)
    model = ref.Model(*ref.get_init_inputs())
    torch.manual_seed(0)
    cand = new.ModelNew(*ref.get_init_inputs()).to(dtype)
    torch.manual_seed(1)
    inputs = ref.get_inputs()  # integer inputs stay integer, as in the evaluator
    want = model(*inputs)
    got = cand(*[t.to(dtype) if t.is_floating_point() else t for t in inputs])
    if got.dtype != dtype or got.shape != want.shape:
        return [False, f"{got.dtype} {tuple(got.shape)} vs {dtype} {tuple(want.shape)}"]
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    err = float((got.float() - want).abs().max())
    return [torch.allclose(got.float(), want, atol=tol, rtol=tol), err]

def compile_case(case):
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction
    ref, new = load(case["reference"]), load(case["candidate"])
    launches = []
    def capture(fn):
        def run(*args, grid, warmup, **kwargs):
            launches.append((fn, args, kwargs))
        return run
    for value in list(vars(new).values()):
        if isinstance(value, JITFunction):
            value.run = capture(value)
    new.ModelNew(*ref.get_init_inputs())(*ref.get_inputs())
    backend, arch = case["target"].split(":")
    target = GPUTarget(backend, int(arch) if backend == "cuda" else arch, 32 if backend == "cuda" else 64)
    spills = []
    for fn, args, kwargs in launches:
        signature, constexprs, options = h.signature_of(fn, args, kwargs)
        if backend == "cuda":
            options = {k: v for k, v in options.items() if k in ("num_warps", "num_stages")}
        compiled = triton.compile(ASTSource(fn, signature, constexprs), target=target, options=options)
        if backend == "hip":
            text = compiled.asm["amdgcn"]
            spills.append(int(text.split(".vgpr_spill_count:")[1].split()[0]))
    return [bool(launches), spills]

results = {}
for case in json.load(open(sys.argv[1])):
    try:
        results[case["id"]] = compile_case(case) if case.get("target") else check(case)
    except Exception as e:
        results[case["id"]] = [False, f"{type(e).__name__}: {e}"]
print(json.dumps(results))
"""


def _run_direct(tmp: Path, cases: list[dict[str, Any]], interpret: bool) -> dict[str, Any]:
    """Run cases in a fresh subprocess (the interpreter must be set before triton imports)."""
    for case in cases:
        for key in ("reference", "candidate"):
            path = tmp / f"{case['id']}_{key}.py".replace(":", "_")
            path.write_text(case[key])
            case[key] = str(path)
    return fx.run_script(_DIRECT, cases, tmp, interpret=interpret)


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cases = []
    for name, (generated, checked_at) in SIZES.items():
        drafts = CODER.seed(_problem(name, generated), fx.H100)
        for k, draft in enumerate(drafts[:2]):
            for dtype in ("float32", "float16") if k == 0 else ("float32",):
                cases.append(
                    {
                        "id": f"{name}-{k}-{dtype}",
                        "reference": _source(name, checked_at),
                        "candidate": draft.source,
                        "dtype": dtype,
                    }
                )
    odd = (SUITE / "061_fm_interaction.py").read_text()
    odd = odd.replace("FIELDS = 39", "FIELDS = 7").replace("DIM = 16", "DIM = 10")
    draft = CODER.seed(Problem(name="fm_odd", source=resize_source(odd, {"BATCH": 64})), fx.H100)
    cases.append(
        {
            "id": "fm_odd",
            "reference": resize_source(odd, {"BATCH": 21}),
            "candidate": draft[0].source,
            "dtype": "float32",
        }
    )
    return _run_direct(tmp_path_factory.mktemp("rowfused_i"), cases, interpret=True)


@pytest.mark.parametrize("name", list(SIZES))
def test_drafts_match_torch_at_irregular_sizes(checked: dict[str, Any], name: str) -> None:
    found = {k: v for k, v in checked.items() if k.startswith(name)}
    assert len(found) == 3 and all(v[0] for v in found.values()), found


def test_fm_with_odd_fields_and_dim_matches_torch(checked: dict[str, Any]) -> None:
    assert checked["fm_odd"][0] is True, checked["fm_odd"]


@pytest.mark.slow
def test_drafts_compile_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = []
    for name in SIZES:
        problem = _problem(name)  # full size: the constexprs the H100 will compile
        for target, spec in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
            for k, draft in enumerate(CODER.seed(problem, target)[:2]):
                cases.append(
                    {
                        "id": f"{name}-{k}-{spec}",
                        "reference": problem.source,
                        "candidate": draft.source,
                        "target": spec,
                    }
                )
    results = _run_direct(tmp_path, cases, interpret=False)
    for case_id, (launched, spills) in results.items():
        assert launched is True, (case_id, spills)
        assert all(s == 0 for s in spills), (case_id, spills)
