"""Run-scoped settings and ports handed to every node through LangGraph's ``Runtime.context``.

The context is not checkpointed: a resumed run rebuilds it from the settings, so secrets
and machine-specific paths never enter the checkpoint database. ``kevolve.api.run_context``
builds it once per run from the settings' sections (:class:`SearchSettings`,
:class:`EvalSettings`, ``agents.knowledge.KnowledgeSettings`` and the LLM fields); each
default is written once, in its section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tools.evaluator.options import EvalOptions

if TYPE_CHECKING:  # settings import this module: keep LangChain and the ports' imports lazy
    from agents.llm.config import LLMConfig
    from graph.ports import CoderSource, Evaluator, KnowledgeStore, RunRecorder, SearchPolicy

_EVAL_DEFAULTS = EvalOptions()


class SearchSettings(BaseModel):
    """How the tree search spends a run's budget."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    children_per_generation: int = Field(default=4, ge=1)
    """Children the search creates per generation (LangGraph ``Send`` fan-out width)."""
    plateau_generations: int = Field(default=4, ge=1)
    """Stop early after this many generations without a better best candidate."""
    uct_c: float = Field(default=1.0, ge=0)
    """Exploration constant of the UCT selection policy."""
    evolutionary_fraction: float = Field(default=0.3, ge=0, le=1)
    """Share of parents picked by tournament selection instead of UCT."""
    seed: int = 0
    """Seed of the search policy's random choices."""


class EvalSettings(BaseModel):
    """How hard each candidate is checked; defaults are the evaluator's own
    (``tools.evaluator.options.EvalOptions``)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    eval_timeout_s: float = Field(default=_EVAL_DEFAULTS.timeout_s, gt=0)
    """Wall-clock limit for one sandboxed evaluation, in seconds."""
    eval_seeds: int = Field(default=len(_EVAL_DEFAULTS.seeds), ge=1)
    """Random seeds each candidate is checked on."""
    eval_rep_ms: float = Field(default=_EVAL_DEFAULTS.rep_ms, gt=0)
    """Time spent on timed repetitions per measured kernel, in milliseconds."""
    ray_address: str | None = None
    """Ray cluster (``auto`` or ``host:port``) that runs each evaluation as a task; unset: local."""


@dataclass(kw_only=True)
class RunContext:
    """Everything a node needs that is not part of the run's state: settings and ports."""

    data_dir: Path
    """Root of runs, caches and the embedded knowledge base."""
    search: SearchSettings
    policy: SearchPolicy
    evaluator: Evaluator
    recorder: RunRecorder
    coders: CoderSource
    models: LLMConfig
    """Which model each agent uses (``LLMConfig()``: every agent offline); never checkpointed."""
    knowledge: KnowledgeStore | None = None
    """Chip documents and skills; ``None``: the run neither retrieves nor remembers."""
    on_event: Callable[[str, dict[str, Any]], None] | None = field(default=None, repr=False)
    """Progress callback (the CLI's progress bar); never stored."""

    @property
    def runs_dir(self) -> Path:
        """Folder of the run store (model-usage ledgers live beside each run's files)."""
        return self.data_dir / "runs"

    def emit(self, event: str, **data: Any) -> None:
        """Report progress to the surface that started the run, if it listens."""
        if self.on_event is not None:
            self.on_event(event, data)
