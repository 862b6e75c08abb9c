"""Run-scoped settings handed to every node through LangGraph's ``Runtime.context``.

The context is not checkpointed: a resumed run rebuilds it from the settings, so secrets
and machine-specific paths never enter the checkpoint database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass(kw_only=True)
class RunContext:
    """Everything a node needs that is not part of the run's state."""

    data_dir: Path
    """Root of runs, caches and the embedded knowledge base."""
    children_per_generation: int = 4
    plateau_generations: int = 4
    eval_timeout_s: float = 300.0
    eval_seeds: int = 3
    eval_rep_ms: float = 200.0
    uct_c: float = 1.0
    evolutionary_fraction: float = 0.3
    seed: int = 0
    use_knowledge: bool = True
    chroma_url: str | None = None
    ray_address: str | None = None
    embedding_model: str | None = None
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm: Any = field(default=None, repr=False)
    """``agents.llm.LLMConfig`` of this run (None: offline); never checkpointed."""
    on_event: Callable[[str, dict[str, Any]], None] | None = field(default=None, repr=False)
    """Progress callback (the CLI's progress bar); never stored."""

    @property
    def runs_dir(self) -> Path:
        """Folder of the run store."""
        return self.data_dir / "runs"

    def emit(self, event: str, **data: Any) -> None:
        """Report progress to the surface that started the run, if it listens."""
        if self.on_event is not None:
            self.on_event(event, data)

    @classmethod
    def from_settings(cls, settings: Any, **extra: Any) -> "RunContext":
        """Build the context from ``kevolve.settings.Settings``."""
        return cls(
            data_dir=settings.data_dir,
            children_per_generation=settings.children_per_generation,
            plateau_generations=settings.plateau_generations,
            eval_timeout_s=settings.eval_timeout_s,
            eval_seeds=settings.eval_seeds,
            eval_rep_ms=settings.eval_rep_ms,
            uct_c=settings.uct_c,
            evolutionary_fraction=settings.evolutionary_fraction,
            seed=settings.seed,
            use_knowledge=settings.use_knowledge,
            chroma_url=settings.chroma_url,
            ray_address=settings.ray_address,
            embedding_model=settings.embedding_model,
            llm_model=settings.llm_model,
            llm_base_url=settings.llm_base_url,
            llm=_llm_config(settings),
            **extra,
        )


def _llm_config(settings: Any) -> Any:
    from agents.llm import LLMConfig

    return LLMConfig.from_settings(settings)
