"""The graph's own nodes: seed, dispatch, evaluate, update, select, and their routers.

Agent nodes (plan, code, interpret, curate) live in ``agents/<name>/node.py``; the report
node in ``graph/report.py``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from agents.coders import pytorch_passthrough
from agents.coders.base import Draft
from graph import search
from graph.context import RunContext
from graph.skills import as_skills, merge_seed_drafts, skill_seed_drafts
from graph.state import CodeTask, EvalTask, RunState
from kevolve.runstore import RunStore
from tools.evaluator import evaluate as sandboxed_evaluate
from tools.evaluator.backend import evaluator_for
from tools.evaluator.options import EvalOptions
from tools.records import Candidate, EvalResult, Problem, Target

log = logging.getLogger(__name__)


def candidate_id(generation: int, index: int, source: str) -> str:
    """Deterministic id: generation, slot, and a hash of the source (so reruns match)."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:6]
    return f"g{generation:02d}-{index:02d}-{digest}"


def draft_to_candidate(
    draft: Draft, *, generation: int, index: int, parents: list[str], memory_mode: str
) -> Candidate:
    """Give a coder's draft its place in the tree."""
    return Candidate(
        id=candidate_id(generation, index, draft.source),
        parent_ids=parents,
        generation=generation,
        language=draft.language,
        memory_mode=memory_mode,  # type: ignore[arg-type]
        source=draft.source,
        transformation=draft.transformation,
        author=draft.author,
        template=draft.template,
        params=draft.params,
        declared_flops=draft.declared_flops,
    )


def seed(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Baseline candidates: the PyTorch passthrough, drafts from skills, each coder's first drafts."""
    if state.candidates:
        return {}
    problem, target = state.problem_record(), state.target_record()
    drafts: list[Draft] = [pytorch_passthrough(problem)]
    from agents.synthesizer.select import coder_for_run

    skills = as_skills(state.skills)
    per_language = []
    for lang in state.languages:
        coder = coder_for_run(
            lang, runtime.context, run_id=state.run_id,
            documents=state.documents, skills=state.skills,
        )
        # Drafts rendered from retrieved skills go first: start from what worked before.
        from_skills = skill_seed_drafts(coder, problem, target, skills)
        per_language.append(merge_seed_drafts(from_skills, coder.seed(problem, target)))
    # Interleave languages so a small budget still tries each of them.
    while any(per_language) and len(drafts) < state.budget:
        for queue in per_language:
            if queue and len(drafts) < state.budget:
                drafts.append(queue.pop(0))
    store = RunStore(runtime.context.runs_dir)
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


def eval_options(ctx: RunContext, run_id: str, cand_id: str, allow_lower: bool) -> EvalOptions:
    """Evaluation options for one candidate: fresh but reproducible seeds per candidate."""
    base = int(hashlib.sha1(f"{run_id}/{cand_id}".encode()).hexdigest()[:8], 16)
    return EvalOptions.in_data_dir(
        ctx.data_dir,
        timeout_s=ctx.eval_timeout_s,
        seeds=[(base + 7919 * i) % (2**31) for i in range(ctx.eval_seeds)],
        rep_ms=ctx.eval_rep_ms,
        allow_lower_precision=allow_lower,
    )


def evaluate(task: EvalTask, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Evaluate one candidate in the sandbox, or reuse the stored result of a resumed run."""
    ctx = runtime.context
    cand = Candidate.model_validate(task.candidate)
    store = RunStore(ctx.runs_dir)
    result = store.load_result(task.run_id, cand.id)
    if result is None:
        problem = Problem.model_validate(task.problem)
        options = eval_options(ctx, task.run_id, cand.id, task.allow_lower_precision)
        ctx.emit("evaluating", candidate_id=cand.id)
        evaluator = evaluator_for(ctx.ray_address, sandboxed_evaluate)
        result = evaluator(problem, cand, Target.model_validate(task.target), options)
        store.save_result(task.run_id, result)
    else:
        log.info("reusing the stored result of %s", cand.id)
    ctx.emit("evaluated", candidate_id=cand.id, result=result)
    return {"results": {cand.id: result.model_dump(mode="json")}}


def update(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Back-propagate rewards into the bandit, track the best, decide whether to stop."""
    ctx = runtime.context
    cands, results = state.candidate_records(), state.result_records()
    stats, newly = search.credit_modes(cands, results, state.mode_stats, state.credited)
    best = search.best_candidate(cands, results)
    best_reward = results[best].reward if best else 0.0
    history = [*state.best_history, best_reward]
    stop = ""
    kernel_langs = [lang for lang in state.languages if lang != "pytorch"]
    from graph.report import reference_failure  # graph.report imports this module

    ref_failed = reference_failure(cands, results)
    if ref_failed:
        stop = ref_failed
    elif len(cands) >= state.budget:
        stop = f"budget of {state.budget} evaluations used"
    elif not kernel_langs:
        stop = "no kernel language is available for this problem on this target"
    elif len(history) > ctx.plateau_generations and best_reward <= history[
        -ctx.plateau_generations - 1
    ]:
        stop = f"no improvement in {ctx.plateau_generations} generations"
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
    frontier = search.plan_children(
        state.candidate_records(),
        state.result_records(),
        state.mode_stats,
        n=max(0, min(ctx.children_per_generation, remaining)),
        generation=generation,
        languages=state.languages,
        seed=ctx.seed,
        c=ctx.uct_c,
        evolutionary_fraction=ctx.evolutionary_fraction,
    )
    return {"frontier": frontier, "generation": generation}


def route_children(state: RunState) -> list[Send] | str:
    """Fan out one ``code`` task per planned child."""
    from agents.memory.context import assemble_context

    if not state.frontier:
        return "dispatch"
    cands, results = state.candidate_records(), state.result_records()
    sends: list[Send] = []
    for child in state.frontier:
        context = assemble_context(
            child=child,
            problem=state.problem_record(),
            target=state.target_record(),
            candidates=cands,
            results=results,
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
