"""GEMM generator kernels: interpreter correctness and AOT compilation for sm_90 / gfx942.

Correctness runs reference and candidate side by side under ``TRITON_INTERPRET=1`` in one
subprocess (``tests/unit/agents/coders/harness.py``): every epilogue kind, batched products, fp32 and fp16,
sizes off every tile, non-contiguous inputs, split-K and matrix-vector variants, and named
problems checked at a size other than the one they were rendered for. Compilation captures
every launch and compiles it with ``triton.compile`` for ``cuda:90`` and ``hip:gfx942``.
The slow set covers every seed on both chips, random legal configurations, bf16, and a
resource probe (registers, spills, pipelining) of the H100 seeds at a large shape.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agents.coders.generators.gemm import GemmCoder
from tests.support import model_source
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.gemm import fixtures as g
from tests.unit.agents.coders.interpreter import InterpreterChecks

CODER = GemmCoder()
FP32 = {"atol": 1e-3, "rtol": 1e-4}
FP16 = fx.FP16


def _render(
    source: str,
    target: Any,
    params: dict[str, Any] | None = None,
    dtype: str = "float32",
    index: int = 0,
) -> str:
    problem = g.problem(source, "k", dtype)
    drafts = CODER.seed(problem, target)
    if params is None:
        return drafts[index].source
    spec = CODER.spec_for(problem, target)
    full = {**drafts[0].params, **params}
    assert CODER.space(spec, target).is_legal(full), full
    return CODER.render(problem, spec, target, full)


def _case(case_id: str, reference: str, candidate: str, **extra: Any) -> dict[str, Any]:
    return fx.case(case_id, reference, candidate, **(FP32 | extra))


def _named_irregular(op: str) -> dict[str, Any]:
    """Rendered for one size, checked at another: the kernels must not bake the shape in."""
    rendered = fx.named_problem(op, M=37, N=45, K=70)
    spec = CODER.spec_for(rendered, fx.H100)
    params = CODER.seed(rendered, fx.H100)[0].params
    candidate = CODER.render(rendered, spec, fx.H100, params)
    other = fx.named_problem(op, M=21, N=50, K=33)
    return _case(f"{op}-irregular", other.source, candidate)


QUICK = [
    ("linear-epilogue-noncontiguous", g.LINEAR_EPILOGUE, fx.H100, None, {"noncontiguous": True}),
    (
        "activations-subtiled-epilogue",
        g.MM_ACTIVATIONS,
        fx.H100,
        {"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 2},
        {},
    ),
    ("more-activations", g.MORE_ACTIVATIONS, fx.H100, None, {}),
    ("baddbmm-hip-params", g.BADDBMM, fx.MI300X, None, {}),
    ("matvec-gemv-split", g.MATVEC, fx.H100, {"SPLIT_K": 2, "BLOCK_K": 64}, {}),
    ("vecmat-gemv-thin-m", g.VECMAT, fx.H100, None, {}),
    ("thin3-gemv", g.THIN3, fx.H100, None, {}),
    ("skinny-splitk", g.SKINNY, fx.H100, None, {}),
    ("linear-epilogue-fp16", g.LINEAR_EPILOGUE, fx.H100, None, FP16),
    ("skinny-splitk-fp16", g.SKINNY, fx.H100, None, FP16),
    ("matvec-gemv-fp16", g.MATVEC, fx.H100, None, FP16),
]


def _quick_cases() -> list[dict[str, Any]]:
    cases = []
    for case_id, source, target, params, extra in QUICK:
        candidate = _render(source, target, params, extra.get("dtype", "float32"))
        cases.append(_case(case_id, source, candidate, **extra))
    return cases + [_named_irregular("linear_relu"), _named_irregular("matmul")]


class TestKernelsInInterpreter(InterpreterChecks):
    cases = staticmethod(_quick_cases)


def test_quick_cases_cover_every_variant() -> None:
    sources = {
        case_id: _render(s, t, p, e.get("dtype", "float32")) for case_id, s, t, p, e in QUICK
    }
    assert "acc_lo, acc_hi = tl.split" in sources["activations-subtiled-epilogue"]
    assert "_kv_reduce_kernel" in sources["matvec-gemv-split"]
    assert "_kv_gemv_kernel" in sources["vecmat-gemv-thin-m"]
    assert "BLOCK_W columns of B" in sources["vecmat-gemv-thin-m"]
    assert "_kv_reduce_kernel" in sources["skinny-splitk"]


def test_tiled_kernel_compiles_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = [
        {
            **_case("cuda", g.MM_ACTIVATIONS, _render(g.MM_ACTIVATIONS, fx.H100, dtype="float16")),
            "dtype": "float16",
            "targets": ["cuda:90"],
        },
        {
            **_case("hip", g.MM_ACTIVATIONS, _render(g.MM_ACTIVATIONS, fx.MI300X, dtype="float16")),
            "dtype": "float16",
            "targets": ["hip:gfx942"],
        },
    ]
    results = fx.run_harness("compile", cases, tmp_path)
    assert results["cuda"]["ok"], results["cuda"]
    assert results["hip"]["ok"], results["hip"]
    assert all(k["vgpr_spill"] == 0 for k in results["hip"]["kernels"])


# ---- slow: full coverage ----------------------------------------------------------------------
ALL = {
    "linear_epilogue": g.LINEAR_EPILOGUE,
    "mm_activations": g.MM_ACTIVATIONS,
    "more_activations": g.MORE_ACTIVATIONS,
    "baddbmm": g.BADDBMM,
    "einsum": g.EINSUM,
    "matvec": g.MATVEC,
    "vecmat": g.VECMAT,
    "thin3": g.THIN3,
    "skinny": g.SKINNY,
    "linear_sum": g.LINEAR_SUM,
    "linear_sum_keepdim": g.LINEAR_SUM_KEEPDIM,
    "two_linears": g.TWO_LINEARS,
}
PARAM_FREE = ("einsum", "matvec", "thin3", "skinny")
"""References whose factors are all inputs: fp16/bf16 compile cases need no cast weights."""


@pytest.mark.slow
def test_every_seed_and_random_configs_match_reference(tmp_path: Path) -> None:
    cases = []
    rng = random.Random(0)
    for name, source in ALL.items():
        for target in (fx.H100, fx.MI300X):
            problem = g.problem(source, name)
            for i, draft in enumerate(CODER.seed(problem, target)):
                cases.append(
                    _case(f"{name}-{target.name}-{i}", source, draft.source, noncontiguous=i == 0)
                )
            space = CODER.space(CODER.spec_for(problem, target), target)
            for j in range(2):
                params = space.random_config(rng)
                assert params is not None
                rendered = CODER.render(problem, CODER.spec_for(problem, target), target, params)
                cases.append(_case(f"{name}-{target.name}-random{j}-{params}", source, rendered))
        half = _render(source, fx.H100, dtype="float16")
        cases.append(_case(f"{name}-fp16", source, half, **FP16))
    fx.run_all_ok("check", cases, tmp_path, interpret=True, timeout=1800)


@pytest.mark.slow
def test_every_variant_compiles_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = []
    for name, source in ALL.items():
        for target, arch in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
            for i, draft in enumerate(CODER.seed(g.problem(source, name), target)):
                cases.append(
                    {**_case(f"{name}-{arch}-{i}", source, draft.source), "targets": [arch]}
                )
    for name in PARAM_FREE:
        for dtype in ("float16", "bfloat16"):
            for target, arch in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
                rendered = _render(ALL[name], target, dtype=dtype)
                cases.append(
                    {
                        **_case(f"{name}-{dtype}-{arch}", ALL[name], rendered),
                        "dtype": dtype,
                        "targets": [arch],
                    }
                )
    results = fx.run_harness("compile", cases, tmp_path, timeout=3000)
    failed = {k: v.get("error") for k, v in results.items() if not v["ok"]}
    assert not failed, failed
    spills = [k for k, v in results.items() for kern in v["kernels"] if kern.get("vgpr_spill")]
    assert not spills, spills


BIG_FP16 = model_source(
    "return F.gelu(self.linear(x)) * 0.5 + r",
    "torch.randn(1024, 2048), torch.randn(1024, 2048)",
    args="x, r",
    init="self.linear = nn.Linear(2048, 2048)",
)


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1, 2])
def test_h100_fp16_seeds_pipeline_without_spills(tmp_path: Path, index: int) -> None:
    candidate = _render(BIG_FP16, fx.H100, dtype="float16", index=index)
    spec = {"reference": BIG_FP16, "candidate": candidate, "dtype": "float16"}
    (kernel,) = fx.run_script(Path(__file__).with_name("probe.py"), spec, tmp_path, timeout=900)
    assert kernel["stack"] == 0, kernel  # no register spills
    assert kernel["async_copies"] > 0, kernel  # the K loop is software-pipelined
