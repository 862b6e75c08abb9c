"""Classification from the problem's own counts, not a family table.

A KernelBench file has no family the bench knows (``unknown``); its traced bytes and FLOPs
decide memory- vs compute-bound, and the row is judged against that ceiling in its dtype.
"""

from __future__ import annotations

import pytest

from kevolve.bench_stats import ProblemRow, with_fraction
from tests.support import KERNELBENCH_SOFTMAX
from tests.targets import ceilings
from tools.ceilings import bound_kind
from tools.problems.counts import problem_counts

H100 = ceilings(3000.0, fp32=50.0, fp16=700.0)

GEMM = '''import torch
import torch.nn as nn

class Model(nn.Module):
    def forward(self, A, B):
        return torch.matmul(A, B)

N = 2048 * 2
DTYPE = torch.float32

def get_inputs():
    return [torch.rand(N, N, dtype=DTYPE), torch.rand(N, N, dtype=DTYPE)]

def get_init_inputs():
    return []
'''
SKINNY = GEMM.replace("torch.rand(N, N, dtype=DTYPE), torch.rand(N, N", "torch.rand(8, N, dtype=DTYPE), torch.rand(N, N")
SOFTMAX = KERNELBENCH_SOFTMAX.read_text()


@pytest.mark.parametrize(
    ("source", "dtype", "kind"),
    [
        (GEMM, "float32", "compute"),
        (GEMM.replace("torch.float32", "torch.float16"), "float16", "compute"),
        (SKINNY.replace("torch.float32", "torch.float16"), "float16", "memory"),
        (SOFTMAX, "float32", "memory"),
    ],
)
def test_counts_decide_the_bound(source, dtype, kind):
    counts = problem_counts(source)  # meta device: the 6 GiB softmax allocates nothing
    assert counts is not None and counts.bytes_floor > 0
    assert bound_kind(counts.bytes_floor, counts.flops, dtype, H100) == kind


def test_gemm_bytes_floor_and_flops_are_counted_exactly():
    counts = problem_counts(GEMM)
    n = 4096
    assert counts.flops == 2 * n**3 and counts.matmul_flops == 2 * n**3
    assert counts.bytes_floor == 3 * n * n * 4  # A, B read once, C written once


def test_an_unknown_family_gemm_row_is_judged_against_its_dtypes_matmul_ceiling():
    n = 4096
    seconds = 2 * n**3 / 50e12  # exactly at the fp32 matmul ceiling
    row = ProblemRow(
        name="1_Square_matrix_multiplication_", file="x.py", family="unknown", kind="memory",
        dtype="float32", correct=True, bytes_moved=3 * n * n * 4, flops=2 * n**3,
        ours_ms=seconds * 1e3, achieved_tflops=50.0, achieved_gbps=3 * n * n * 4 / seconds / 1e9,
    )  # fmt: skip
    judged = with_fraction(row, H100)
    assert judged.kind == "compute" and judged.ceiling == "matmul_fp32"
    assert judged.fraction_of_ceiling == pytest.approx(1.0)
    fp16 = with_fraction(row.model_copy(update={"dtype": "float16", "achieved_tflops": 350.0}), H100)
    assert fp16.ceiling == "matmul_fp16" and fp16.fraction_of_ceiling == pytest.approx(0.5)
