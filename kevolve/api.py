"""The Python API: start, resume and inspect optimization runs.

    from kevolve.api import optimize
    summary = optimize("softmax", target="cpu", budget=12)
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from agents.knowledge import ChromaKnowledge, KnowledgeSettings
from agents.llm import LLMConfig
from agents.llm.errors import LLMTransientError, LLMUnavailableError
from agents.planner.schemas import Plan
from agents.synthesizer.select import RunCoders
from graph.builder import compile_graph
from graph.checkpoint import open_checkpointer
from graph.context import EvalSettings, RunContext, SearchSettings
from graph.evaluation import SubprocessEvaluator
from graph.planning import plan_request
from graph.search import UCTPolicy
from graph.state import RunRequest, RunState
from kevolve.interrupt import RunInterrupted, RunPaused, drive_interruptibly, guard_events
from kevolve.runstore import RunInfo
from kevolve.runstores import open_run_store
from kevolve.settings import Settings, get_settings
from tools.errors import RunStoreError

log = logging.getLogger(__name__)

EventHandler = Callable[[str, dict[str, Any]], None]
RunGraph = CompiledStateGraph[RunState, RunContext, RunState, RunState]


def new_run_id(problem_name: str) -> str:
    """A sortable, unique run id: ``<problem>-<UTC time>-<random>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() else "_" for ch in problem_name)[:32]
    return f"{safe}-{stamp}-{secrets.token_hex(2)}"


def run_context(
    settings: Settings, on_event: EventHandler | None = None, *, models: LLMConfig | None = None
) -> RunContext:
    """The run's settings and ports, built once from the settings' sections.

    Args:
        settings: The settings, CLI flags applied.
        on_event: Progress callback.
        models: Model access to use (default: ``LLMConfig.from_settings(settings)``).
    """
    search = settings.section(SearchSettings)
    models = models or LLMConfig.from_settings(settings)
    knowledge = settings.section(KnowledgeSettings)
    return RunContext(
        data_dir=settings.data_dir,
        search=search,
        policy=UCTPolicy.from_settings(search),
        evaluator=SubprocessEvaluator(
            data_dir=settings.data_dir, settings=settings.section(EvalSettings)
        ),
        recorder=open_run_store(settings.runs_dir, settings.database_url),
        coders=RunCoders(config=models, runs_dir=settings.runs_dir),
        models=models,
        knowledge=(
            ChromaKnowledge(data_dir=settings.data_dir, settings=knowledge)
            if knowledge.use_knowledge
            else None
        ),
        on_event=on_event,
    )


def plan_run(
    request: RunRequest, settings: Settings, *, context: RunContext | None = None
) -> Plan:
    """Resolve a request (raises a KevolveError with one sentence on bad input)."""
    return plan_request(request, context or run_context(settings))


def start_run(
    request: RunRequest,
    settings: Settings | None = None,
    on_event: EventHandler | None = None,
    plan: Plan | None = None,
    *,
    context: RunContext | None = None,
) -> dict[str, Any]:
    """Create a run, drive it to the end, and return its summary object.

    ``context`` is the run's context when the caller built it already (its ``on_event`` is
    replaced by ``on_event`` when one is given); otherwise it is built from ``settings``.
    """
    settings = settings or get_settings()
    context = _with_events(context or run_context(settings), on_event)
    if Path(request.problem).is_file():
        request = request.model_copy(update={"problem": str(Path(request.problem).resolve())})
    plan = plan or plan_request(request, context)
    run_id = new_run_id(plan.problem.name)
    store = open_run_store(settings.runs_dir, settings.database_url)
    info = RunInfo(
        run_id=run_id,
        problem=plan.problem.name,
        target=plan.target.name,
        budget=plan.budget,
        languages=plan.languages,
        request=request.model_dump(mode="json"),
    )
    store.create(info, plan.problem.source)
    initial = _initial_state(run_id, request, plan)
    context.emit("started", run_id=run_id, budget=plan.budget, notes=plan.notes)
    return _drive(run_id, initial, settings, context)


