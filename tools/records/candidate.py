"""The Candidate record: one kernel in the search tree (immutable, keyed by id)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Language = Literal["triton", "cuda", "hip", "cpp", "pytorch"]
"""``pytorch`` marks the reference passthrough and pure-PyTorch rewrites."""

MemoryMode = Literal["seed", "inherit", "compare", "combine", "restart"]


class Candidate(BaseModel):
    """A KernelBench ``ModelNew`` module: the interchange format for every language."""

    model_config = ConfigDict(frozen=True)

    id: str
    parent_ids: list[str] = Field(default_factory=list)
    generation: int = 0
    language: Language
    memory_mode: MemoryMode = "seed"
    source: str
    """Python source defining ``class ModelNew(nn.Module)`` (kernels inline)."""
    transformation: str = ""
    """What this candidate claims to do differently from its parent, in one line."""
    author: str = "offline"
    """LLM model name, or ``offline`` for the synthesizer."""
    template: str = ""
    """Offline template name (``triton.softmax_row``) or empty for free-form code."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Meta-parameters the template was rendered with (BLOCK_SIZE, num_warps, ...)."""
    declared_flops: int | None = Field(default=None, ge=0)
    """FLOPs per forward call of the formulation this candidate declares it computes, when
    that differs from the reference's (an algebraic rewrite such as ``sum_to_gemv``, proven
    equivalent by its tests). ``None``: the reference's formulation, so the reference's FLOP
    floor binds it. The bytes floor binds every candidate whatever it declares."""
