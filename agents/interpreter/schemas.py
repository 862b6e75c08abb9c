"""What the profiler-interpreter says about one evaluated candidate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Bottleneck = Literal[
    "memory", "compute", "latency", "occupancy",
    "static", "compile", "correctness", "timing", "recheck", "sandbox", "flagged", "unknown",
]  # fmt: skip
"""A roofline bound for a correct kernel, the failing stage, or ``flagged``."""


class Insight(BaseModel):
    """A short bottleneck explanation and ranked next moves (offline rules or an LLM)."""

    candidate_id: str
    bottleneck: str
    """memory, compute, latency, occupancy; a failing stage; flagged; unknown."""
    explanation: str
    next_moves: list[str] = Field(default_factory=list)
    """Most promising first."""
    author: str = "offline"


class InsightAnswer(BaseModel):
    """What the model returns (structured output); kevolve adds the id and author."""

    bottleneck: Bottleneck = Field(
        description="What limits this kernel: its roofline bound if correct, else the failing stage."
    )
    explanation: str = Field(description="One or two sentences grounded in the numbers given.")
    next_moves: list[str] = Field(
        description="Two to four concrete changes to the kernel, most promising first."
    )
