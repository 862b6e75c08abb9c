"""Subprocess harness for the scan/gather coder tests: the coder harness with integer inputs.

The shared harness (``tests/unit/agents/coders/harness.py``) casts every input to the case's float dtype,
which turns index, offset and length tensors into floats. This one reuses its loader,
strided-copy and signature helpers but casts only floating-point inputs, so embedding bags
and jagged segments run with their real integer (and boolean) inputs.

Usage: ``python harness.py SPEC.json`` prints one JSON object, ``{case_id: result}``.
Kept outside pytest's collection (no ``test_`` prefix); tests run it by path (``fixtures.run``).
"""

from __future__ import annotations

from typing import Any

import torch

from tests.unit.agents.coders import harness as base


def _cast(t: Any, dtype: torch.dtype) -> Any:
    return t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t


def check(case: dict[str, Any]) -> dict[str, Any]:
    """Reference (fp32) vs candidate (case dtype) on a few seeds, integer inputs kept."""
    ref_ns = base.load_source(case["reference"], "reference")
    new_ns = base.load_source(case["candidate"], "candidate")
    dtype = getattr(torch, case.get("dtype", "float32"))
    worst = 0.0
    for seed in case.get("seeds", [0, 1]):
        torch.manual_seed(seed)
        ref = ref_ns["Model"](*ref_ns["get_init_inputs"]())
        torch.manual_seed(seed)
        new = new_ns["ModelNew"](*ref_ns["get_init_inputs"]()).to(dtype)
        torch.manual_seed(1000 + seed)
        inputs = [_cast(t, dtype) for t in ref_ns["get_inputs"]()]
        cand = [base.strided(t) if case.get("noncontiguous") else t.clone() for t in inputs]
        before = [t.clone() for t in cand]
        out = new(*cand)
        with torch.no_grad():
            expected = ref.float()(*[_cast(t, torch.float32) for t in inputs])
        if any(not torch.equal(a, b) for a, b in zip(before, cand, strict=True)):
            return {"ok": False, "error": "candidate mutated its inputs"}
        if tuple(out.shape) != tuple(expected.shape):
            return {"ok": False, "error": f"shape {tuple(out.shape)} != {tuple(expected.shape)}"}
        if out.dtype != dtype:
            return {"ok": False, "error": f"dtype {out.dtype} != {dtype}"}
        err = (out.float() - expected).abs().nan_to_num(0.0)
        worst = max(worst, float(err.max()) if err.numel() else 0.0)
        atol, rtol = case.get("atol", 1e-4), case.get("rtol", 1e-4)
        if not torch.allclose(out.float(), expected, atol=atol, rtol=rtol, equal_nan=True):
            return {"ok": False, "error": f"mismatch, max abs err {worst}", "max_abs_err": worst}
    return {"ok": True, "max_abs_err": worst}


def compile_case(case: dict[str, Any]) -> dict[str, Any]:
    """``harness.compile_case`` with only floating inputs cast to the case dtype."""
    original = torch.Tensor.to

    def to(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        wants_float = any(isinstance(a, torch.dtype) and a.is_floating_point for a in args)
        if wants_float and not self.is_floating_point():
            return self
        return original(self, *args, **kwargs)

    torch.Tensor.to = to  # type: ignore[method-assign]
    try:
        return base.compile_case(case)
    finally:
        torch.Tensor.to = original  # type: ignore[method-assign]


if __name__ == "__main__":
    base.main(check, compile_case)
