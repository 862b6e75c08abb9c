"""The graph's own nodes: seed, dispatch, evaluate, update, select, and their routers.

The nodes that call the agents (plan, code, interpret, curate) are in ``graph.agent_nodes``;
the report node in ``graph.report``.
"""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from agents.coders import pytorch_passthrough
from agents.coders.base import Draft
from agents.memory.context import assemble_context
from graph.context import RunContext
from graph.skills import as_skills, merge_seed_drafts, skill_seed_drafts
from graph.state import CodeTask, EvalTask, RunState
from graph.tree import draft_to_candidate, reference_failure
from tools.records import Candidate, EvalResult, Problem, Target

log = logging.getLogger(__name__)


def seed(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Baseline candidates: the PyTorch passthrough, drafts from skills, each coder's first drafts."""
    if state.candidates:
        return {}
    problem, target = state.problem_record(), state.target_record()
    drafts: list[Draft] = [pytorch_passthrough(problem)]
    skills = as_skills(state.skills)
    per_language = []
    for lang in state.languages:
        coder = runtime.context.coders.coder(
            lang, run_id=state.run_id, documents=state.documents, skills=skills
        )
        # Drafts rendered from retrieved skills go first: start from what worked before.
        from_skills = skill_seed_drafts(coder, problem, target, skills)
        per_language.append(merge_seed_drafts(from_skills, coder.seed(problem, target)))
    # Interleave languages so a small budget still tries each of them.
    while any(per_language) and len(drafts) < state.budget:
        for queue in per_language:
            if queue and len(drafts) < state.budget:
                drafts.append(queue.pop(0))
    store = runtime.context.recorder
    cands: dict[str, dict[str, Any]] = {}
    for index, draft in enumerate(drafts):
        cand = draft_to_candidate(draft, generation=0, index=index, parents=[], memory_mode="seed")
        if cand.id in cands:
            continue
        store.save_candidate(state.run_id, cand)
        cands[cand.id] = cand.model_dump(mode="json")
    runtime.context.emit("seeded", count=len(cands))
    return {"candidates": cands, "generation": 0}


def dispatch(state: RunState) -> dict[str, Any]:
    """A join point after seeding or coding; the router below fans evaluation out."""
    return {}


def route_evaluations(state: RunState) -> list[Send] | str:
    """Send every candidate that has no result yet to ``evaluate``; else go on."""
    pending = [cid for cid in sorted(state.candidates) if cid not in state.results]
    if not pending:
        return "interpret"
    return [
        Send(
            "evaluate",
            EvalTask(
                run_id=state.run_id,
                candidate=state.candidates[cid],
                problem=state.problem,
                target=state.target,
                allow_lower_precision=state.request.allow_lower_precision,
            ),
        )
        for cid in pending
    ]


def evaluate(state: EvalTask, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Evaluate one candidate in the sandbox, or reuse the stored result of a resumed run."""
    ctx = runtime.context
    cand = Candidate.model_validate(state.candidate)
    store = ctx.recorder
    result = store.load_result(state.run_id, cand.id)
    if result is None:
        ctx.emit("evaluating", candidate_id=cand.id)
        result = ctx.evaluator.evaluate(
            Problem.model_validate(state.problem),
            cand,
            Target.model_validate(state.target),
            run_id=state.run_id,
            allow_lower_precision=state.allow_lower_precision,
        )
        store.save_result(state.run_id, result)
    else:
        log.info("reusing the stored result of %s", cand.id)
    ctx.emit("evaluated", candidate_id=cand.id, result=result)
    return {"results": {cand.id: result.model_dump(mode="json")}}


def update(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Back-propagate rewards into the bandit, track the best, decide whether to stop."""
    ctx = runtime.context
    cands, results = state.candidate_records(), state.result_records()
    stats, newly = ctx.policy.credit(cands, results, state.mode_stats, state.credited)
    best = ctx.policy.best(cands, results)
    best_reward = results[best].reward if best else 0.0
    history = [*state.best_history, best_reward]
    plateau = ctx.search.plateau_generations
    stop = ""
    kernel_langs = [lang for lang in state.languages if lang != "pytorch"]
    ref_failed = reference_failure(cands, results)
    if ref_failed:
        stop = ref_failed
    elif len(cands) >= state.budget:
        stop = f"budget of {state.budget} evaluations used"
    elif not kernel_langs:
        stop = "no kernel language is available for this problem on this target"
    elif len(history) > plateau and best_reward <= history[-plateau - 1]:
        stop = f"no improvement in {plateau} generations"
    ctx.emit("generation", generation=state.generation, best=best, best_reward=best_reward)
    return {
        "mode_stats": stats,
        "credited": [*state.credited, *newly],
        "best_history": history,
        "stop_reason": stop,
    }


def route_after_update(state: RunState) -> str:
    """Stop to curate, or select the next generation."""
    return "curate" if state.stop_reason else "select"


def select(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Plan the next generation's children (parents and memory modes)."""
    ctx = runtime.context
    remaining = state.budget - len(state.candidates)
    generation = state.generation + 1
    frontier = ctx.policy.plan_children(
        state.candidate_records(),
        state.result_records(),
        state.mode_stats,
        n=max(0, min(ctx.search.children_per_generation, remaining)),
        generation=generation,
        languages=state.languages,
    )
    return {"frontier": frontier, "generation": generation}


def route_children(state: RunState) -> list[Send] | str:
    """Fan out one ``code`` task per planned child."""
    if not state.frontier:
        return "dispatch"
    tree = state.tree()
    sends: list[Send] = []
    for child in state.frontier:
        context = assemble_context(
            child=child,
            tree=tree,
            skills=state.skills,
            documents=state.documents,
            insights=state.insights,
        )
        sends.append(
            Send(
                "code",
                CodeTask(run_id=state.run_id, child=child, context=context.model_dump(mode="json")),
            )
        )
    return sends


def result_summary(result: EvalResult) -> str:
    """One line for logs and progress."""
    if not result.accepted:
        return f"rejected at {result.stage_failed.value if result.stage_failed else 'flags'}"
    return f"{result.runtime_ms:.4f} ms, {result.speedup_vs_eager:.2f}x vs eager"
