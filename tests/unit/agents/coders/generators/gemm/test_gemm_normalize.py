"""GEMM generator: call-time shapes (irregular sizes) and F.normalize-d factors folded as scales.

Regression for ``049_vecmat_fp16`` (its seeds baked the traced output shape ``(8192,)`` in and
failed at every other size) and ``071_clip_logits_fp16`` (``exp(s) * normalize(img) @
normalize(txt).t()``, now one tiled kernel: the row norms accumulate over the K loop from the
tiles already loaded and scale the accumulator, the scalar is an epilogue factor).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from agents.coders.generators.gemm import GemmCoder, analyze_gemm
from agents.coders.generators.gemm.shapes import eval_spec, shape_spec
from tests.support import REPO, model_source
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.gemm import fixtures as g
from tools.errors import ProblemError
from tools.hardware import load_target
from tools.problems.loader import load_problem_file
from tools.problems.resize import resize_source

CODER = GemmCoder()
SUITE = REPO / "evals" / "problems" / "kernelbench_h100"
H100 = load_target("h100")

_HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
CLIP = model_source(
    """
        img = F.normalize(img, dim=-1)
        txt = F.normalize(txt, dim=-1)
        return self.logit_scale.exp() * img @ txt.t()
    """,
    "torch.randn(IMAGES, 70), torch.randn(TEXTS, 70)",
    args="img, txt",
    init="self.logit_scale = nn.Parameter(torch.tensor(2.6592))",
)
"""CLIP logits; ``IMAGES``/``TEXTS`` are substituted (rendered at one size, checked at another)."""

COSINE_LINEAR = model_source(
    "return F.linear(x, F.normalize(self.weight, dim=1)) * 16.0",
    "torch.randn(2, 19, 70)",
    init="self.weight = nn.Parameter(torch.randn(45, 70))",
)
"""A cosine classifier: only B (the weight, normalised over K) folds; 3-D input; a constant."""

NORM_A = model_source(
    "return torch.relu(F.normalize(x, p=2.0, dim=1, eps=1e-6) @ w)",
    "torch.randn(37, 70), torch.randn(70, 45)",
    args="x, w",
)

WRONG_DIM = model_source(
    "return F.normalize(x, dim=0) @ w",
    "torch.randn(37, 70), torch.randn(70, 45)",
    args="x, w",
)


def _clip(images: int, texts: int) -> str:
    return CLIP.replace("IMAGES", str(images)).replace("TEXTS", str(texts))


# ---- call-time shapes -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("src", "dst", "other", "expected"),
    [
        ((1, 8192), (8192,), (1, 272), (272,)),  # 049: squeeze of the product
        ((2, 9, 40), (18, 40), (3, 5, 7), (15, 7)),  # leading dims folded into M
        ((8192,), (1, 8192), (300,), (1, 300)),  # unsqueeze
        ((18, 24), (18, 1, 24), (7, 5), (7, 1, 5)),
        ((18, 24), (2, 9, 24), (36, 5), (4, 9, 5)),  # a split: first part inferred
    ],
)
def test_shape_spec_follows_the_call_size(
    src: tuple, dst: tuple, other: tuple, expected: tuple
) -> None:
    spec = shape_spec(src, dst)
    assert eval_spec(src, spec) == dst
    assert eval_spec(other, spec) == expected


def test_shape_spec_keeps_a_broadcast_literal() -> None:
    assert shape_spec((1, 24), (18, 24)) == (18, 24)


def test_vecmat_suite_output_shape_is_not_baked() -> None:
    problem = load_problem_file(SUITE / "049_vecmat_fp16.py")
    for draft in CODER.seed(problem, H100):
        assert "_KV_OUT_SHAPE = ((1, 2),)" in draft.source
        assert "8192" not in draft.source.split("class ModelNew")[0].split("_KV_OUT_SHAPE")[1]


def test_vecmat_first_seed_reads_wide_contiguous_rows() -> None:
    first = CODER.seed(load_problem_file(SUITE / "049_vecmat_fp16.py"), H100)[0].params
    assert first["variant"] == "gemv" and first["BLOCK_W"] == 128 and first["SPLIT_K"] > 1
    for name in ("047_gemv_decode_fp16.py", "048_mv_fp32.py"):  # contiguous along K: unchanged
        params = CODER.seed(load_problem_file(SUITE / name), H100)[0].params
        assert (params["BLOCK_W"], params["BLOCK_K"]) == (16, 256)


def _resized_cases(name: str, sizes: dict[str, int], dtype: str) -> list[dict[str, Any]]:
    """Every seed rendered from the suite file, checked at other (irregular) sizes."""
    path = SUITE / name
    small = resize_source(path.read_text(), sizes)
    tol = {"atol": 2e-2, "rtol": 2e-2} if dtype == "float16" else {"atol": 1e-3, "rtol": 1e-4}
    return [
        {
            "id": f"{name}-{i}",
            "reference": small,
            "candidate": d.source,
            "seeds": [0],
            "dtype": dtype,
            **tol,
        }
        for i, d in enumerate(CODER.seed(load_problem_file(path), H100))
    ]


# ---- recognising normalised factors ---------------------------------------------------------
def test_clip_suite_file_is_claimed_with_folded_norms() -> None:
    problem = load_problem_file(SUITE / "071_clip_logits_fp16.py")
    spec = analyze_gemm(problem)
    plan = spec.plans["none"]
    assert plan.a.norm_eps == 1e-12 and plan.b.norm_eps == 1e-12
    assert plan.a.scalars and not plan.b.scalars and plan.tiled_only
    assert [s.op for s in plan.steps] == ["exp", "mul"]
    seeds = [d.params for d in CODER.seed(problem, H100)]
    assert seeds[0]["variant"] == "tiled"
    assert (seeds[0]["BLOCK_M"], seeds[0]["BLOCK_N"], seeds[0]["BLOCK_K"]) == (128, 128, 64)
    assert seeds[0]["num_warps"] == 8 and seeds[0]["GROUP_M"] == 8
    assert all(p["variant"] == "tiled" for p in seeds)
    space = CODER.space(CODER.spec_for(problem, H100), H100)
    assert "gemv" not in space.variants
    assert not space.is_legal({**seeds[0], "variant": "splitk", "SPLIT_K": 2})


def test_normalising_over_another_dim_is_declined() -> None:
    with pytest.raises(ProblemError, match="div"):
        analyze_gemm(g.problem(WRONG_DIM, "wrong_dim"))


@pytest.mark.parametrize("source", [_clip(37, 45), COSINE_LINEAR, NORM_A])
def test_folded_plan_equals_reference_on_random_inputs(source: str) -> None:
    plan = analyze_gemm(g.problem(source, "fold")).plans["none"]
    assert plan.a.norm_eps is not None or plan.b.norm_eps is not None
    for seed in (0, 1):
        model, inputs = g.reference_and_inputs(source, seed)
        names = analyze_gemm(g.problem(source, "fold")).forward_args
        got = g.evaluate_plan(plan, model, dict(zip(names, inputs, strict=True)))
        with torch.no_grad():
            want = model(*inputs)
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)


# ---- kernels ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    rendered = g.problem(_clip(37, 45), "clip")
    clip_candidate = CODER.seed(rendered, H100)[0].source
    fp16 = {"dtype": "float16", "atol": 2e-2, "rtol": 2e-2}
    cases = [
        {"id": "clip-irregular", "reference": _clip(21, 50), "candidate": clip_candidate},
        {
            "id": "clip-fp16",
            "reference": _clip(37, 45),
            **fp16,
            "candidate": CODER.seed(g.problem(_clip(37, 45), "c", "float16"), H100)[0].source,
        },
        {
            "id": "cosine-linear",
            "reference": COSINE_LINEAR,
            "candidate": CODER.seed(g.problem(COSINE_LINEAR, "cos"), H100)[0].source,
        },
        {
            "id": "norm-a",
            "reference": NORM_A,
            "noncontiguous": True,
            "candidate": CODER.seed(g.problem(NORM_A, "na"), H100)[1].source,
        },
    ]
    cases = [{"seeds": [0], "atol": 1e-3, "rtol": 1e-4, **c} for c in cases]
    cases += _resized_cases("049_vecmat_fp16.py", {"ROWS": 400, "COLS": 272}, "float16")
    cases += _resized_cases(
        "047_gemv_decode_fp16.py", {"IN_FEATURES": 96, "OUT_FEATURES": 80}, "float16"
    )
    cases += _resized_cases("048_mv_fp32.py", {"ROWS": 37, "COLS": 70}, "float32")
    return fx.run_harness("check", cases, tmp_path_factory.mktemp("gemm_norm"), interpret=True)


def test_folded_norm_kernels_match_reference(checked: dict[str, dict[str, Any]]) -> None:
    for case_id in ("clip-irregular", "clip-fp16", "cosine-linear", "norm-a"):
        assert checked[case_id]["ok"], (case_id, checked[case_id])


def test_suite_gemv_seeds_match_reference_at_other_sizes(
    checked: dict[str, dict[str, Any]],
) -> None:
    suite = {k: v for k, v in checked.items() if k.startswith("04")}
    assert len(suite) >= 6
    failed = {k: v for k, v in suite.items() if not v["ok"]}
    assert not failed, failed


def test_clip_seeds_compile_for_sm90_and_gfx942(tmp_path: Path) -> None:
    source = _clip(256, 512)
    cases = [
        {
            "id": f"cuda{i}",
            "reference": source,
            "candidate": d.source,
            "dtype": "float16",
            "seeds": [0],
            "targets": ["cuda:90"],
        }
        for i, d in enumerate(CODER.seed(g.problem(source, "c", "float16"), H100)[:2])
    ]
    mi300 = load_target("mi300x")
    cases.append(
        {
            "id": "hip",
            "reference": source,
            "dtype": "float16",
            "seeds": [0],
            "candidate": CODER.seed(g.problem(source, "c", "float16"), mi300)[0].source,
            "targets": ["hip:gfx942"],
        }
    )
    results = fx.run_harness("compile", cases, tmp_path)
    for case_id in ("cuda0", "cuda1", "hip"):
        assert results[case_id]["ok"], (case_id, results[case_id])
    assert all(k["vgpr_spill"] == 0 for k in results["hip"]["kernels"])


@pytest.mark.slow
def test_evaluator_accepts_the_folded_clip_seed_at_fp16(tmp_path: Path) -> None:
    small = resize_source(
        (SUITE / "071_clip_logits_fp16.py").read_text(), {"IMAGES": 48, "TEXTS": 80, "DIM": 96}
    )
    (tmp_path / "problem.py").write_text(small)
    draft = CODER.seed(load_problem_file(SUITE / "071_clip_logits_fp16.py"), H100)[0]
    (tmp_path / "cand.py").write_text(draft.source)
    env = {**os.environ, "TRITON_INTERPRET": "1", "TRITON_CACHE_DIR": str(tmp_path / "tc")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kevolve.cli",
            "check",
            "problem.py",
            "cand.py",
            "--target",
            "h100",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0 and "accepted" in proc.stdout, (
        proc.stdout[-2000:] + proc.stderr[-2000:]
    )


# ---- 071 on sm_90: the K loop of a normalised product must stay a plain product ------------
def _k_loop(source: str) -> str:
    """The body of the tiled kernel's K loop in a rendered module."""
    kernel = source.split("def _kv_gemm_kernel(")[1]
    return kernel.split("for k in range(0, k_len // BLOCK_K):")[1].split("rows64 = offs_m")[0]


