"""The ``pair`` pooling kernel (column stride 2): suite claims, seeds, interpreter checks, compiles.

Interpreter checks run in one subprocess (``TRITON_INTERPRET=1``) with inputs holding NaN and
-inf, compared with ``equal_nan`` (the shared harness's ``allclose`` cannot compare NaN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.coders.generators.pooling.space import pair_ok
from tests.support import SUITE
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.pooling.test_pooling import CODER, pool_problem
from tools.problems.loader import load_problem_file
from tools.records import Problem

RUNNER = r"""
import json, sys
import torch
from tests.support import SUITE, load_module

def load(path, name):
    return load_module(path, name, register=True)

results = {}
for case in json.load(open(sys.argv[1])):
    try:
        ref = load(case["reference"], "ref_" + case["id"].replace("-", "_"))
        new = load(case["candidate"], "new_" + case["id"].replace("-", "_"))
        dtype = getattr(torch, case["dtype"])
        torch.manual_seed(0)
        x = ref.get_inputs()[0].float()
        if case["special"]:  # NaN, -inf and +inf entries, and one plane all -inf
            x[x > 1.6] = float("nan")
            x[x < -1.6] = float("-inf")
            x.view(-1)[7 % x.numel()] = float("inf")
            x.reshape(-1, x.shape[-2] * x.shape[-1])[0] = float("-inf")
        x = x.to(dtype)
        if case["noncontiguous"]:
            wide = torch.empty(*x.shape[:-1], 2 * x.shape[-1], dtype=dtype)[..., ::2]
            wide.copy_(x)
            x = wide
        out = new.ModelNew()(x)
        expected = ref.Model().float()(x.float())
        assert out.dtype == dtype, out.dtype
        tol = 1e-5 if case["dtype"] == "float32" else 2e-3
        torch.testing.assert_close(out.float(), expected, equal_nan=True, atol=tol, rtol=tol)
        results[case["id"]] = {"ok": True}
    except Exception as e:  # report every failure as data
        results[case["id"]] = {"ok": False, "error": f"{type(e).__name__}: {str(e)[:500]}"}
print(json.dumps(results))
"""

# id -> (expression, input shape, params of the pair variant or None for the first seed)
FORMS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "max-stem-odd": ("F.max_pool2d(x, 3, 2, 1)", "1, 3, 13, 17", None),
    "max-stem-even": ("F.max_pool2d(x, 3, 2, 1)", "1, 4, 16, 16", None),
    "max-col-blocks": ("F.max_pool2d(x, 3, 2, 1)", "1, 2, 7, 70",
                       {"ROWS": 4, "BLOCK_P": 2, "BLOCK_W": 16, "num_warps": 1}),
    "max-strips": ("F.max_pool2d(x, 3, 2, 1)", "3, 1, 29, 9",
                   {"ROWS": 2, "BLOCK_P": 4, "BLOCK_W": 16, "num_warps": 2}),
    "max-rect": ("F.max_pool2d(x, (2, 3), (1, 2), (0, 1))", "2, 2, 9, 12", None),
    "max-tall": ("F.max_pool2d(x, (3, 3), (3, 2), (1, 1))", "2, 2, 10, 12", None),
    "max-k2": ("F.max_pool2d(x, 2)", "2, 3, 9, 15", None),
    "max1d": ("F.max_pool1d(x, 3, 2, 1)", "2, 3, 31", None),
    "max3d-video": ("F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))", "1, 2, 3, 9, 11", None),
    "avg-transition": ("F.avg_pool2d(x, 2, 2)", "2, 3, 10, 15", None),
    "avg3-count-pad": ("F.avg_pool2d(x, 3, 2, 1)", "2, 3, 13, 17", None),
    "avg3-no-count-pad": ("F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)", "2, 3, 13, 17",
                          {"ROWS": 2, "BLOCK_P": 2, "BLOCK_W": 16, "num_warps": 1}),
    "avg3-divisor": ("F.avg_pool2d(x, 3, 2, 1, divisor_override=4)", "2, 3, 12, 18", None),
    "avg3d": ("F.avg_pool3d(x, (1, 2, 2))", "2, 3, 3, 8, 10", None),
}  # fmt: skip
SUITE_SIZES = {
    "055_maxpool2d_resnet_stem": [
        {"BATCH": 1, "CHANNELS": 1, "HEIGHT": 1, "WIDTH": 1},
        {"BATCH": 2, "CHANNELS": 3, "HEIGHT": 19, "WIDTH": 133},
    ],
    "057_avgpool2d_transition": [
        {"BATCH": 1, "CHANNELS": 1, "HEIGHT": 2, "WIDTH": 2},
        {"BATCH": 2, "CHANNELS": 3, "HEIGHT": 11, "WIDTH": 67},
    ],
    "058_maxpool3d_video": [
        {"BATCH": 1, "CHANNELS": 2, "FRAMES": 3, "HEIGHT": 9, "WIDTH": 6},
    ],
}
"""Sizes the suite's seeds are checked at (other than the ones they were tuned for)."""
SPECIAL = {"max-stem-odd", "max-stem-even", "max-col-blocks", "max-strips", "max3d-video", "max1d"}


