"""The Problem record: a KernelBench-format PyTorch reference plus what we know about it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """A KernelBench problem: Python source defining ``Model``, ``get_inputs``, ``get_init_inputs``.

    The source is the single source of truth; the other fields describe it so that planners
    and coders need not execute it.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    """Short name used in run ids and reports, e.g. ``softmax`` or the file stem."""
    source: str
    """The full KernelBench Python source."""
    op_family: str = "unknown"
    """Family tag: pointwise, reduction, softmax, norm, scan, matmul, attention, fused, unknown."""
    op: str | None = None
    """The named ATen-level op this problem was generated from (``softmax``), if any."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Op parameters for named ops, e.g. ``{"dim": -1}`` or ``{"eps": 1e-5}``."""
    dtype: str = "float32"
    """torch dtype name of the floating-point inputs (``float32``, ``float16``, ``bfloat16``)."""
    shapes: list[list[int]] = Field(default_factory=list)
    """Shapes of the tensors ``get_inputs()`` returns, in order."""
    origin: str = ""
    """Where it came from: a file path, or ``op:<name>`` for a generated problem."""
