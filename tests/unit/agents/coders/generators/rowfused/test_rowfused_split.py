"""Row-fused generator: long-row seeds and the ``split`` variant (column ranges + combine).

Correctness runs the rendered modules under the Triton interpreter in a subprocess (exact
int64 indices for arg-reductions, with ties across ranges and NaN rows); compilation goes
through ``tests/unit/agents/coders/harness.py`` for sm_90 and gfx942.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.coders.generators.rowfused import RowFusedCoder, recognise
from agents.coders.generators.rowfused import params as rp
from agents.coders.generators.rowfused.emit_split import split_ok
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.rowfused import fixtures as rf
from tools.hardware import load_target
from tools.records import Problem

CODER = RowFusedCoder()
SPLIT = {
    "variant": "split",
    "BLOCK_M": 1,
    "BLOCK_N": 64,
    "num_warps": 1,
    "num_stages": 1,
    "persistent": 0,
    "waves": 4,
}
"""64-column ranges: a row of 300 is cut into five ranges, the last one partial."""

_SOURCE = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return {expr}


def get_inputs():
{inputs}


def get_init_inputs():
    return []
"""
TIES_NAN = """    x = torch.randn(5, 300)
    x[0, 10] = 50.0
    x[0, 250] = 50.0  # a tie in another range: the first index wins
    x[1, 260] = float("nan")
    x[1, 120] = float("nan")  # the first NaN wins, whatever the values
    x[1, 5] = 1e9
    x[2] = float("-inf")  # every value the identity: index 0
    x[3, 64] = -50.0
    x[3, 63] = -50.0  # a tie across the boundary of two ranges
    x[4, 299] = float("nan")  # a NaN in the partial last range
    return [x]"""
TIES_NAN_MID = """    x = torch.randn(2, 300, 40)
    x[0, 10, 3] = 50.0
    x[0, 250, 3] = 50.0  # a tie in another range: the first index wins
    x[1, 260, 39] = float("nan")
    x[1, 120, 39] = float("nan")  # the first NaN wins, in the partial last tile of rows
    x[0, :, 7] = float("-inf")
    return [x]"""
CASES = {
    "argmax": ("torch.argmax(x, dim=-1)", TIES_NAN),
    "argmin": ("torch.argmin(x, dim=-1)", TIES_NAN),
    "global_norm": ("torch.linalg.vector_norm(x)", "    return [torch.randn(1000)]"),
    "row_norm": ("torch.linalg.vector_norm(x, dim=-1)", "    return [torch.randn(3, 300)]"),
    "max_rows": ("torch.amax(x, dim=-1)", "    return [torch.randn(3, 300)]"),
    "prod_rows": ("torch.prod(x, dim=-1)", "    return [1 + 0.01 * torch.randn(3, 300)]"),
    "argmax_mid": ("torch.argmax(x, dim=1)", TIES_NAN_MID),
    "amax_dim0": ("torch.amax(x, dim=0)", "    return [torch.randn(300, 40)]"),
    "mean_mid": ("x.mean(dim=1) * 2.0", "    return [torch.randn(3, 300, 40)]"),
}
OFFSET = "    return [torch.randn(3, 300) * 0.5 + 1000.0]"
"""A large mean: a sum-of-squares variance would lose every digit, Welford/Chan keeps them."""
FULL_CASES = {
    "softmax": ("torch.softmax(x, dim=-1)", "    return [torch.randn(3, 300) * 4.0]"),
    "log_softmax": ("torch.log_softmax(x, dim=-1)", "    return [torch.randn(3, 300) * 4.0]"),
    "logsumexp": ("torch.logsumexp(x, dim=-1)", "    return [torch.randn(3, 300) * 4.0]"),
    "layer_norm3d": (
        "torch.nn.functional.layer_norm(x, x.shape[1:], eps=1e-5)",
        "    return [torch.randn(3, 4, 5, 15) * 0.5 + 100.0]",
    ),
    "var_offset": ("torch.var(x, dim=-1)", OFFSET),
    "rms_norm": ("x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)", OFFSET),
    "softmax_mid": ("torch.softmax(x, dim=1)", "    return [torch.randn(2, 300, 40)]"),
    "group_norm": ("torch.nn.functional.group_norm(x, 2)", "    return [torch.randn(3, 6, 7, 11)]"),
    "instance_norm": (
        "torch.nn.functional.instance_norm(x)",
        "    return [torch.randn(2, 3, 15, 21)]",
    ),
}
"""Row programs with full outputs or stable merges (Welford pairs, online exp-sums)."""
INNER_ROWS = 16
"""Rows a tile for the reductions over a middle dim: 40 inner rows end in a partial tile."""
_DIRECT = """
import json, sys, torch
from tests.support import load_module as load

results = {}
for case in json.load(open(sys.argv[1])):
    ref, new = load(case["reference"]), load(case["candidate"])
    torch.manual_seed(1)
    inputs = ref.get_inputs()
    want, got = ref.Model()(*inputs), new.ModelNew()(*inputs)
    same = want.dtype == got.dtype and want.shape == got.shape
    if same and want.dtype == torch.int64:
        same = bool(torch.equal(want, got))
    elif same:
        same = torch.allclose(want.double(), got.double(), atol=1e-4, rtol=1e-4)
    results[case["id"]] = [same, got.tolist()]
print(json.dumps(results))
"""


