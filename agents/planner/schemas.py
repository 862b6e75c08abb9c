"""The planner's records: a run request, a parsed request (from chat or ticket text) and the
resolved plan."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.records import Problem, Target

DEFAULT_BUDGET = 12
"""Candidates evaluated per run when neither the request nor the settings name a budget (the
reference passthrough counts as one)."""


class RunRequest(BaseModel):
    """What the user asked for, before planning resolved it."""

    problem: str
    """A KernelBench file path or an op name."""
    target: str = "cpu"
    budget: int = DEFAULT_BUDGET
    languages: list[str] = Field(default_factory=list)
    """Empty: every language the target accepts and a coder supports."""
    shape: str | None = None
    dtype: str | None = None
    allow_lower_precision: bool = False
    allow_library_calls: bool | None = None
    """None: the default policy (PyTorch ops allowed, never the reference Model)."""
    allowed_calls: list[str] = Field(default_factory=list)
    use_knowledge: bool = True


class Plan(BaseModel):
    """A resolved request: what to optimize, for which chip, in which languages."""

    problem: Problem
    target: Target
    languages: list[str]
    budget: int
    notes: list[str] = Field(default_factory=list)
    """Decisions worth telling the user (a language dropped, a default applied)."""


class Constraints(BaseModel):
    """What the request allows a kernel to do."""

    allow_lower_precision: bool = False
    """TF32/fp16/bf16 math is acceptable for an fp32 reference."""
    allow_library_calls: bool | None = None
    """``True``: library and torch calls allowed; ``False``: kernels only; ``None``: default policy."""
    allowed_calls: list[str] = Field(default_factory=list)
    """Library calls the request names as allowed (``torch.matmul``, ``cublas``)."""


class PlanRequest(BaseModel):
    """What a chat message or ticket asks for, before the problem is loaded.

    Exactly one of ``op``, ``problem_file`` and ``problem_code`` names the problem once the
    request is complete; ``op_choices`` / ``target_choices`` hold the candidates when the
    text was ambiguous.
    """

    text: str
    """The message as written."""
    op: str | None = None
    """Canonical op name (``tools.problems.list_ops()``)."""
    problem_file: str | None = None
    """Path of a KernelBench ``.py`` file."""
    problem_code: str | None = None
    """Pasted KernelBench source (``class Model`` with ``get_inputs``)."""
    snippet: str | None = None
    """Pasted code that is not a KernelBench file (an expression, ``return`` line or function):
    it becomes ``Model.forward`` verbatim once the inputs' shape is known."""
    snippet_error: str = ""
    """Why the pasted fragment cannot be made into a faithful problem (asked about, never
    replaced by an operator named inside it)."""
    shape: str | None = None
    """``4096x8192`` style, for a named op or the inputs of a pasted fragment."""
    dtype: str | None = None
    """torch dtype name, for a named op."""
    target: str | None = None
    """Registry chip name (aliases already resolved)."""
    languages: list[str] = Field(default_factory=list)
    budget: int | None = None
    constraints: Constraints = Field(default_factory=Constraints)
    op_choices: list[str] = Field(default_factory=list)
    """Ops the text might mean when it is ambiguous."""
    target_choices: list[str] = Field(default_factory=list)
    """Chips the text might mean when it is ambiguous."""
    notes: list[str] = Field(default_factory=list)
    author: str = "offline"
    """``offline`` (rules) or the planner model's name."""

    @property
    def has_problem(self) -> bool:
        """True when the problem is named unambiguously."""
        return bool(self.op or self.problem_file or self.problem_code or self.snippet)

    def question(self, chips: list[str], ops: list[str]) -> str | None:
        """The one question to ask, or ``None`` when nothing is missing or ambiguous.

        Args:
            chips: Known chip names, to offer when the chip is missing.
            ops: Known op names, to offer when the op is missing.
        """
        parts: list[str] = []
        if self.snippet and not self.shape:
            parts.append("what shape should each input of the pasted code have (for example 4096x8192)")
        if not self.has_problem:
            if self.snippet_error:
                parts.append(
                    f"{self.snippet_error.rstrip('.')}; what should I optimize instead (the corrected code, "
                    "an op name or a KernelBench file path)"
                )
            elif self.op_choices:
                parts.append(f"which operator do you mean: {_or(self.op_choices)}")
            else:
                parts.append(
                    f"which operator should I optimize (an op such as {', '.join(ops[:6])}, a "
                    "KernelBench file path, or pasted PyTorch code)"
                )
        if self.target is None:
            choices = self.target_choices or chips
            parts.append(f"which chip is it for: {_or(choices)}")
        if not parts:
            return None
        text = " and ".join(parts)
        return text[0].upper() + text[1:] + "?"


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
