"""Turn each new result's diagnostics into an Insight.

Offline rules are the default; with a model configured for the ``interpreter`` agent, each
kernel's result (not the PyTorch passthrough's) is explained by the model instead. A
malformed answer, a rejected request or a spent token budget keeps the rules' insight; an
unreachable model stops the run unless ``llm_fallback_offline`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Mapping
from pathlib import Path

from agents.interpreter.llm import interpret_llm
from agents.interpreter.rules import interpret as interpret_offline
from agents.interpreter.schemas import Insight
from agents.llm.config import LLMConfig
from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMRequestError, LLMUnavailableError
from agents.llm.parse import UNUSABLE_PREFIX
from agents.llm.session import LLMSession
from tools.records import Candidate, EvalResult, Problem, Target

log = logging.getLogger(__name__)


def explain_results(
    problem: Problem,
    target: Target,
    cands: Mapping[str, Candidate],
    results: Mapping[str, EvalResult],
    *,
    config: LLMConfig,
    run_id: str,
    runs_dir: Path,
    skip: Container[str] = (),
) -> dict[str, Insight]:
    """An insight for every result whose candidate is known and not in ``skip``.

    Raises:
        LLMUnavailableError: The interpreter's model is unreachable and
            ``config.fallback_offline`` is off.
    """
    session = (
        LLMSession(config=config, agent="interpreter", run_id=run_id, runs_dir=runs_dir)
        if config.enabled("interpreter") else None
    )  # fmt: skip
    fresh: dict[str, Insight] = {}
    for cid in sorted(results):
        if cid in skip or cid not in cands:
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
        fresh[cid] = insight
    return fresh
