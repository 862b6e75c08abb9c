"""The intake graph: chat or ticket text -> a complete ``RunRequest``, asking at most one question.

A small graph of its own, run before (and apart from) the optimization graph:

    START -> parse -> clarify -> finish -> END

``parse`` reads the text (the planner's model if one is configured, else the rules);
``clarify`` asks one question through LangGraph ``interrupt()`` when the op or the chip is
missing or ambiguous, and folds the answer in (parsed the same way); ``finish`` applies the
defaults and builds the ``RunRequest``. The chat resumes the graph with
``Command(resume=answer)``. Keeping it separate means the run graph always starts from a
resolved request, and a run's checkpoints never hold a pending question. The work of each
node is a plain function of ``agents.planner.intake``.
"""

from __future__ import annotations

import secrets
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from pydantic import BaseModel, Field

from agents.llm.retry import llm_retry_policy
from agents.planner.intake import (
    IntakeContext,
    clarify_request,
    question_for,
    read_request,
    to_run_request,
)
from agents.planner.schemas import PlanRequest, RunRequest


class IntakeState(BaseModel):
    """The intake graph's state (plain data)."""

    text: str
    parsed: dict[str, Any] = Field(default_factory=dict)
    """The ``PlanRequest`` so far."""
    question: str = ""
    answer: str = ""
    request: dict[str, Any] = Field(default_factory=dict)
    """The finished ``RunRequest``."""
    notes: list[str] = Field(default_factory=list)


def parse(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    """Read the request text."""
    return {"parsed": read_request(state.text, runtime.context).model_dump(mode="json")}


def clarify(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    """Ask one question when the op or chip is missing or ambiguous; fold the answer in."""
    req = PlanRequest.model_validate(state.parsed)
    question = question_for(req, runtime.context)
    if question is None:
        return {}
    answer = str(interrupt({"question": question}) or "").strip()
    if not answer:
        return {"question": question}
    merged = clarify_request(req, answer, runtime.context)
    return {"parsed": merged.model_dump(mode="json"), "question": question, "answer": answer}


def finish(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    """Apply defaults and build the RunRequest."""
    req = PlanRequest.model_validate(state.parsed)
    request, notes = to_run_request(req, runtime.context)
    return {"request": request.model_dump(mode="json"), "notes": notes}


intake_builder = StateGraph(IntakeState, context_schema=IntakeContext)
intake_builder.add_node("parse", parse, retry_policy=llm_retry_policy())
intake_builder.add_node("clarify", clarify)
intake_builder.add_node("finish", finish)
intake_builder.add_edge(START, "parse")
intake_builder.add_edge("parse", "clarify")
intake_builder.add_edge("clarify", "finish")
intake_builder.add_edge("finish", END)


class IntakeStep(BaseModel):
    """Where an intake stands: a question to answer, or the finished request."""

    question: str | None = None
    request: RunRequest | None = None
    parsed: PlanRequest | None = None
    notes: list[str] = Field(default_factory=list)


class Intake:
    """One conversation's intake: ``start(text)``, then ``answer(text)`` while it asks."""

    def __init__(self, ctx: IntakeContext) -> None:
        self.ctx = ctx
        self.graph = intake_builder.compile(checkpointer=InMemorySaver())
        self.config: RunnableConfig = {}

    def _step(self, graph_input: Any) -> IntakeStep:
        out = self.graph.invoke(graph_input, config=self.config, context=self.ctx)
        pending = out.get("__interrupt__") if isinstance(out, dict) else None
        parsed = PlanRequest.model_validate(out["parsed"]) if out.get("parsed") else None
        if pending:
            return IntakeStep(question=str(pending[0].value["question"]), parsed=parsed)
        return IntakeStep(
            request=RunRequest.model_validate(out["request"]),
            parsed=parsed,
            notes=out.get("notes", []),
        )

    def start(self, text: str) -> IntakeStep:
        """Begin with the user's message."""
        self.config = {"configurable": {"thread_id": f"intake-{secrets.token_hex(4)}"}}
        self.ctx.calls.clear()
        self.ctx.fallbacks.clear()
        return self._step(IntakeState(text=text))

    def answer(self, text: str) -> IntakeStep:
        """Answer the pending question."""
        return self._step(Command(resume=text))