def _problem(name: str) -> Problem:
    expr, inputs = {**CASES, **FULL_CASES}[name]
    return Problem(name=f"split_{name}", source=_SOURCE.format(expr=expr, inputs=inputs))


def _run_direct(tmp_path: Path, cases: list[dict[str, str]]) -> dict[str, Any]:
    return fx.run_script(_DIRECT, cases, tmp_path, interpret=True)


def _check_cases(tmp_path: Path, names: list[str]) -> dict[str, Any]:
    """Render each case with ``SPLIT`` and run it against torch in the interpreter."""
    cases = []
    for name in names:
        problem = _problem(name)
        program = recognise(problem)
        assert split_ok(program), name
        params = {**SPLIT, "BLOCK_M": INNER_ROWS} if program.inner > 1 else dict(SPLIT)
        assert rp.space(program, fx.H100).is_legal(params), name
        text = CODER.render(problem, program, fx.H100, params)
        assert "_kv_rowfused_combine[" in text and "n_split" in text
        (tmp_path / f"{name}_ref.py").write_text(problem.source)
        (tmp_path / f"{name}_new.py").write_text(text)
        cases.append(
            {
                "id": name,
                "reference": str(tmp_path / f"{name}_ref.py"),
                "candidate": str(tmp_path / f"{name}_new.py"),
            }
        )
    results = _run_direct(tmp_path, cases)
    assert all(ok for ok, _ in results.values()), results
    return results


def test_split_argmax_matches_torch_with_ties_and_nan(tmp_path: Path) -> None:
    results = _check_cases(tmp_path, ["argmax", "argmax_mid"])
    assert results["argmax"][1][:5] == [10, 120, 0, results["argmax"][1][3], 299]
    assert results["argmax_mid"][1][0][3] == 10 and results["argmax_mid"][1][1][39] == 120
    assert results["argmax_mid"][1][0][7] == 0


def test_split_norms_and_softmax_match_torch(tmp_path: Path) -> None:
    """Long rows cut into 64-column ranges: partial statistics, merge, normalise each range."""
    _check_cases(tmp_path, ["softmax", "layer_norm3d", "var_offset"])


@pytest.mark.slow
def test_every_split_full_program_matches_torch(tmp_path: Path) -> None:
    _check_cases(
        tmp_path,
        ["log_softmax", "logsumexp", "rms_norm", "softmax_mid", "group_norm", "instance_norm"],
    )


@pytest.mark.slow
def test_every_split_reduction_matches_torch(tmp_path: Path) -> None:
    results = _check_cases(tmp_path, [n for n in CASES if n not in ("argmax", "argmax_mid")])
    assert results["argmin"][1][1] == 120 and results["argmin"][1][3] == 63


@pytest.mark.slow
def test_split_compiles_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = []
    for name in ("argmax", "global_norm", "softmax", "layer_norm3d"):
        problem = _problem(name)
        program = recognise(problem)
        for target, spec in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
            params = {**SPLIT, "BLOCK_N": 256, "num_warps": 4}
            if spec.startswith("hip"):
                params["waves_per_eu"] = 1
            text = CODER.render(problem, program, target, params)
            cases.append(
                {
                    "id": f"{name}-{spec}",
                    "reference": problem.source,
                    "candidate": text,
                    "targets": [spec],
                }
            )
    results = fx.run_harness("compile", cases, tmp_path)
    for case_id, result in results.items():
        assert result["ok"], (case_id, result)
        names = {k["kernel"] for k in result["kernels"]}
        assert names == {"_kv_rowfused_kernel", "_kv_rowfused_combine"}, case_id
        if "gfx942" in case_id:
            assert all(k["vgpr_spill"] == 0 for k in result["kernels"]), result