def _source(problem: Problem, params: dict[str, Any] | None, target: Any = fx.H100) -> str:
    if params is None:
        draft = CODER.seed(problem, target)[0]
        assert draft.params["variant"] == "pair", draft.params
        return draft.source
    spec = CODER.spec_for(problem, target)
    full = {"variant": "pair", **params}
    assert CODER.space(spec, target).is_legal(full), full
    return CODER.render(problem, spec, target, full)


def _resize(source: str, sizes: dict[str, int]) -> str:
    """``source`` with its module-level size constants replaced."""
    lines = source.splitlines()
    for i, line in enumerate(lines):
        name = line.split(" = ")[0]
        if name in sizes:
            lines[i] = f"{name} = {sizes[name]}"
    return "\n".join(lines) + "\n"


def _run(cases: list[dict[str, Any]], tmp: Path) -> dict[str, dict[str, Any]]:
    return fx.run_script(RUNNER, cases, tmp, interpret=True)


def _case(tmp: Path, case_id: str, problem: Problem, source: str, **flags: Any) -> dict[str, Any]:
    ref, cand = tmp / f"ref_{case_id}.py", tmp / f"cand_{case_id}.py"
    ref.write_text(problem.source)
    cand.write_text(source)
    return {"id": case_id, "reference": str(ref), "candidate": str(cand),
            "dtype": problem.dtype, "special": False, "noncontiguous": False, **flags}  # fmt: skip


# ---- the suite's pooling problems ----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "variant"),
    [("055_maxpool2d_resnet_stem", "pair"), ("056_global_avgpool", "global"),
     ("057_avgpool2d_transition", "pair"), ("058_maxpool3d_video", "pair")],
)  # fmt: skip
def test_suite_pooling_problems_are_claimed(name: str, variant: str) -> None:
    problem = load_problem_file(SUITE / f"{name}.py")
    for target in (fx.H100, fx.MI300X):
        assert CODER.supports(problem, target), name
        seeds = [d.params for d in CODER.seed(problem, target)]
        assert seeds[0]["variant"] == variant and len(seeds) >= 2
    if variant == "pair":  # the plain window kernel stays available as a fallback seed
        assert [d.params["variant"] for d in CODER.seed(problem, fx.H100)][-1] == "window"


def test_stem_seed_reads_each_row_once_with_16_byte_loads() -> None:
    """055's first seed: whole 56-wide output rows, 4 input columns per thread, strips of rows."""
    problem = load_problem_file(SUITE / "055_maxpool2d_resnet_stem.py")
    first = CODER.seed(problem, fx.H100)[0]
    assert first.params == {"variant": "pair", "ROWS": 8, "BLOCK_P": 4, "BLOCK_W": 64,
                            "num_warps": 4}  # fmt: skip
    assert "tl.gather(" in first.source and "W=W, OW=OW" in first.source


@pytest.mark.parametrize(
    ("expr", "shape", "eligible"),
    [("F.max_pool2d(x, 3, 2, 1)", "1, 1, 8, 8", True),
     ("F.max_pool2d(x, 3, 2)", "1, 1, 8, 8", False),  # 3-wide without padding: not a pair
     ("F.max_pool2d(x, 3, 2, 1, dilation=2)", "1, 1, 9, 9", False),
     ("F.max_pool2d(x, 5, 2, 1)", "1, 1, 9, 9", False),  # rows overlap by three
     ("F.avg_pool2d(x, 4, 2, 1)", "1, 1, 9, 9", False),
     ("F.max_pool2d(x, 3, 1, 1)", "1, 1, 9, 9", False)],
)  # fmt: skip
def test_pair_eligibility(expr: str, shape: str, eligible: bool) -> None:
    spec = CODER.spec_for(pool_problem(expr, shape), fx.H100)
    assert pair_ok(spec) is eligible
    variants = {d.params["variant"] for d in CODER.seed(pool_problem(expr, shape), fx.H100)}
    assert ("pair" in variants) is eligible


def test_3d_pooling_with_depth_window_is_rejected_in_one_sentence() -> None:
    problem = pool_problem("F.max_pool3d(x, (2, 3, 3), (1, 2, 2), (0, 1, 1))", "1, 2, 4, 8, 8")
    assert not CODER.supports(problem, fx.H100)
    with pytest.raises(Exception, match="depth window of 1"):
        CODER.spec_for(problem, fx.H100)


