"""In-memory stand-ins for the run's ports: a coder, an evaluator, a run recorder.

Each passes the same conformance tests as the real implementation (test_graph_ports.py), so
a graph test built on them exercises the graph, not the fakes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agents.coders.base import CoderContext, Draft
from tools.records import Candidate, EvalResult, Problem, Skill, Target
from tools.records.eval_result import Stage

SOURCE = "import torch\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n        return x  # {tag}\n"


@dataclass
class FakeCoder:
    """Writes drafts of one template whose ``BLOCK`` parameter sets the modelled speed-up."""

    language: str = "triton"
    name: str = "fake"

    def supports(self, problem: Problem, target: Target) -> bool:
        return True

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        return [self._draft(block, "initial fake") for block in (1, 2, 3)]

    def propose(self, ctx: CoderContext) -> Draft:
        base = int(ctx.parent.params.get("BLOCK", 1)) if ctx.parent else 1
        block = base + 1 + ctx.rng_seed % 5
        return self._draft(block, f"BLOCK {base} -> {block} ({ctx.memory_mode})")

    def _draft(self, block: int, change: str) -> Draft:
        return Draft(language=self.language, source=SOURCE.format(tag=f"BLOCK={block}"),  # type: ignore[arg-type]
                     transformation=change, template="fake.copy", params={"BLOCK": block})  # fmt: skip


@dataclass
class FakeCoders:
    """A ``CoderSource`` of :class:`FakeCoder`, one per language."""

    def coder(self, language: str, *, run_id: str, documents: Sequence[str] = (),
              skills: Sequence[Skill] = ()) -> FakeCoder:  # fmt: skip
        return FakeCoder(language=language)


class Interrupted(Exception):
    """Stands for the process being killed in the middle of a run."""


@dataclass
class FakeEvaluator:
    """Judges a draft by its ``BLOCK``: speed-up ``1 + BLOCK / 10``; ``BLOCK`` 13 fails to compile.

    ``fail_after``: raise :class:`Interrupted` on that many-th call (a killed run).
    """

    fail_after: int | None = None
    calls: Counter = field(default_factory=Counter)
    """Search evaluations per candidate id."""
    remeasures: Counter = field(default_factory=Counter)
    """Re-measurements (of the winner) per candidate id."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def evaluate(self, problem: Problem, candidate: Candidate, target: Target, *, run_id: str,
                 allow_lower_precision: bool = False, remeasure: int | None = None,
                 ) -> EvalResult:  # fmt: skip
        with self.lock:
            if self.fail_after is not None and sum(self.calls.values()) >= self.fail_after:
                raise Interrupted(f"killed before evaluating {candidate.id}")
            if remeasure is None:
                self.calls[candidate.id] += 1
            else:
                self.remeasures[candidate.id] += 1
        if "class ModelNew" not in candidate.source:
            return EvalResult(candidate_id=candidate.id, target=target.name,
                              stage_failed=Stage.STATIC, error="no ModelNew")  # fmt: skip
        block = int(candidate.params.get("BLOCK", 0))
        if block == 13:
            return EvalResult(candidate_id=candidate.id, target=target.name, static_ok=True,
                              stage_failed=Stage.COMPILE, error="BLOCK 13 does not compile")  # fmt: skip
        speedup = 1.0 + block / 10
        return EvalResult(candidate_id=candidate.id, target=target.name, static_ok=True,
                          compiled=True, correct=True, runtime_ms=1.0 / speedup,
                          ref_eager_ms=1.0, speedup_vs_eager=speedup, measured_on="fake")  # fmt: skip


@dataclass
class MemoryRecorder:
    """A ``RunRecorder`` in memory; ``forget_results`` makes ``load_result`` find nothing."""

    root: Path
    forget_results: bool = False
    candidates: dict[str, Candidate] = field(default_factory=dict)
    results: dict[str, EvalResult] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    remeasured: dict[tuple[str, int], EvalResult] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    status: str = "running"

    def save_candidate(self, run_id: str, cand: Candidate) -> None:
        self.candidates[cand.id] = cand

    def save_result(self, run_id: str, result: EvalResult) -> None:
        self.results[result.candidate_id] = result
        self.log.append(result.candidate_id)

    def evaluation_log(self, run_id: str) -> list[str]:
        return list(self.log)

    def save_remeasurement(self, run_id: str, cand_id: str, index: int, result: EvalResult) -> None:
        self.remeasured[cand_id, index] = result

    def load_remeasurement(self, run_id: str, cand_id: str, index: int) -> EvalResult | None:
        return self.remeasured.get((cand_id, index))

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def load_result(self, run_id: str, cand_id: str) -> EvalResult | None:
        return None if self.forget_results else self.results.get(cand_id)

    def write_text(self, run_id: str, name: str, text: str) -> Path:
        self.files[name] = text
        path = self.root / run_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def set_status(self, run_id: str, status: str, error: str = "") -> None:
        self.status = status
