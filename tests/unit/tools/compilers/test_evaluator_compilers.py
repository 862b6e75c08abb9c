"""Compiler helpers: C++ recipe values and the nvcc resource-usage check."""

from __future__ import annotations

import pytest

from tools.compilers import cpp, nvcc
from tools.errors import CompileError

PTXAS = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z1kPfi' for 'sm_90'
ptxas info    : Function properties for _Z1kPfi
    0 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 40 registers, used 1 barriers, 1024 bytes smem
"""


def test_cpp_recipe_values():
    assert "-O3" in cpp.CPP_FLAGS and "-fopenmp" in cpp.LD_FLAGS
    assert "-ffast-math" not in cpp.CPP_FLAGS
    name = cpp.extension_name("int x;")
    assert name.startswith("kevolve_") and len(name) == len("kevolve_") + 16
    assert name != cpp.extension_name("int y;")


def test_parse_ptxas_resource_usage():
    (k,) = nvcc.parse_resource_usage(PTXAS)
    assert k == {
        "name": "_Z1kPfi",
        "arch": "sm_90",
        "stack_bytes": 0,
        "spill_store_bytes": 8,
        "spill_load_bytes": 4,
        "registers": 40,
        "shared_bytes": 1024,
    }


@pytest.mark.skipif(nvcc.nvcc_path() is None, reason="nvcc not installed")
def test_nvcc_compile_check():
    src = (
        "__global__ void scale(float* x, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x;"
        " if (i < n) x[i] *= 2.f; }\n"
    )
    (k,) = nvcc.resource_usage(src, "sm_90")
    assert k["registers"] > 0 and k["spill_store_bytes"] == 0
    with pytest.raises(CompileError, match="could not compile"):
        nvcc.resource_usage("__global__ void broken( {}", "sm_90")
