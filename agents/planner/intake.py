"""Reading a request in plain words: chat or ticket text -> a complete ``RunRequest``.

Plain functions over the planner's own records; the intake graph that asks at most one
question with LangGraph ``interrupt()`` lives in ``graph.intake``. :func:`read_request` parses
the text (the planner's model if one is configured, else the rules); :func:`question_for`
says what to ask; :func:`clarify_request` folds the answer in (parsed the same way);
:func:`to_run_request` applies the defaults and builds the ``RunRequest``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.llm.config import LLMConfig
from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMRequestError, LLMUnavailableError
from agents.llm.session import LLMSession
from agents.llm.usage import UsageLine
from agents.planner.llm import merge, parse_text_llm
from agents.planner.schemas import DEFAULT_BUDGET, PlanRequest, RunRequest
from agents.planner.snippet import forward_of, snippet_problem
from agents.planner.text import parse_text, shape_in
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
    default_budget: int = DEFAULT_BUDGET
    use_knowledge: bool = True
    llm: LLMConfig = field(default_factory=LLMConfig)
    extra_chip_dirs: Sequence[Path] = ()
    calls: list[UsageLine] = field(default_factory=list)
    """Model calls the planner made (added to the run's ledger once the run exists)."""
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    """Steps the planner did with its rules instead of its model (added to the run's record)."""


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


def question_for(req: PlanRequest, ctx: IntakeContext) -> str | None:
    """The one question to ask about ``req``, or ``None`` when nothing is missing."""
    chips = [t.name for t in list_targets(ctx.extra_chip_dirs)]
    probe = req
    if req.target is None and not req.target_choices and ctx.default_target:
        # No chip named: `to_run_request` uses the default target and says so; no question.
        probe = req.model_copy(update={"target": ctx.default_target})
    return probe.question(chips, list_ops())


def clarify_request(req: PlanRequest, answer: str, ctx: IntakeContext) -> PlanRequest:
    """The request with the user's ``answer`` to :func:`question_for`'s question folded in."""
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
    return merged


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
    return shape_in(text, None)[0]


def intake_context(settings: Any, llm: LLMConfig | None = None) -> IntakeContext:
    """An IntakeContext from ``kevolve.settings.Settings`` and the model access a caller built
    already (default: the settings' own)."""
    return IntakeContext(
        requests_dir=settings.data_dir / "requests",
        default_target=settings.target,
        default_budget=settings.budget,
        use_knowledge=settings.use_knowledge,
        llm=llm or LLMConfig.from_settings(settings),
        extra_chip_dirs=[d for d in [settings.data_dir / "hardware_docs"] if d.is_dir()],
    )
