"""The ``plan`` node: resolve the request and retrieve chip knowledge for the coders."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agents.knowledge import retrieve_cited
from agents.llm.config import config_from_context
from agents.planner.plan import resolve_request
from graph.context import RunContext
from graph.state import RunState

log = logging.getLogger(__name__)


def plan(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Resolve the request (unless the caller already did) and retrieve chip knowledge."""
    ctx = runtime.context
    updates: dict[str, Any] = {}
    if not state.problem:
        chip_dirs = [d for d in [ctx.data_dir / "hardware_docs"] if d.is_dir()]
        resolved = resolve_request(
            state.request,
            extra_chip_dirs=chip_dirs,
            llm_coder=config_from_context(ctx).enabled("coder"),
            requests_dir=ctx.data_dir / "requests",
        )
        for note in resolved.notes:
            log.warning("%s", note)
        updates = {
            "problem": resolved.problem.model_dump(mode="json"),
            "target": resolved.target.model_dump(mode="json"),
            "languages": resolved.languages,
            "budget": resolved.budget,
        }
        problem, target = resolved.problem, resolved.target
    else:
        problem, target = state.problem_record(), state.target_record()
    if ctx.use_knowledge and state.request.use_knowledge and not state.documents:
        documents, skill_records, refs = retrieve_cited(problem, target, ctx)
        updates["documents"] = documents
        updates["document_refs"] = refs
        updates["skills"] = [s.model_dump(mode="json") for s in skill_records]
    ctx.emit("planned", languages=updates.get("languages", state.languages))
    return updates