def test_few_long_rows_seed_the_split_variant() -> None:
    program = recognise(rf.problem("argmax", M=512, N=128256))
    seeds = rp.seeds(program, fx.H100)
    assert seeds[0]["variant"] == "split" and seeds[0]["waves"] >= 4
    assert any(s["variant"] == "looped" for s in seeds)  # the old kernel stays a seed
    many = recognise(rf.problem("argmax", M=65536, N=1024))
    assert all(s["variant"] != "split" for s in rp.seeds(many, fx.H100))
    source = _SOURCE.format(
        expr="torch.amax(x, dim=0)", inputs="    return [torch.randn(65536, 1024)]"
    )
    column = recognise(Problem(name="amax_dim0", source=source))  # 1024 columns of 65536
    first = rp.seeds(column, fx.H100)[0]
    assert first["variant"] == "split" and first["BLOCK_M"] >= 16  # coalesced inner rows


def test_split_is_offered_for_one_pass_mergeable_programs() -> None:
    assert split_ok(recognise(rf.problem("argmax", M=4, N=300)))
    assert split_ok(recognise(rf.problem("softmax", M=4, N=300)))  # a full output
    assert split_ok(recognise(rf.problem("logsumexp", M=4, N=300)))  # online exp-sum
    assert "split" in rp.space(recognise(rf.problem("layer_norm", M=4, N=300)), fx.H100).variants
    source = _SOURCE.format(  # a reduction of a reduction's result: two passes
        expr="(x - x.mean(-1, keepdim=True)).abs().mean(-1)",
        inputs="    return [torch.randn(4, 300)]",
    )
    assert not split_ok(recognise(Problem(name="mad", source=source)))


def test_few_huge_rows_of_a_norm_seed_the_split_variant() -> None:
    """KernelBench's LayerNorm over (64, 256, 256) of 16 rows: 4 Mi elements a row."""
    source = _SOURCE.format(
        expr="torch.nn.functional.layer_norm(x, x.shape[1:])",
        inputs="    return [torch.randn(16, 64, 256, 256)]",
    )
    program = recognise(Problem(name="ln_kb", source=source))
    assert program.rows == 16 and program.n_len == 64 * 256 * 256
    assert not rp.row_fits_program(program, fx.H100)
    seeds = rp.seeds(program, fx.H100)
    assert seeds[0]["variant"] == "split"
    many = recognise(rf.problem("softmax", M=8192, N=40000))  # many rows fill the chip
    assert all(s["variant"] != "split" for s in rp.seeds(many, fx.H100))
    assert rp.seeds(many, fx.H100, split_rows=1024)[0]["variant"] == "split"


def test_long_multi_pass_rows_seed_a_whole_row_in_registers() -> None:
    program = recognise(rf.problem("log_softmax", M=4096, N=32000))
    seeds = rp.seeds(program, load_target("h100"))  # with its L2 size
    assert seeds[0] == {
        "variant": "single",
        "BLOCK_M": 1,
        "num_stages": 1,
        "persistent": 0,
        "num_warps": 16,
    }
    assert seeds[1]["num_warps"] == 32
    persistent = [s for s in seeds if s["variant"] == "looped" and s["persistent"]]
    assert persistent and persistent[0]["persistent"] * 32000 * 4 * 132 <= 50 * 2**20 * 0.5
    assert all(s["variant"] == "looped" for s in rp.seeds(program, fx.H100)[2:])
    hip = rp.seeds(program, fx.MI300X)
    assert all(s["num_warps"] <= 16 for s in hip)  # 1024 threads at 64 lanes a warp
    assert not rp.space(program, fx.MI300X).is_legal({**seeds[1], "waves_per_eu": 0})


def test_one_pass_long_rows_keep_the_looped_seed_first() -> None:
    program = recognise(rf.problem("logsumexp", M=4096, N=32000))  # read once when looped
    assert rp.looped_passes(program) == 1
    assert rp.seeds(program, fx.H100)[0]["variant"] == "looped"


def test_generic_split_module_for_a_sized_problem() -> None:
    problem = rf.sized_problem("argmax", 512, 100000)
    draft = CODER.seed(problem, fx.H100)[0]
    assert "variant=split" in draft.source
    wrapper = draft.source.split("def _kv_rowfused(")[1].split("# ---- the model")[0]
    code = wrapper.split('"""')[2]  # after the docstring, which keeps the traced sizes
    assert "100000" not in code and "triton.cdiv(p0.shape[1], 4096)" in code
