"""The run's seams: what the graph's nodes need from the world, as Protocols.

Each port has a real offline implementation and a behavioural conformance test
(``tests/unit/graph/test_graph_ports.py``):

| port | offline implementation | at scale |
|---|---|---|
| :class:`Evaluator` | ``graph.evaluation.SubprocessEvaluator`` (a fresh sandboxed subprocess per candidate) | a Ray backend |
| :class:`SearchPolicy` | ``graph.search.UCTPolicy`` | — |
| :class:`KnowledgeStore` | ``agents.knowledge.ChromaKnowledge`` | the same on a Chroma server |
| :class:`RunRecorder` | ``kevolve.runstore.RunStore`` (files under the data dir) | ``kevolve.runstore_pg.PostgresRunStore`` |
| :class:`CoderSource` | ``agents.synthesizer.select.RunCoders`` (offline or LLM coders) | — |
| checkpointer | LangGraph's ``BaseCheckpointSaver``: ``graph.checkpoint.sqlite_checkpointer`` | ``graph.checkpoint.postgres_checkpointer`` |

The checkpointer's seam is LangGraph's own abstract ``BaseCheckpointSaver``; a second
Protocol for it would only copy that class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from agents.knowledge import Retrieved
from agents.memory.schemas import ChildPlan
from tools.records import Candidate, EvalResult, Problem, Skill, Target

if TYPE_CHECKING:  # the coders' package imports every generator: keep settings light
    from agents.coders.base import Coder


RunStatus = Literal["running", "finished", "failed", "interrupted", "paused"]
"""Where a run stands. ``interrupted``: stopped with Ctrl-C; ``paused``: its model stopped
answering. Both resume."""


class Evaluator(Protocol):
    """Judges one candidate: static checks, compile, correctness, timing, diagnostics."""

    def evaluate(
        self,
        problem: Problem,
        candidate: Candidate,
        target: Target,
        *,
        run_id: str,
        allow_lower_precision: bool = False,
        remeasure: int | None = None,
    ) -> EvalResult:
        """The candidate's result; a failure is a result with ``stage_failed`` set, not an
        exception. The same ``run_id``, candidate and ``remeasure`` give the same correctness
        seeds; ``remeasure=i`` is the i-th fresh re-measurement (other seeds) of a winner."""
        ...


class SearchPolicy(Protocol):
    """Which children to write next, and what the last generation taught the policy."""

    def plan_children(
        self,
        cands: Mapping[str, Candidate],
        results: Mapping[str, EvalResult],
        mode_stats: Mapping[str, Mapping[str, float]],
        *,
        n: int,
        generation: int,
        languages: Sequence[str],
    ) -> list[ChildPlan]:
        """``n`` children of ``generation``; deterministic for the same inputs."""
        ...

    def credit(
        self,
        cands: Mapping[str, Candidate],
        results: Mapping[str, EvalResult],
        mode_stats: Mapping[str, Mapping[str, float]],
        credited: Sequence[str],
    ) -> tuple[dict[str, dict[str, float]], list[str]]:
        """Statistics updated with the children evaluated since ``credited``, and their ids."""
        ...

    def best(
        self, cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
    ) -> str | None:
        """The best accepted candidate, or ``None``."""
        ...


class KnowledgeStore(Protocol):
    """Chip documents and skills for the coders; skills learned by a run go back in."""

    def retrieve(self, problem: Problem, target: Target) -> Retrieved:
        """Cited chip excerpts, skills and the excerpts' sources for ``problem`` on ``target``
        (empty when none)."""
        ...

    def remember(self, skills: Sequence[Skill]) -> None:
        """Keep ``skills`` for later runs."""
        ...


class RunRecorder(Protocol):
    """Where a run's candidates, results and report files are kept, by run id."""

    def save_candidate(self, run_id: str, cand: Candidate) -> None:
        """Keep a candidate's record and source."""
        ...

    def save_result(self, run_id: str, result: EvalResult) -> None:
        """Keep an evaluation's result (a resumed run reads it back instead of re-evaluating)."""
        ...

    def load_result(self, run_id: str, cand_id: str) -> EvalResult | None:
        """The stored result of a candidate, or ``None``."""
        ...

    def evaluation_log(self, run_id: str) -> list[str]:
        """Candidate ids in the order their evaluations were stored."""
        ...

    def save_remeasurement(self, run_id: str, cand_id: str, index: int, result: EvalResult) -> None:
        """Keep the ``index``-th re-measurement of a winner."""
        ...

    def load_remeasurement(self, run_id: str, cand_id: str, index: int) -> EvalResult | None:
        """A stored re-measurement, or ``None``."""
        ...

    def run_dir(self, run_id: str) -> Path:
        """The folder of the run's files (figures and exports go there)."""
        ...

    def write_text(self, run_id: str, name: str, text: str) -> Path:
        """Write one of the run's files; returns its path."""
        ...

    def set_status(self, run_id: str, status: RunStatus, error: str = "") -> object:
        """Mark the run ``running``, ``finished``, ``failed`` or ``interrupted``."""
        ...


class CoderSource(Protocol):
    """The coder that writes one language's kernels in a run."""

    def coder(
        self,
        language: str,
        *,
        run_id: str,
        documents: Sequence[str] = (),
        skills: Sequence[Skill] = (),
    ) -> Coder:
        """The coder for ``language``; ``documents`` and ``skills`` seed its first drafts."""
        ...
