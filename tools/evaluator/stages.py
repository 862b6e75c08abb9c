"""How a stage of the sandboxed worker reports failure."""

from __future__ import annotations

from tools.records.eval_result import Stage


class StageFailure(Exception):
    """A stage failed: which, why, and the flags it raised."""

    def __init__(self, stage: Stage, message: str, flags: list[str] | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.flags = flags or []