def test_pair_safer_falls_back_to_the_window_kernel() -> None:
    problem = load_problem_file(SUITE / "055_maxpool2d_resnet_stem.py")
    spec = CODER.spec_for(problem, fx.H100)
    first = CODER.seed(problem, fx.H100)[0].params
    safer = CODER.safer(first, spec, fx.H100)
    space = CODER.space(spec, fx.H100)
    assert all(space.is_legal(p) for p in safer)
    assert safer[0]["variant"] == "pair" and safer[-1]["variant"] == "window"


# ---- interpreter -------------------------------------------------------------------------
QUICK = ("max-stem-odd", "max-col-blocks", "max3d-video", "avg-transition")
"""Forms checked on every run; the others (and the suite's seeds at other sizes) are slow."""


def _form_cases(tmp: Path, names: list[str]) -> list[dict[str, Any]]:
    cases = []
    for i, (name, (expr, shape, params)) in enumerate(FORMS.items()):
        if name not in names:
            continue
        dtype = ("float32", "float16")[i % 2] if name not in SPECIAL else "float32"
        problem = pool_problem(expr, shape, dtype=dtype)
        target = (fx.H100, fx.MI300X)[i % 3 == 2 and params is None]
        cases.append(_case(tmp, name, problem, _source(problem, params, target),
                           special=name in SPECIAL, noncontiguous=i % 4 == 1))  # fmt: skip
    return cases


@pytest.fixture(scope="module")
def pair_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("pooling_pair")
    cases = _form_cases(tmp, list(QUICK))
    # Mutants the checks must catch: a lost column between tiles, a wrong carried row.
    blocks = pool_problem(FORMS["max-col-blocks"][0], FORMS["max-col-blocks"][1])
    good = _source(blocks, FORMS["max-col-blocks"][2])
    assert "edge_col = col0 + 4 * t - 1" in good and "carry = t\n" in good
    edge = good.replace("edge_col = col0 + 4 * t - 1", "edge_col = col0 + 4 * t")
    cases.append(_case(tmp, "mutant-edge", blocks, edge))
    cases.append(_case(tmp, "mutant-carry", blocks, good.replace("carry = t\n", "carry = acc\n")))
    stem = pool_problem(FORMS["max-stem-odd"][0], FORMS["max-stem-odd"][1])
    nan_free = _source(stem, None).replace("PropagateNan.ALL", "PropagateNan.NONE")
    cases.append(_case(tmp, "mutant-nan", stem, nan_free, special=True))
    return _run(cases, tmp)


@pytest.mark.parametrize("case_id", QUICK)
def test_pair_kernel_matches_reference_in_interpreter(
    pair_results: dict[str, dict[str, Any]], case_id: str
) -> None:
    assert pair_results[case_id]["ok"], pair_results[case_id]


@pytest.mark.parametrize("case_id", ["mutant-edge", "mutant-carry", "mutant-nan"])
def test_broken_pair_kernels_are_caught(
    pair_results: dict[str, dict[str, Any]], case_id: str
) -> None:
    assert not pair_results[case_id]["ok"]


@pytest.mark.slow
def test_other_forms_and_suite_seeds_at_other_sizes_match(tmp_path: Path) -> None:
    """The remaining forms, and the suite's first two seeds (tuned for the full sizes) at other
    sizes: the kernels read sizes at call time."""
    cases = _form_cases(tmp_path, [n for n in FORMS if n not in QUICK])
    for name, sizes in SUITE_SIZES.items():
        problem = load_problem_file(SUITE / f"{name}.py")
        for j, draft in enumerate(CODER.seed(problem, fx.H100)[:2]):
            for k, size in enumerate(sizes):
                small = problem.model_copy(update={"source": _resize(problem.source, size)})
                cases.append(_case(tmp_path, f"{name}-seed{j}-size{k}", small, draft.source,
                                   special=name.startswith("055")))  # fmt: skip
    results = _run(cases, tmp_path)
    assert len(results) == len(cases) >= 16
    failed = {k: v for k, v in results.items() if not v["ok"]}
    assert not failed, failed


# ---- AOT compiles --------------------------------------------------------------------------
@pytest.mark.slow
def test_pair_kernels_compile_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = []
    for name in ("055_maxpool2d_resnet_stem", "057_avgpool2d_transition"):
        problem = load_problem_file(SUITE / f"{name}.py")
        small = problem.source.replace("BATCH = 64", "BATCH = 1")  # same kernel, tiny inputs
        for target, arch in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
            source = CODER.seed(problem, target)[0].source
            cases.append({"id": f"{name}-{arch}", "reference": small, "dtype": "float32",
                          "candidate": source, "targets": [arch]})  # fmt: skip
    results = fx.run_harness("compile", cases, tmp_path)
    for case_id, result in results.items():
        assert result["ok"], (case_id, result)
        if "hip" in case_id:
            assert result["kernels"][0]["vgpr_spill"] == 0