def _with_events(context: RunContext, on_event: EventHandler | None) -> RunContext:
    return dataclasses.replace(context, on_event=on_event) if on_event else context


def resume_run(
    run_id: str, settings: Settings | None = None, on_event: EventHandler | None = None
) -> dict[str, Any]:
    """Continue a run from its last checkpoint; a finished run just returns its summary."""
    settings = settings or get_settings()
    context = run_context(settings, on_event)
    store = open_run_store(settings.runs_dir, settings.database_url)
    info = store.info(run_id)
    store.sync_local(run_id)
    summary = store.read_summary(run_id)
    if info.status == "finished" and summary is not None:
        return summary
    graph = compile_graph(open_checkpointer(settings.database_url, settings.checkpoint_db))
    snapshot = graph.get_state({"configurable": {"thread_id": run_id}})
    graph_input: RunState | None = None
    if not snapshot.values:
        # Killed before the first checkpoint: start the same request again under this id.
        request = RunRequest.model_validate(info.request)
        graph_input = _initial_state(run_id, request, plan_request(request, context))
    store.set_status(run_id, "running")
    context.emit(
        "resumed", run_id=run_id, budget=info.budget, done=len(store.evaluation_log(run_id))
    )
    return _drive(run_id, graph_input, settings, context, graph)


def _initial_state(run_id: str, request: RunRequest, plan: Plan) -> RunState:
    """The graph input of a new run: the request with its resolved plan."""
    return RunState(
        run_id=run_id,
        request=request,
        problem=plan.problem.model_dump(mode="json"),
        target=plan.target.model_dump(mode="json"),
        languages=plan.languages,
        budget=plan.budget,
    )


def _drive(
    run_id: str,
    graph_input: RunState | None,
    settings: Settings,
    context: RunContext,
    graph: RunGraph | None = None,
) -> dict[str, Any]:
    store = open_run_store(settings.runs_dir, settings.database_url)
    graph = graph or compile_graph(open_checkpointer(settings.database_url, settings.checkpoint_db))
    config: RunnableConfig = {
        "configurable": {"thread_id": run_id},
        "max_concurrency": settings.max_concurrency,
        "recursion_limit": 10_000,
    }
    context = dataclasses.replace(context, on_event=guard_events(run_id, context.on_event))

    def on_interrupt(ended: bool) -> None:
        if ended:
            return  # every step had finished: the run keeps the status its report gave it
        done = len(store.evaluation_log(run_id))
        stopped = RunInterrupted(run_id, done, store.info(run_id).budget)
        store.set_status(run_id, "interrupted", str(stopped))
        raise stopped

    try:
        final = drive_interruptibly(
            run_id,
            lambda: graph.invoke(graph_input, config=config, context=context, durability="sync"),
            on_interrupt,
        )
    except RunInterrupted:
        raise
    except (LLMUnavailableError, LLMTransientError) as e:
        # A provider outage: what finished is checkpointed; the run waits to be resumed.
        paused = RunPaused(run_id, str(e))
        store.set_status(run_id, "paused", str(paused))
        raise paused from e
    except Exception as e:
        store.set_status(run_id, "failed", f"{type(e).__name__}: {e}")
        raise
    summary = final.get("summary") if isinstance(final, dict) else None
    if not summary:
        summary = store.read_summary(run_id)
    if not summary:
        raise RunStoreError(f"run {run_id} ended without a summary; see its report folder.")
    return summary


def optimize(
    problem: str,
    *,
    target: str | None = None,
    budget: int | None = None,
    languages: list[str] | None = None,
    shape: str | None = None,
    dtype: str | None = None,
    **setting_overrides: Any,
) -> dict[str, Any]:
    """Optimize ``problem`` (a file path or op name) and return the run's summary."""
    settings = get_settings(**setting_overrides)
    request = RunRequest(
        problem=problem,
        target=target or settings.target,
        budget=budget or settings.budget,
        languages=languages or [],
        shape=shape,
        dtype=dtype,
        use_knowledge=settings.use_knowledge,
    )
    return start_run(request, settings)
