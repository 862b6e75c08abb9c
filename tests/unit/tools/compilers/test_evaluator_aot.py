"""Launch recording and the ahead-of-time Triton compile (no GPU: compiles for sm_90/gfx942)."""

from __future__ import annotations

import os

import pytest
import torch

triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")

from tools.compilers import triton_aot
from tools.errors import CompileError
from tools.evaluator.launches import LaunchRecorder, _describe

pytestmark = pytest.mark.skipif(
    os.environ.get("TRITON_INTERPRET") == "1", reason="needs real @triton.jit functions"
)


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    # Bytes moved: 3 * n * 4 (two reads, one write).
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(
        out_ptr + offs,
        tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask),
        mask=mask,
    )


def _record(n: int = 4096, block: int = 1024):
    x, y, out = torch.randn(n), torch.randn(n), torch.empty(n)

    def grid(meta):
        return (triton.cdiv(meta["n"], meta["BLOCK"]),)

    return _describe(
        add_kernel.fn, add_kernel, (x, y, out, n), {"BLOCK": block, "num_warps": 4}, grid
    )


def test_describe_builds_signature_constexprs_and_grid():
    rec = _record()
    assert rec.signature == {
        "x_ptr": "*fp32",
        "y_ptr": "*fp32",
        "out_ptr": "*fp32",
        "n": "i32",
        "BLOCK": "constexpr",
    }
    assert rec.constexprs == {"BLOCK": 1024}
    assert rec.grid == [4, 1, 1] and rec.num_warps == 4 and rec.num_stages is None
    assert {"x_ptr", "n"} <= set(rec.aligned)
    assert rec.tensor_arg_bytes == 3 * 4096 * 4 and not rec.unsupported
    one = _record(n=1)
    assert one.signature["n"] == "constexpr" and one.constexprs["n"] == 1


def test_recorder_dedupes_variants():
    rec = LaunchRecorder()
    rec.records = [_record(), _record(), _record(block=512)]
    assert len(rec.distinct()) == 2


def test_compile_for_sm90_reads_registers_and_shared_memory():
    launch = _record().to_json()
    kernel = triton_aot.compile_launch(add_kernel, launch, "cuda", 90, 32)
    res = triton_aot.resources(kernel, "cuda")
    assert res["registers"] > 0 and res["spill_bytes"] == 0
    assert res["shared_bytes"] >= 0 and res["num_warps"] == 4


def test_compile_for_gfx942_reads_vgprs():
    launch = _record().to_json()
    kernel = triton_aot.compile_launch(add_kernel, launch, "hip", "gfx942", 64)
    res = triton_aot.resources(kernel, "hip")
    assert res["vgprs"] > 0 and res["sgprs"] > 0 and res["registers"] >= res["vgprs"]


def test_compile_error_is_one_sentence():
    launch = _record().to_json()
    launch["constexprs"] = {"BLOCK": 1000}  # not a power of two: tl.arange rejects it
    with pytest.raises(CompileError, match="could not compile add_kernel"):
        triton_aot.compile_launch(add_kernel, launch, "cuda", 90, 32)
