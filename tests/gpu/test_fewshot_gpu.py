"""The CUDA few-shot kernel, rendered from its dialect template, compiles and is correct on
the GPU (the HIP one needs a ROCm machine; on CUDA its source is only rendered)."""

from __future__ import annotations

import pytest
import torch

from agents.llm_coder.context import fewshot_sources
from agents.llm_coder.fewshot import FEWSHOT_DIR
from tests.support import load_module

pytestmark = pytest.mark.gpu


def test_the_cuda_fewshot_matches_its_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    [source] = fewshot_sources("cuda")
    (tmp_path / "cuda_fewshot.py").write_text(source)
    new = load_module(tmp_path / "cuda_fewshot.py")
    ref = load_module(FEWSHOT_DIR / "reference_softmax.py", "fewshot_reference")
    for rows, cols in ((8, 1000), (128, 4097), (3, 33)):
        x = torch.randn(rows, cols, device="cuda")
        torch.testing.assert_close(new.ModelNew()(x), ref.Model()(x), rtol=1e-5, atol=1e-6)
