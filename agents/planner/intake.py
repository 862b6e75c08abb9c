"""The intake graph: chat or ticket text -> a complete ``RunRequest``, asking at most one question.

A small graph of its own, run before (and apart from) the optimization graph:

    START -> parse -> clarify -> finish -> END

``parse`` reads the text (the planner's model if one is configured, else the rules);
``clarify`` asks one question through LangGraph ``interrupt()`` when the op or the chip is
missing or ambiguous, and folds the answer in (parsed the same way); ``finish`` applies the
defaults and builds the ``RunRequest``. The chat resumes the graph with
``Command(resume=answer)``. Keeping it separate means the run graph always starts from a
resolved request, and a run's checkpoints never hold a pending question.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt
from pydantic import BaseModel, Field

from agents.llm.config import LLMConfig
from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMRequestError, LLMUnavailableError
from agents.llm.retry import llm_retry_policy
from agents.llm.session import LLMSession
from agents.llm.usage import UsageLine
from agents.planner.llm import merge, parse_text_llm
from agents.planner.schemas import PlanRequest
from agents.planner.snippet import forward_of, snippet_problem
from agents.planner.text import parse_text
from graph.state import RunRequest
from tools.errors import ProblemError
from tools.hardware import list_targets
from tools.problems.ops import list_ops, parse_shape

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class IntakeContext:
    """Defaults and model access for the intake graph (never checkpointed)."""

    requests_dir: Path
    """Where pasted problem code is written as a KernelBench file."""
    default_target: str | None = None
    """Chip used when the request names none and the question was not answered."""
    default_budget: int = 12
    use_knowledge: bool = True
    llm: LLMConfig = field(default_factory=LLMConfig)
    extra_chip_dirs: Sequence[Path] = ()
    calls: list[UsageLine] = field(default_factory=list)
    """Model calls the planner made (added to the run's ledger once the run exists)."""
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    """Steps the planner did with its rules instead of its model (added to the run's record)."""


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


def read_request(text: str, ctx: IntakeContext) -> PlanRequest:
    """Parse ``text`` with the planner's model when configured, else with the rules."""
    if ctx.llm.enabled("planner"):
        session = LLMSession(config=ctx.llm, agent="planner", calls=ctx.calls, fallbacks=ctx.fallbacks)
        try:
            return parse_text_llm(text, session, extra_chip_dirs=ctx.extra_chip_dirs)
        except (LLMAnswerError, LLMRequestError, LLMBudgetError) as e:
            session.fall_back("reading the request", e)
        except LLMUnavailableError as e:
            if not ctx.llm.fallback_offline:
                raise
            session.fall_back("reading the request", e)
    return parse_text(text, extra_chip_dirs=ctx.extra_chip_dirs)


def parse(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    """Read the request text."""
    return {"parsed": read_request(state.text, runtime.context).model_dump(mode="json")}


def clarify(state: IntakeState, runtime: Runtime[IntakeContext]) -> dict[str, Any]:
    """Ask one question when the op or chip is missing or ambiguous; fold the answer in."""
    ctx = runtime.context
    req = PlanRequest.model_validate(state.parsed)
    chips = [t.name for t in list_targets(ctx.extra_chip_dirs)]
    probe = req
    if req.target is None and not req.target_choices and ctx.default_target:
        # No chip named: `finish` uses the default target and says so; no question for it.
        probe = req.model_copy(update={"target": ctx.default_target})
    question = probe.question(chips, list_ops())
    if question is None:
        return {}
    answer = str(interrupt({"question": question}) or "").strip()
    if not answer:
        return {"question": question}
    reply = parse_text(answer, extra_chip_dirs=ctx.extra_chip_dirs)
    if req.snippet and not req.shape and reply.snippet is None and not reply.problem_code:
        shape = _shape_of(answer)  # the answer to "what shape should each input have"
        if shape:
            req = req.model_copy(update={"shape": shape})
            reply = reply.model_copy(update={"shape": None})
    if not reply.has_problem and req.op_choices:
        reply.op = pick(req.op_choices, answer)
    if reply.target is None and req.target_choices:
        reply.target = pick(req.target_choices, answer)
    merged = merge(reply, req) if reply.has_problem or reply.target else req
    merged.text = req.text
    if req.has_problem and not reply.has_problem:
        merged.op, merged.problem_file, merged.problem_code, merged.snippet = (
            req.op,
            req.problem_file,
            req.problem_code,
            req.snippet,
        )
        merged.shape = req.shape or merged.shape
    if reply.has_problem:
        merged.snippet_error = ""
    return {"parsed": merged.model_dump(mode="json"), "question": question, "answer": answer}


ORDINALS = {"first": 0, "1": 0, "one": 0, "second": 1, "2": 1, "two": 1, "third": 2, "3": 2,
            "three": 2, "last": -1}  # fmt: skip


def pick(choices: list[str], answer: str) -> str | None:
    """The choice an answer means: by name, by a part of it ("rms"), or by position ("2nd")."""
    words = [w for w in re.split(r"[^a-z0-9]+", answer.lower()) if w]
    for choice in choices:
        if choice in answer.lower().replace(" ", "_"):
            return choice
    partial = [c for c in choices if any(len(w) >= 2 and w in c.split("_") for w in words)]
    if len(partial) == 1:
        return partial[0]
    for w in words:
        key = w.rstrip("stndrh") if w[:1].isdigit() else w
        if key in ORDINALS and -len(choices) <= ORDINALS[key] < len(choices):
            return choices[ORDINALS[key]]
    return None


def pasted_problem_file(code: str, requests_dir: Path) -> Path:
    """Write pasted KernelBench code to a file named by its hash (same code, same file)."""
    digest = hashlib.sha1(code.encode()).hexdigest()[:10]
    path = Path(requests_dir) / f"request_{digest}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(code, encoding="utf-8")
    return path


def to_run_request(req: PlanRequest, ctx: IntakeContext) -> tuple[RunRequest, list[str]]:
    """The ``RunRequest`` for a parsed request, defaults applied; and the notes to show.

    Raises:
        ProblemError: The request names no problem (after the question, if any).
        TargetError: No chip is named and there is no default.
    """
    notes = list(req.notes)
    if req.snippet:
        if not req.shape:
            raise ProblemError(
                "The pasted code needs the shape of its inputs; say it, e.g. `over 4096x8192`."
            )
        source = snippet_problem(req.snippet, parse_shape(req.shape), req.dtype or "float32")
        problem = str(pasted_problem_file(source, ctx.requests_dir))
        args = ", ".join(forward_of(req.snippet)[0])
        notes.append(
            f"the pasted code is the problem as written; its inputs {args} are random "
            f"{req.dtype or 'float32'} tensors of shape {req.shape} each"
        )
    elif req.problem_code:
        problem = str(pasted_problem_file(req.problem_code, ctx.requests_dir))
    elif req.problem_file:
        problem = req.problem_file
    elif req.op:
        problem = req.op
    else:
        choices = f" (did you mean {' or '.join(req.op_choices)}?)" if req.op_choices else ""
        raise ProblemError(
            f"I could not tell which operator to optimize{choices}; name an op such as softmax, "
            "give a KernelBench file path, or paste the PyTorch code."
        )
    target = req.target
    if target is None:
        from tools.errors import TargetError

        if not ctx.default_target:
            raise TargetError(
                "the request names no chip; say which one (for example h100 or MI300)."
            )
        target = ctx.default_target
        notes.append(f"no chip was named; using the default target {target}")
    return (
        RunRequest(
            problem=problem,
            target=target,
            budget=req.budget or ctx.default_budget,
            languages=req.languages,
            shape=req.shape if req.op else None,
            dtype=req.dtype if req.op else None,
            allow_lower_precision=req.constraints.allow_lower_precision,
            use_knowledge=ctx.use_knowledge,
        ),
        notes,
    )


def _shape_of(text: str) -> str | None:
    """A shape written in an answer (``4096x8192``, ``(64, 128)``), or ``None``."""
    from agents.planner.text import _shape

    return _shape(text, None)[0]


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
        self.config: dict[str, Any] = {}

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


def intake_context(settings: Any, llm: LLMConfig | None = None) -> IntakeContext:
    """An IntakeContext from ``kevolve.settings.Settings``."""
    return IntakeContext(
        requests_dir=settings.data_dir / "requests",
        default_target=settings.target,
        default_budget=settings.budget,
        use_knowledge=settings.use_knowledge,
        llm=llm or LLMConfig.from_settings(settings),
        extra_chip_dirs=[d for d in [settings.data_dir / "hardware_docs"] if d.is_dir()],
    )
