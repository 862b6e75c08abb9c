"""Subprocess harness for the scan/gather coder tests: the coder harness with integer inputs.

The shared harness (``tests/unit/agents/coders/harness.py``) casts every input to the case's float dtype,
which turns index, offset and length tensors into floats. This one runs its check with
``integer_inputs`` and its compile with only floating-point inputs cast, so embedding bags
and jagged segments run with their real integer (and boolean) inputs.

Usage: ``python harness.py SPEC.json`` prints one JSON object, ``{case_id: result}``.
Kept outside pytest's collection (no ``test_`` prefix); tests run it by path (``fixtures.run``).
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from tests.unit.agents.coders import harness as base

check = functools.partial(base.check, integer_inputs=True)
"""The shared check, integer inputs kept."""


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
