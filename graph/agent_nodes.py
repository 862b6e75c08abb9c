"""The nodes that call the agents: plan, code, interpret, curate.

Each is a thin wrapper: it reads the run's state, calls the agent's plain function with the
run's ports (``RunContext``), and returns the state update. The graph's own nodes (seed,
dispatch, evaluate, update, select) are in ``graph.nodes``; the report node in
``graph.report``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from langgraph.runtime import Runtime

from agents.coders.base import CoderContext
from agents.curator.curate import curate_skills
from agents.interpreter.explain import explain_results
from agents.synthesizer.write import write_child
from graph.context import RunContext
from graph.planning import plan_request
from graph.state import CodeTask, RunState
from graph.tree import draft_to_candidate

log = logging.getLogger(__name__)


def plan(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Resolve the request (unless the caller already did) and retrieve chip knowledge."""
    ctx = runtime.context
    updates: dict[str, Any] = {}
    if not state.problem:
        resolved = plan_request(state.request, ctx)
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
    if ctx.knowledge is not None and state.request.use_knowledge and not state.documents:
        found = ctx.knowledge.retrieve(problem, target)
        updates["documents"] = found.documents
        updates["document_refs"] = found.refs
        updates["skills"] = [s.model_dump(mode="json") for s in found.skills]
    ctx.emit("planned", languages=updates.get("languages", state.languages))
    return updates


def code(state: CodeTask, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Ask the child's coder for a draft; skip drafts already in the tree."""
    ctx = runtime.context
    child = state.child
    coder = ctx.coders.coder(child.language, run_id=state.run_id)
    draft = write_child(coder, CoderContext.model_validate(state.context))
    if draft is None:
        log.info("child %s: every draft was already tried", child.index)
        ctx.emit("duplicate", child=child.index)
        return {}
    cand = draft_to_candidate(
        draft,
        generation=child.generation,
        index=child.index,
        parents=[child.parent_id] if child.parent_id else [],
        memory_mode=child.memory_mode,
    )
    ctx.recorder.save_candidate(state.run_id, cand)
    ctx.emit("coded", candidate_id=cand.id, author=cand.author)
    return {"candidates": {cand.id: cand.model_dump(mode="json")}}


def interpret(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Interpret every result that has no insight yet."""
    ctx = runtime.context
    insights = explain_results(
        state.tree(),
        config=ctx.models,
        run_id=state.run_id,
        runs_dir=ctx.runs_dir,
        skip=state.insights,
    )
    return {"insights": {cid: i.model_dump(mode="json") for cid, i in insights.items()}}


def curate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Distil skills from the tree, keep them with the run and in the knowledge base."""
    ctx = runtime.context
    skills = curate_skills(state.run_id, state.tree(), config=ctx.models, runs_dir=ctx.runs_dir)
    ctx.recorder.write_text(
        state.run_id,
        "skills.json",
        json.dumps([s.model_dump(mode="json") for s in skills], indent=2),
    )
    if skills and ctx.knowledge is not None and state.request.use_knowledge:
        ctx.knowledge.remember(skills)
    return {"new_skills": [s.model_dump(mode="json") for s in skills]}
