"""The planner's LLM path: request text -> :class:`PlanRequest` through structured output.

The model fills a flat answer schema; its values are then checked against the registries
exactly like the offline parser's (unknown ops and chips are dropped, not trusted), and any
field it left empty is taken from the offline parse. Pasted code and file paths are always
read by the rules: a model never retypes code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from agents.llm.prompts import render
from agents.llm.session import LLMSession
from agents.planner.schemas import Constraints, PlanRequest
from agents.planner.text import parse_text
from tools.errors import KevolveError
from tools.hardware import list_targets, load_target
from tools.problems.ops import ROW_DEFAULT, canonical_op, list_ops, normalize_dtype, parse_shape

log = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).parent / "prompts"
KNOWN_LANGUAGES = ("triton", "cuda", "hip", "cpp")


class RequestAnswer(BaseModel):
    """What the planner's model returns (structured output)."""

    op: str | None = Field(default=None, description="A known operator name, or null.")
    op_choices: list[str] = Field(
        default_factory=list, description="Operators it may mean when ambiguous."
    )
    problem_file: str | None = Field(
        default=None, description="Path of a KernelBench .py file, or null."
    )
    shape: str | None = Field(default=None, description="Sizes like 4096x8192, or null.")
    dtype: str | None = Field(default=None, description="float32, float16, bfloat16, or null.")
    target: str | None = Field(default=None, description="A known chip name, or null.")
    target_choices: list[str] = Field(
        default_factory=list, description="Chips it may mean when ambiguous."
    )
    languages: list[str] = Field(default_factory=list)
    budget: int | None = Field(default=None, description="Candidates to evaluate, or null.")
    allow_lower_precision: bool = False
    allow_library_calls: bool | None = None
    allowed_calls: list[str] = Field(default_factory=list)


def request_prompt(text: str, extra_chip_dirs: Sequence[Path] = ()) -> str:
    """The planner's prompt for one request."""
    return render(
        PROMPTS_DIR, "request.md.j2",
        text=text, ops=list_ops(), chips=list_targets(extra_chip_dirs), default_rows=ROW_DEFAULT[0],
    )  # fmt: skip


def _chip(name: str | None, extra: Sequence[Path]) -> str | None:
    if not name:
        return None
    try:
        return load_target(name, extra_dirs=extra).name
    except KevolveError:
        return None


def _checked(answer: RequestAnswer, text: str, extra: Sequence[Path]) -> PlanRequest:
    """The model's answer with every value validated against the registries."""
    req = PlanRequest(text=text)
    req.op = canonical_op(answer.op) if answer.op else None
    req.op_choices = [op for c in answer.op_choices if (op := canonical_op(c))]
    req.problem_file = (
        answer.problem_file if answer.problem_file and answer.problem_file.endswith(".py") else None
    )
    try:
        req.shape = "x".join(map(str, parse_shape(answer.shape))) if answer.shape else None
    except KevolveError:
        req.notes.append(f"the model's shape {answer.shape!r} was not understood")
    try:
        req.dtype = normalize_dtype(answer.dtype) if answer.dtype else None
    except KevolveError:
        req.notes.append(f"the model's dtype {answer.dtype!r} was not understood")
    req.target = _chip(answer.target, extra)
    req.target_choices = sorted({c for name in answer.target_choices if (c := _chip(name, extra))})
    req.languages = [lang.lower() for lang in answer.languages if lang.lower() in KNOWN_LANGUAGES]
    req.budget = answer.budget if answer.budget and answer.budget > 0 else None
    req.constraints = Constraints(
        allow_lower_precision=answer.allow_lower_precision,
        allow_library_calls=answer.allow_library_calls,
        allowed_calls=list(answer.allowed_calls),
    )
    return req


def merge(primary: PlanRequest, fallback: PlanRequest) -> PlanRequest:
    """``primary`` with its empty fields taken from ``fallback``."""
    data = primary.model_dump()
    for key, value in fallback.model_dump().items():
        if key in ("author", "text", "constraints"):
            continue
        if data.get(key) in (None, [], "") and value not in (None, [], ""):
            data[key] = value
    if primary.has_problem:
        data["op_choices"] = []
    if primary.target:
        data["target_choices"] = []
    return PlanRequest.model_validate(data)


def parse_text_llm(
    text: str, session: LLMSession, *, extra_chip_dirs: Sequence[Path] = ()
) -> PlanRequest:
    """Parse a request with the planner's model; empty fields are filled by the rules.

    Raises:
        LLMError: A subclass; the caller decides whether to use the rules alone.
    """
    offline = parse_text(text, extra_chip_dirs=extra_chip_dirs)
    pasted = offline.problem_code or offline.snippet
    if pasted:
        # The model sees the prose, not the pasted code.
        prose = text.replace(pasted.strip(), "[pasted code]")
    else:
        prose = text
    answer = session.structured(RequestAnswer, [("human", request_prompt(prose, extra_chip_dirs))])
    checked = _checked(answer, text, extra_chip_dirs)
    if offline.problem_code or offline.problem_file or offline.snippet or offline.snippet_error:
        # Pasted code is the problem as written: a model never swaps in an operator for it.
        checked.op, checked.op_choices = None, []
        checked.problem_file = offline.problem_file
        checked.problem_code = offline.problem_code
        checked.snippet, checked.snippet_error = offline.snippet, offline.snippet_error
    out = merge(checked, offline)
    out.author = session.spec
    return out
