"""Planning: resolve a request into a Plan (problem, target, languages, budget)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from agents.planner.schemas import Plan, RunRequest
from tools.errors import KevolveError, ProblemError
from tools.hardware import load_target
from tools.problems import load_problem
from tools.problems.ops import canonical_op

KNOWN_LANGUAGES = ("triton", "cuda", "hip", "cpp")


def _is_free_text(spec: str) -> bool:
    text = spec.strip()
    if not any(ch.isspace() for ch in text):
        return False  # one word: an op name or a path; load_problem explains what is wrong
    return not (text.endswith(".py") or Path(text).expanduser().is_file() or canonical_op(text))


def problem_from_text(
    request: RunRequest, requests_dir: Path | None, extra_chip_dirs: Sequence[Path]
) -> RunRequest:
    """A request whose ``problem`` is plain words ("row-wise softmax over 8192 columns in bf16")
    or pasted code, rewritten to name an op (with shape and dtype) or a problem file.

    Raises:
        ProblemError: The words name no single known op and hold no code.
    """
    from agents.planner.intake import pasted_problem_file
    from agents.planner.text import parse_text

    parsed = parse_text(request.problem, extra_chip_dirs=extra_chip_dirs)
    if parsed.problem_code:
        folder = requests_dir or Path(tempfile.gettempdir()) / "kevolve-requests"
        return request.model_copy(
            update={
                "problem": str(pasted_problem_file(parsed.problem_code, folder)),
                "shape": None,
                "dtype": None,
            }
        )
    if parsed.problem_file:
        return request.model_copy(update={"problem": parsed.problem_file})
    if parsed.op is None:
        hint = f" (it may mean {' or '.join(parsed.op_choices)})" if parsed.op_choices else ""
        raise ProblemError(
            f"the problem {request.problem[:60]!r} names no known op{hint}; name an op such as "
            "softmax or give the path of a KernelBench .py file."
        )
    return request.model_copy(
        update={
            "problem": parsed.op,
            "shape": request.shape or parsed.shape,
            "dtype": request.dtype or parsed.dtype,
        }
    )


CPU_ROW_SHAPE = "2048x4096"
"""Named row and pointwise ops on a CPU target: 8M elements (32 MB in fp32), big enough to
leave the caches, small enough that a 2-core machine times each candidate in seconds."""
CPU_MNK_SHAPE = "512x512x512"


def cpu_default_shape(op_name: str) -> str | None:
    """The default shape of a named op when the target is a CPU (GPU sizes are too slow)."""
    from tools.problems.ops import OP_FAMILIES, canonical_op

    op = canonical_op(op_name)
    if op is None:
        return None
    return CPU_MNK_SHAPE if OP_FAMILIES.get(op) == "matmul" else CPU_ROW_SHAPE


def resolve_request(
    request: RunRequest,
    extra_chip_dirs: Sequence[Path] = (),
    *,
    llm_coder: bool = False,
    requests_dir: Path | None = None,
) -> Plan:
    """Resolve problem, target and languages; raise a KevolveError on bad input.

    Args:
        request: The request; its ``problem`` may be a file path, an op name, or plain
            words / pasted code (parsed by the offline rules, as for a ticket).
        extra_chip_dirs: Further hardware folders.
        llm_coder: A model writes kernels: keep every language the chip runs, even those
            without an offline coder or template for this problem.
        requests_dir: Where pasted code is written as a problem file (default: a temp dir).
    """
    extra_chip_dirs = [Path(d) for d in extra_chip_dirs if Path(d).is_dir()]
    if _is_free_text(request.problem):
        request = problem_from_text(request, requests_dir, extra_chip_dirs)
    target = load_target(request.target, extra_dirs=extra_chip_dirs)
    notes: list[str] = []
    shape = request.shape
    if shape is None and target.kind == "cpu" and not Path(request.problem).is_file():
        shape = cpu_default_shape(request.problem)
        if shape:
            notes.append(f"CPU target: default shape {shape} (pass --shape to change it)")
    problem = load_problem(request.problem, shape=shape, dtype=request.dtype)
    wanted = [lang.lower() for lang in request.languages] or list(target.languages)
    for lang in wanted:
        if lang not in KNOWN_LANGUAGES:
            raise KevolveError(
                f"unknown language {lang!r}; choose from {', '.join(KNOWN_LANGUAGES)}."
            )
    from agents.coders import coder_for, offline_coders

    usable: list[str] = []
    available = {c.language for c in offline_coders()}
    for lang in wanted:
        if lang not in target.languages:
            if request.languages:
                raise KevolveError(
                    f"{target.display_name} does not run {lang} kernels; it accepts "
                    f"{', '.join(target.languages)}."
                )
            continue
        if llm_coder:
            usable.append(lang)
            continue
        if lang not in available:
            notes.append(f"no offline {lang} coder yet; {lang} is skipped")
            continue
        if not coder_for(lang).supports(problem, target):
            notes.append(f"the {lang} coder has no template for this problem; {lang} is skipped")
            continue
        usable.append(lang)
    if not usable:
        notes.append(
            "no kernel language can handle this problem here; only the PyTorch reference "
            "passthrough will be evaluated"
        )
    return Plan(
        problem=problem, target=target, languages=usable, budget=request.budget, notes=notes
    )
