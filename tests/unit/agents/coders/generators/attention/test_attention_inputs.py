"""Attention with grouped k/v heads and masks passed as inputs (suite files 052 and 054).

Recognition runs in-process on the meta device. Correctness runs reference and candidate
in a subprocess under ``TRITON_INTERPRET=1`` with this file's own small runner (the shared
harness casts every input to float, which would turn a boolean mask into an additive one);
AOT compiles use ``tests/unit/agents/coders/harness.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.coders.generators.attention import AttentionSpec, analyze_attention
from tests.support import SUITE
from tests.unit.agents.coders import fixtures as fx
from tests.unit.agents.coders.generators.attention.test_attention import CODER, attention_problem
from tools.errors import ProblemError
from tools.problems.loader import load_problem_file
from tools.problems.resize import resize_source
from tools.records import Problem

GQA, PADDING = SUITE / "052_gqa_causal_fp16.py", SUITE / "054_attention_padding_mask_fp16.py"

GQA_EXPAND = (
    "        b, hk, s, d = k.shape\n"
    "        g = q.size(1) // hk\n"
    "        k = k[:, :, None].expand(b, hk, g, s, d).reshape(b, hk * g, s, d)\n"
    "        v = v[:, :, None].expand(b, hk, g, s, d).reshape(b, hk * g, s, d)\n"
    "        return F.scaled_dot_product_attention(q, k, v)"
)
MASK_BODIES = {
    "fill_not_keep": (
        "        s = (q @ k.transpose(-2, -1)) * 0.25\n"
        "        return torch.softmax(s.masked_fill(~keep, float('-inf')), -1) @ v"
    ),
    "where_keep": (
        "        s = torch.where(keep, q @ k.transpose(-2, -1), float('-inf')) * 0.25\n"
        "        return torch.softmax(s, -1) @ v"
    ),
    "fill_drop": (
        "        s = (q @ k.transpose(-2, -1)) * 0.25\n"
        "        return torch.softmax(s.masked_fill(keep, float('-inf')), -1) @ v"
    ),
    "sdpa_bool": "        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)",
    "sdpa_bias": "        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)",
    "bias_then_scale": (
        "        s = (q @ k.transpose(-2, -1) + keep) * 0.5\n"
        "        return torch.softmax(s, -1) @ v"
    ),
}


def _masked_problem(body: str, q: str, mask: str, dtype: str = "float32") -> Problem:
    """Attention of ``body`` with a mask input ``keep`` built by the expression ``mask``."""
    return attention_problem(
        MASK_BODIES[body], q, dtype=dtype, extra=", keep", more=f", {mask}", name=body
    )


def _suite(path: Path) -> Problem:
    return load_problem_file(path)


# ---- claims and recognition ----------------------------------------------------------------
def test_gqa_suite_file_is_claimed_with_a_head_group() -> None:
    spec = analyze_attention(_suite(GQA))
    assert (spec.group, spec.causal, spec.causal_offset, spec.form) == (4, True, 0, "sdpa")
    assert spec.batch == (2, 32) and spec.mask_arg is None
    seeds = CODER.seed(_suite(GQA), fx.H100)
    assert seeds and "_kv_attention(q, k, v)" in seeds[0].source


def test_padding_mask_suite_file_is_claimed_with_its_mask_input() -> None:
    spec = analyze_attention(_suite(PADDING))
    assert (spec.mask_arg, spec.mask_kind, spec.form, spec.causal) == (3, "keep", "sdpa", False)
    source = CODER.seed(_suite(PADDING), fx.H100)[0].source
    assert "_kv_attention(q, k, v, keep)" in source and "GUARD=True" in source


def test_sm90_seeds_for_the_suite_files_are_the_expert_tiles() -> None:
    gqa = CODER.seed_params(analyze_attention(_suite(GQA)), fx.H100)[0]
    assert (gqa["BLOCK_M"], gqa["BLOCK_N"], gqa["num_warps"], gqa["num_stages"]) == (128, 64, 8, 3)
    pad = CODER.seed_params(analyze_attention(_suite(PADDING)), fx.H100)[0]
    assert (pad["BLOCK_M"], pad["num_warps"]) == (128, 4)


@pytest.mark.parametrize(
    ("body", "mask", "kind"),
    [
        ("fill_not_keep", "torch.rand(2, 1, 1, 40) > 0.3", "keep"),
        ("where_keep", "torch.rand(2, 3, 40, 40) > 0.3", "keep"),
        ("sdpa_bias", "torch.randn(1, 40, 40)", "add"),
        ("bias_then_scale", "torch.randn(40, 40)", "add"),
    ],
)
def test_mask_inputs_are_recognised(body: str, mask: str, kind: str) -> None:
    spec = analyze_attention(_masked_problem(body, "2, 3, 40, 32", mask))
    assert isinstance(spec, AttentionSpec)
    assert (spec.mask_arg, spec.mask_kind) == (3, kind)
    assert spec.mask_scale == (0.5 if body == "bias_then_scale" else 1.0)


def test_expand_reshape_gqa_is_recognised() -> None:
    spec = analyze_attention(attention_problem(GQA_EXPAND, "2, 6, 40, 32", "2, 2, 40, 32"))
    assert spec.group == 3 and spec.batch == (2, 6)


@pytest.mark.parametrize(
    ("body", "k", "more", "words"),
    [  # repeat() tiles heads (h % Hkv), not h // G; a mask reshaped before use
        (
            (
                "        k = k.repeat(1, 3, 1, 1)\n        v = v.repeat(1, 3, 1, 1)\n"
                "        return F.scaled_dot_product_attention(q, k, v)"
            ),
            "2, 2, 40, 32",
            "",
            "repeat",
        ),
        (
            "        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep.view(2, 1, 1, 40))",
            "2, 6, 40, 32",
            ", torch.rand(2, 40) > 0.5",
            "view from",
        ),
    ],
)
def test_other_head_repeats_and_reshaped_masks_are_declined(
    body: str, k: str, more: str, words: str
) -> None:
    extra = ", keep" if more else ""
    problem = attention_problem(body, "2, 6, 40, 32", k, extra=extra, more=more)
    with pytest.raises(ProblemError) as info:
        analyze_attention(problem)
    assert words in str(info.value) and "\n" not in str(info.value)


# ---- interpreter correctness ---------------------------------------------------------------
RUNNER = r"""
import json, sys, torch
cases, out = json.load(open(sys.argv[1])), {}
for case in cases:
    ref_ns, new_ns = {}, {}
    exec(compile(case["reference"], "reference", "exec"), ref_ns)
    exec(compile(case["candidate"], "candidate", "exec"), new_ns)
    dtype = getattr(torch, case["dtype"])
    torch.manual_seed(case.get("seed", 0))
    inputs = [t.to(dtype) if t.is_floating_point() else t for t in ref_ns["get_inputs"]()]
    if case.get("noncontiguous"):
        inputs = [t.transpose(-1, -2).contiguous().transpose(-1, -2) if t.dim() >= 2 else t for t in inputs]
    got = new_ns["ModelNew"](*ref_ns["get_init_inputs"]())(*inputs)
    floats = [t.float() if t.is_floating_point() else t for t in inputs]
    want = ref_ns["Model"](*ref_ns["get_init_inputs"]())(*floats)
    ok = got.shape == want.shape and got.dtype == dtype and torch.equal(got.isnan(), want.isnan())
    ok = ok and torch.allclose(got.float(), want, atol=case["atol"], rtol=case["rtol"], equal_nan=True)
    out[case["id"]] = {"ok": bool(ok), "nan_rows": int(want.isnan().any(-1).sum()),
                       "err": float((got.float() - want).nan_to_num().abs().max())}
