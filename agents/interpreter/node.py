"""The ``interpret`` node: turn each new result's diagnostics into an Insight.

Offline rules are the default; with a model configured for the ``interpreter`` agent, each
kernel's result (not the PyTorch passthrough's) is explained by the model instead. A
malformed answer, a rejected request or a spent token budget keeps the rules' insight; an
unreachable model stops the run unless ``llm_fallback_offline`` is set.
"""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agents.interpreter.llm import interpret_llm
from agents.interpreter.rules import interpret as interpret_offline
from agents.interpreter.schemas import Insight
from agents.llm.config import config_from_context
from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMRequestError, LLMUnavailableError
from agents.llm.parse import UNUSABLE_PREFIX
from agents.llm.session import LLMSession
from graph.context import RunContext
from graph.state import RunState

log = logging.getLogger(__name__)


def interpret(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Interpret every result that has no insight yet."""
    problem, target = state.problem_record(), state.target_record()
    cands, results = state.candidate_records(), state.result_records()
    config = config_from_context(runtime.context)
    session = (
        LLMSession(config=config, agent="interpreter", run_id=state.run_id,
                   runs_dir=runtime.context.runs_dir)
        if config.enabled("interpreter") else None
    )  # fmt: skip
    fresh: dict[str, dict[str, Any]] = {}
    for cid in sorted(results):
        if cid in state.insights or cid not in cands:
            continue
        cand, result = cands[cid], results[cid]
        insight: Insight = interpret_offline(cand, result, target)
        needs_model = cand.language != "pytorch" and not cand.transformation.startswith(
            UNUSABLE_PREFIX
        )
        if session is not None and needs_model:
            try:
                insight = interpret_llm(cand, result, problem, target, session)
            except (LLMAnswerError, LLMRequestError) as e:
                session.fall_back(f"insight for {cid}", e)
            except LLMBudgetError as e:
                session.fall_back("insights from here on", e)
                session = None
            except LLMUnavailableError as e:
                if not config.fallback_offline:
                    raise
                session.fall_back("insights from here on", e)
                session = None
        fresh[cid] = insight.model_dump(mode="json")
    return {"insights": fresh}
