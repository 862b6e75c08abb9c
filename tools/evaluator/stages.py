"""``StageFailure``: how a worker stage reports that it failed.

Its own module so that the stages implemented outside ``worker.py`` (``diagnose``) raise the
very class the worker catches: the worker runs as ``__main__``, so importing
``tools.evaluator.worker`` from inside it would load a second copy with a second class.
"""

from __future__ import annotations

from tools.records.eval_result import Stage


class StageFailure(Exception):
    """A stage failed: which, why, and the flags it raised."""

    def __init__(self, stage: Stage, message: str, flags: list[str] | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.flags = flags or []
