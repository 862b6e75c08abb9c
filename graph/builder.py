"""The optimization graph: nodes and edges (DESIGN.md "The flow of one run").

    plan -> seed -> dispatch =Send=> evaluate -> interpret -> update -> select =Send=> code
                                                                  \\-> curate -> report
    code -> dispatch (-> evaluate ...)

Exports ``builder`` (uncompiled, for LangGraph's own tools via ``langgraph.json``) and
``compile_graph(checkpointer)``; checkpointers are in ``graph.checkpoint``.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.llm.retry import llm_retry_policy
from graph.agent_nodes import code, curate, interpret, plan
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


def compile_graph(
    checkpointer: BaseCheckpointSaver | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunState, RunState]:
    """The runnable graph, checkpointing every superstep when a checkpointer is given."""
    return builder.compile(checkpointer=checkpointer)
