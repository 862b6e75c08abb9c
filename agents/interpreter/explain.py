"""Turn each new result's diagnostics into an Insight.

Offline rules are the default; with a model configured for the ``interpreter`` agent, each
kernel's result (not the PyTorch passthrough's) is explained by the model instead. A
malformed answer, a rejected request or a spent token budget keeps the rules' insight; an
unreachable model stops the run unless ``llm_fallback_offline`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from functools import partial
from pathlib import Path

from agents.interpreter.llm import interpret_llm
from agents.interpreter.rules import interpret as interpret_offline
from agents.interpreter.schemas import Insight
from agents.llm.config import LLMConfig
from agents.llm.fallback import ModelOrRules
from agents.llm.parse import UNUSABLE_PREFIX
from agents.llm.session import LLMSession
from agents.tree import RunTree

log = logging.getLogger(__name__)


def explain_results(
    tree: RunTree, *, config: LLMConfig, run_id: str, runs_dir: Path, skip: Container[str] = ()
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
    model = ModelOrRules(
        session=session, rest="insights from here on", outage_stops=not config.fallback_offline
    )
    fresh: dict[str, Insight] = {}
    for cid in sorted(tree.results):
        if cid in skip or cid not in tree.candidates:
            continue
        cand, result = tree.candidates[cid], tree.results[cid]
        insight: Insight = interpret_offline(cand, result, tree.target)
        needs_model = cand.language != "pytorch" and not cand.transformation.startswith(
            UNUSABLE_PREFIX
        )
        if needs_model:
            ask = partial(interpret_llm, cand, result, tree.problem, tree.target)
            insight = model.ask(f"insight for {cid}", ask, insight)
        fresh[cid] = insight
    return fresh
