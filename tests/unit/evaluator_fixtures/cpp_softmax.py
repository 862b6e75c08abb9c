"""Honest CPU C++ candidate following tools/compilers/cpp.py's recipe: pybind11 only,
data_ptr() integers, OpenMP over rows, the extension named by a hash of its source."""

import hashlib

import torch
from torch import nn
from torch.utils.cpp_extension import load_inline

CPP_SOURCE = r"""
#include <pybind11/pybind11.h>
#include <cmath>
#include <cstdint>

// Bytes moved: one read and one write of each row (2 * rows * cols * 4).
static void softmax_rows(std::uintptr_t x_ptr, std::uintptr_t out_ptr, long rows, long cols) {
    const float* x = reinterpret_cast<const float*>(x_ptr);
    float* out = reinterpret_cast<float*>(out_ptr);
    #pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; ++r) {
        const float* row = x + r * cols;
        float* o = out + r * cols;
        float m = -INFINITY;
        for (long c = 0; c < cols; ++c) m = row[c] > m ? row[c] : m;
        float s = 0.f;
        for (long c = 0; c < cols; ++c) { o[c] = std::exp(row[c] - m); s += o[c]; }
        const float inv = 1.f / s;
        for (long c = 0; c < cols; ++c) o[c] *= inv;
    }
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("softmax_rows", &softmax_rows); }
"""

_ext = load_inline(
    name="kevolve_" + hashlib.sha256(CPP_SOURCE.encode()).hexdigest()[:16],
    cpp_sources=[CPP_SOURCE],
    no_implicit_headers=True,
    extra_cflags=["-O3", "-march=native", "-fopenmp", "-ffp-contract=fast", "-DNDEBUG"],
    extra_ldflags=["-fopenmp"],
    verbose=False,
)


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.float32 and x.dim() == 2
        x = x.contiguous()
        out = torch.empty_like(x)
        _ext.softmax_rows(x.data_ptr(), out.data_ptr(), x.shape[0], x.shape[1])
        return out
