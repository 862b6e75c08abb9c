"""The optimization graph: nodes and edges (DESIGN.md "The flow of one run").

    plan -> seed -> dispatch =Send=> evaluate -> interpret -> update -> select =Send=> code
                                                                  \\-> curate -> report
    code -> dispatch (-> evaluate ...)

Exports ``builder`` (uncompiled, for LangGraph's own tools via ``langgraph.json``) and
``compile_graph(checkpointer)``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.curator.node import curate
from agents.interpreter.node import interpret
from agents.llm.retry import llm_retry_policy
from agents.planner.node import plan
from agents.synthesizer.node import code
from graph.context import RunContext
from graph.nodes import (
    dispatch,
    evaluate,
    route_after_update,
    route_children,
    route_evaluations,
    seed,
    select,
    update,
)
from graph.report import report
from graph.state import CodeTask, EvalTask, RunState

builder = StateGraph(RunState, context_schema=RunContext)
builder.add_node("plan", plan, retry_policy=llm_retry_policy())
builder.add_node("seed", seed, retry_policy=llm_retry_policy())
builder.add_node("dispatch", dispatch)
builder.add_node("evaluate", evaluate, input_schema=EvalTask)
builder.add_node("interpret", interpret, retry_policy=llm_retry_policy())
builder.add_node("update", update)
builder.add_node("select", select)
builder.add_node("code", code, input_schema=CodeTask, retry_policy=llm_retry_policy())
builder.add_node("curate", curate, retry_policy=llm_retry_policy())
builder.add_node("report", report)

builder.add_edge(START, "plan")
builder.add_edge("plan", "seed")
builder.add_edge("seed", "dispatch")
builder.add_conditional_edges("dispatch", route_evaluations, ["evaluate", "interpret"])
builder.add_edge("evaluate", "interpret")
builder.add_edge("interpret", "update")
builder.add_conditional_edges("update", route_after_update, ["select", "curate"])
builder.add_conditional_edges("select", route_children, ["code", "dispatch"])
builder.add_edge("code", "dispatch")
builder.add_edge("curate", "report")
builder.add_edge("report", END)


def sqlite_checkpointer(path: Path) -> BaseCheckpointSaver:
    """The embedded default checkpointer: one SQLite file, thread_id = run id."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    # Several processes may share one data dir (queue workers, side-by-side benches): WAL lets
    # readers and one writer proceed together, and a writer waits for the lock, not fails.
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


def compile_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """The runnable graph, checkpointing every superstep when a checkpointer is given."""
    return builder.compile(checkpointer=checkpointer)
