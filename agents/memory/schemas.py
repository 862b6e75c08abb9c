"""The memory modes' input: one child the search policy asked a coder to write."""

from __future__ import annotations

from pydantic import BaseModel

MEMORY_MODES: tuple[str, ...] = ("inherit", "compare", "combine", "restart")
"""What a coder may see of the tree when writing a child (see ``agents.memory.context``)."""


class ChildPlan(BaseModel):
    """One child the search policy asked for."""

    parent_id: str | None
    memory_mode: str
    language: str
    generation: int
    index: int
    rng_seed: int
