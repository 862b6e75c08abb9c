"""CPU C++ candidates: the compile flags and the one recipe every C++ candidate follows.

Candidates are self-contained KernelBench files, so they cannot import this module; the
coder templates do, and write its values into the candidate's source. The recipe:

.. code-block:: python

    import hashlib
    import torch
    from torch.utils.cpp_extension import load_inline

    CPP_SOURCE = r'''
    #include <pybind11/pybind11.h>
    #include <cstdint>
    static void softmax_rows(std::uintptr_t x, std::uintptr_t out, long rows, long cols) {
        const float* in = reinterpret_cast<const float*>(x);
        float* o = reinterpret_cast<float*>(out);
        #pragma omp parallel for
        for (long r = 0; r < rows; ++r) { /* ... */ }
    }
    PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("softmax_rows", &softmax_rows); }
    '''
    _ext = load_inline(
        name="kevolve_" + hashlib.sha256(CPP_SOURCE.encode()).hexdigest()[:16],
        cpp_sources=[CPP_SOURCE],
        no_implicit_headers=True,
        extra_cflags=CPP_FLAGS,        # the list below, written out literally
        extra_ldflags=LD_FLAGS,
        verbose=False,
    )

    class ModelNew(torch.nn.Module):
        def forward(self, x):
            x = x.contiguous()
            out = torch.empty_like(x)
            _ext.softmax_rows(x.data_ptr(), out.data_ptr(), x.shape[0], x.shape[1])
            return out

Why this shape:

- Only ``<pybind11/pybind11.h>`` with ``no_implicit_headers=True``: skipping
  ``torch/extension.h`` cut a build from about 47 s to 13 s on the development machine.
  Tensors cross the boundary as ``data_ptr()`` integers; the Python wrapper checks
  contiguity, dtype and allocates outputs (as a Triton wrapper would).
- The extension name carries a hash of the source, so ``TORCH_EXTENSIONS_DIR`` (set by the
  evaluator under ``EvalOptions.cache_dir``) caches the build across processes and a changed
  source never loads a stale library.
- ``-march=native`` is right because the build runs on the machine that times it (the
  evaluator's worker); an exported kernel is rebuilt on the user's machine.
"""

from __future__ import annotations

import hashlib

CPP_FLAGS: list[str] = [
    "-O3",
    "-march=native",
    "-fopenmp",
    "-ffp-contract=fast",
    "-fno-trapping-math",
    "-DNDEBUG",
]
"""``extra_cflags`` for ``load_inline``. No ``-ffast-math``: it breaks NaN/inf semantics that
the correctness check compares against the reference. ``-fno-trapping-math`` changes no value
(only whether floating-point exception flags are preserved), but without it GCC will not
if-convert float selects (``x < lo ? 0.0f : y``), so a loop calling an inlined exp or any
branchy float code stays scalar: the offline softmax ran 4-5x slower per element for that."""

LD_FLAGS: list[str] = ["-fopenmp"]
"""``extra_ldflags`` for ``load_inline`` (OpenMP runtime)."""


def extension_name(source: str) -> str:
    """The ``load_inline`` name for ``source``: ``kevolve_`` plus 16 hex digits of its SHA-256."""
    return "kevolve_" + hashlib.sha256(source.encode()).hexdigest()[:16]
