"""The profiler-interpreter's LLM path: diagnostics -> ``Insight`` through structured output."""

from __future__ import annotations

from pathlib import Path

from agents.interpreter.rules import interpret as interpret_offline
from agents.interpreter.schemas import Insight, InsightAnswer
from agents.llm.describe import result_report
from agents.llm.prompts import render
from agents.llm.session import LLMSession
from tools.records import Candidate, EvalResult, Problem, Target

PROMPTS_DIR = Path(__file__).parent / "prompts"
MAX_SOURCE_CHARS = 6000
MAX_ERROR_CHARS = 2000


def interpret_prompt(cand: Candidate, result: EvalResult, problem: Problem, target: Target) -> str:
    """The interpreter's prompt for one evaluated candidate."""
    return render(
        PROMPTS_DIR,
        "interpret.md.j2",
        target=target,
        problem=problem,
        cand=cand,
        report=result_report(result),
        error=result.error.strip()[-MAX_ERROR_CHARS:] if result.stage_failed else "",
        rules=interpret_offline(cand, result, target),
        source=cand.source[:MAX_SOURCE_CHARS],
    )


def interpret_llm(
    cand: Candidate, result: EvalResult, problem: Problem, target: Target, session: LLMSession
) -> Insight:
    """Ask the interpreter's model about one result.

    Raises:
        LLMError: A subclass; the node decides whether to fall back to the rules.
    """
    answer = session.structured(
        InsightAnswer, [("human", interpret_prompt(cand, result, problem, target))]
    )
    return Insight(
        candidate_id=cand.id,
        bottleneck=answer.bottleneck,
        explanation=answer.explanation.strip(),
        next_moves=[m.strip() for m in answer.next_moves if m.strip()][:4],
        author=session.spec,
    )