def test_clip_suite_seeds_reduce_no_tile_inside_the_k_loop() -> None:
    # Regression: the sums of squares were taken from the A/B tiles that also feed tl.dot; on
    # the H100 (triton 3.6) that changed the wgmma software pipeline (a 2-deep shared-memory
    # ring read back into registers next to the async wgmma) and the 128x256 and 128x64 seeds
    # returned wrong logits (24.6M and 16666 of 67M elements). The norms are now a pre-pass.
    drafts = CODER.seed(load_problem_file(SUITE / "071_clip_logits_fp16.py"), H100)
    assert [(d.params["BLOCK_M"], d.params["BLOCK_N"]) for d in drafts] == [
        (128, 128),
        (128, 256),
        (128, 64),
    ]
    for d in drafts:
        loop = _k_loop(d.source)
        assert "tl.dot(a, b, acc" in loop
        assert "tl.sum" not in loop and "a32" not in loop and "b32" not in loop, loop
        assert "_kv_inv_norms(a3, 1e-12), _kv_inv_norms(b3.transpose(1, 2), 1e-12)" in d.source


@pytest.mark.slow
def test_clip_suite_seeds_match_reference_with_their_exact_tiles(tmp_path: Path) -> None:
    # Rendered from the full-size suite file (the exact seed params), checked at 256x512x320:
    # two N tiles of the 128x256 seed, eight of the 128x64 one, grouped order, a K tail.
    small = resize_source(
        (SUITE / "071_clip_logits_fp16.py").read_text(), {"IMAGES": 256, "TEXTS": 512, "DIM": 320}
    )
    drafts = CODER.seed(load_problem_file(SUITE / "071_clip_logits_fp16.py"), H100)
    cases = [fx.case(f"clip-seed{i}", small, d.source, **fx.FP16) for i, d in enumerate(drafts)]
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    for case in cases:
        assert results[case["id"]]["ok"], (case["id"], results[case["id"]])
