"""``kevolve check``: evaluate one ModelNew file against a problem."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from kevolve.settings import Settings
from tools.errors import KevolveError
from tools.evaluator import evaluate
from tools.evaluator.options import EvalOptions
from tools.hardware import load_target
from tools.records import Candidate, EvalResult, Language

MAX_CANDIDATE_BYTES = 2_000_000
PROFILE_MODES = ("none", "ncu")


def guess_language(source: str) -> Language:
    """The kernel language a ModelNew file uses, from what it imports and calls."""
    if "load_inline" in source and ("cuda_sources" in source or "__global__" in source):
        return "cuda"
    if "hipModule" in source or "hip_sources" in source:
        return "hip"
    if "RawModule" in source or "RawKernel" in source:
        return "cuda"
    if "@triton.jit" in source or "triton.jit" in source:
        return "triton"
    if "load_inline" in source or "cpp_extension" in source:
        return "cpp"
    return "pytorch"


def check_file(
    problem_spec: str,
    candidate_file: Path,
    settings: Settings,
    *,
    shape: str | None = None,
    dtype: str | None = None,
    allow_lower_precision: bool = False,
    profile: str = "none",
) -> EvalResult:
    """Evaluate ``candidate_file`` in the sandbox; raise KevolveError on bad input.

    ``profile="ncu"`` adds a Nsight Compute pass (``Diagnostics.ncu_kernels``) on a CUDA
    device; elsewhere the result carries a note that it was skipped.
    """
    from tools.problems import load_problem

    if profile not in PROFILE_MODES:
        raise KevolveError(f"unknown --profile '{profile}'; use one of {', '.join(PROFILE_MODES)}.")
    path = Path(candidate_file)
    if not path.is_file():
        raise KevolveError(f"candidate file {path} does not exist; pass a file defining ModelNew.")
    if path.stat().st_size > MAX_CANDIDATE_BYTES:
        raise KevolveError(f"candidate file {path} is over 2 MB; a ModelNew module is smaller.")
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise KevolveError(f"candidate file {path} is not UTF-8 text.") from e
    problem = load_problem(problem_spec, shape=shape, dtype=dtype)
    chip_dirs = [d for d in [settings.data_dir / "hardware_docs"] if d.is_dir()]
    target = load_target(settings.target, extra_dirs=chip_dirs)
    digest = hashlib.sha1(source.encode()).hexdigest()[:8]
    candidate = Candidate(
        id=f"check-{digest}", language=guess_language(source), source=source,
        transformation=f"checked from {path.name}", author="user",
    )
    options = EvalOptions.in_data_dir(
        settings.data_dir,
        timeout_s=settings.eval_timeout_s,
        seeds=[secrets.randbelow(2**31) for _ in range(settings.eval_seeds)],
        rep_ms=settings.eval_rep_ms,
        allow_lower_precision=allow_lower_precision,
        profile=profile,  # type: ignore[arg-type]
    )
    return evaluate(problem, candidate, target, options)