print(json.dumps(out))
"""
TOL = {"float32": (1e-4, 1e-4), "float16": (3e-3, 1e-2)}


def _run(cases: list[dict[str, Any]], tmp: Path) -> dict[str, dict[str, Any]]:
    return fx.run_script(RUNNER, cases, tmp, interpret=True)


def _case(case_id: str, reference: str, candidate: str, dtype: str, **extra: Any) -> dict[str, Any]:
    atol, rtol = TOL[dtype]
    return {
        "id": case_id,
        "reference": reference,
        "candidate": candidate,
        "dtype": dtype,
        "atol": atol,
        "rtol": rtol,
        **extra,
    }


def _render(problem: Problem, **params: Any) -> str:
    spec = CODER.spec_for(problem, fx.H100)
    full = {"variant": "flash", "num_stages": 1, **params}
    assert CODER.space(spec, fx.H100).is_legal(full), full
    return CODER.render(problem, spec, fx.H100, full)


def _cases() -> list[dict[str, Any]]:
    gqa, pad = _suite(GQA), _suite(PADDING)
    gqa_small = resize_source(gqa.source, {"BATCH": 1, "SEQ": 48})
    pad_small = resize_source(pad.source, {"BATCH": 3, "HEADS": 2, "SEQ": 48})
    fill = _masked_problem("fill_not_keep", "2, 2, 45, 32", "torch.rand(2, 1, 45, 45) > 0.9")
    sdpa_rows = _masked_problem("sdpa_bool", "2, 2, 45, 32", "torch.rand(2, 2, 45, 45) > 0.9")
    bias = _masked_problem("bias_then_scale", "2, 2, 45, 32", "torch.randn(45, 45)")
    drop = _masked_problem("fill_drop", "2, 2, 45, 32", "torch.rand(2, 1, 1, 45) > 0.3")
    padded = _masked_problem(
        "sdpa_bool",
        "3, 2, 45, 32",
        "torch.arange(45) < torch.tensor([[[[3]]], [[[20]]], [[[45]]]])",
    )
    gqa3 = attention_problem(
        "        return F.scaled_dot_product_attention(q, k.repeat_interleave(2, 0),"
        " v.repeat_interleave(2, 0), is_causal=True)",
        "4, 40, 32",
        "2, 40, 32",
    )
    expand = attention_problem(GQA_EXPAND, "1, 6, 40, 32", "1, 2, 40, 32", dtype="float16")
    small = {"BLOCK_M": 16, "BLOCK_N": 16, "num_warps": 1}
    return [
        _case("gqa-suite-seed-fp16", gqa_small, CODER.seed(gqa, fx.H100)[0].source, "float16"),
        _case("gqa-suite-small-fp32", gqa_small, _render(gqa, **small), "float32"),
        _case("pad-suite-seed-fp16", pad_small, CODER.seed(pad, fx.H100)[0].source, "float16"),
        _case(
            "pad-suite-small-fp32", pad_small, _render(pad, **small), "float32", noncontiguous=True
        ),
        _case("fill-rows-nan-fp32", fill.source, _render(fill, **small), "float32"),
        _case("sdpa-rows-zero-fp32", sdpa_rows.source, _render(sdpa_rows, **small), "float32"),
        _case(
            "bias-scaled-fp32",
            bias.source,
            _render(bias, BLOCK_M=32, BLOCK_N=16, num_warps=2),
            "float32",
        ),
        _case("drop-keys-fp32", drop.source, _render(drop, **small), "float32"),
        _case("padded-prefix-fp32", padded.source, _render(padded, **small), "float32"),
        _case("gqa-3d-causal-fp32", gqa3.source, _render(gqa3, **small), "float32"),
        _case("gqa-expand-fp16", expand.source, CODER.seed(expand, fx.H100)[0].source, "float16"),
    ]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    cases = _cases()
    wrong = fx.broken("pad-mask-ignored", cases[2], "MASK=1 if", "MASK=0 if")
    return _run([*cases, wrong], tmp_path_factory.mktemp("attention_inputs"))


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c["id"] for c in _cases()])
def test_inputs_match_reference_in_interpreter(
    results: dict[str, dict[str, Any]], case_id: str
) -> None:
    assert results[case_id]["ok"], results[case_id]


@pytest.mark.slow
def test_fully_masked_rows_follow_the_reference(results: dict[str, dict[str, Any]]) -> None:
    """Explicit softmax of all -inf gives NaN rows; SDPA's guard gives zeros (no NaN)."""
    assert results["fill-rows-nan-fp32"]["nan_rows"] > 0
    assert results["sdpa-rows-zero-fp32"]["nan_rows"] == 0


@pytest.mark.slow
def test_ignoring_the_mask_is_caught(results: dict[str, dict[str, Any]]) -> None:
    assert not results["pad-mask-ignored"]["ok"]


@pytest.mark.slow
def test_suite_seeds_compile_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = []
    for path in (GQA, PADDING):
        problem = _suite(path)
        for target, arch in ((fx.H100, "cuda:90"), (fx.MI300X, "hip:gfx942")):
            for i, draft in enumerate(CODER.seed(problem, target)[:2]):
                small = resize_source(problem.source, {"BATCH": 1, "SEQ": 256})
                cases.append(
                    {
                        "id": f"{path.stem}-{arch}-{i}",
                        "reference": small,
                        "candidate": draft.source,
                        "targets": [arch],
                        "dtype": "float16",
                    }
                )
    found = fx.run_harness("compile", cases, tmp_path)
    failed = {k: v for k, v in found.items() if not v["ok"]}
    assert not failed, failed
    for case_id, result in found.items():
        assert result["kernels"][0]["kernel"] == "_kv_attention_kernel", case_id
        if "hip" in case_id:
            assert result["kernels"][0]["vgpr_spill"] == 0, (case_id, result)
