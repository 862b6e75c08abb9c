"""``evaluate``: the orchestrator side of the sandboxed evaluator.

It never runs candidate code itself. It writes a request into a fresh directory, starts
``python -m tools.evaluator.worker`` there as a new process (scrubbed environment, caps,
wall-clock limit), and turns whatever comes back, or does not, into an ``EvalResult``.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from tools.evaluator import fsisolation, protocol
from tools.evaluator.admission import (
    Ledger,
    default_ledger,
    device_slot,
    estimate_peak_bytes,
    footprint_key,
    plan,
    slot_lock_path,
)
from tools.evaluator.device import free_memory_bytes, target_present_isolated
from tools.evaluator.options import EvalOptions
from tools.evaluator.sandbox import child_env, run_sandboxed, trim
from tools.evaluator.shapes import NOT_RESHAPED_NOTE, irregular_variant
from tools.records.candidate import Candidate
from tools.records.eval_result import EvalResult, Stage
from tools.records.problem import Problem
from tools.records.target import Target

logger = logging.getLogger(__name__)

_REFERENCE_COMPILE: dict[str, tuple[float, float]] = {}
"""``(compile_ms, eager_ms)`` of the reference per problem, target and device, measured by
this process's first evaluation of it (``EvalOptions.reuse_reference_compile``)."""

_STAGE_ORDER = [Stage.STATIC, Stage.COMPILE, Stage.CORRECTNESS, Stage.TIMING, Stage.RECHECK]


def resolve_mode(target: Target, options: EvalOptions) -> str:
    """``measure`` when the target chip is on this machine (always for ``cpu``), else ``interpret``."""
    if options.mode != "auto":
        return options.mode
    if target.kind == "cpu":
        return "measure"
    present, _ = target_present_isolated(target)
    return "measure" if present else "interpret"


def _resolve_dirs(options: EvalOptions) -> EvalOptions:
    """Fill in the default work, cache and lock paths so the worker sees concrete ones."""
    work = (
        Path(options.work_dir) if options.work_dir else Path(tempfile.gettempdir()) / "kevolve-eval"
    )
    cache = Path(options.cache_dir) if options.cache_dir else work / "cache"
    lock = options.timing_lock or str(Path(tempfile.gettempdir()) / "kevolve-timing.lock")
    work.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    return options.model_copy(
        update={"work_dir": str(work), "cache_dir": str(cache), "timing_lock": lock}
    )


def _failure(
    candidate: Candidate, target: Target, stage: Stage, error: str, reached: str | None
) -> EvalResult:
    """An EvalResult for a worker that produced no result; earlier stages count as passed."""
    passed = set()
    if reached in {s.value for s in _STAGE_ORDER}:
        idx = [s.value for s in _STAGE_ORDER].index(reached)
        passed = {s.value for s in _STAGE_ORDER[:idx]}
    return EvalResult(
        candidate_id=candidate.id,
        target=target.name,
        static_ok=Stage.STATIC.value in passed,
        compiled=Stage.COMPILE.value in passed,
        correct=Stage.CORRECTNESS.value in passed,
        stage_failed=stage,
        error=trim(error),
    )


def evaluate(
    problem: Problem,
    candidate: Candidate,
    target: Target,
    options: EvalOptions | None = None,
) -> EvalResult:
    """Evaluate one candidate against its reference in a fresh sandboxed subprocess.

    Stages, cheapest first: static checks, compile, correctness over ``options.seeds``,
    then timing on the target chip when it is on this machine (``measure``), or Triton
    interpreter correctness plus an ahead-of-time compile for the target and a roofline
    model when it is not (``interpret``; the result says ``measured_on="modeled"``).

    Args:
        problem: The KernelBench reference (``Model``, ``get_inputs``, ``get_init_inputs``).
        candidate: The ``ModelNew`` module to judge.
        target: The chip to judge it for.
        options: Limits and policy; defaults when ``None``.

    Memory: with ``options.admit_by_memory`` the worker starts only once the problem's
    footprint fits beside the evaluations already running (``tools.evaluator.admission``).
    An out-of-memory is the machine's limit, not a wrong answer: ``stage_failed`` is
    ``environment`` with the flag ``out_of_memory``; an evaluation that ran side by side is
    retried alone, and one that runs out of memory alone is reported as "does not fit".

    Returns:
        The EvalResult. Every failure, the sandbox's own included (timeout, crash, killed
        for memory), comes back as a result with ``stage_failed`` set; this function does not
        raise for anything the candidate does.
    """
    options = _resolve_dirs(options or EvalOptions())
    mode = resolve_mode(target, options)
    slot = device_slot(device_kind(target, mode))
    options = options.model_copy(
        update={"timing_lock": slot_lock_path(options.timing_lock, slot)}
    )  # one device lock per GPU: timing on one GPU does not wait for another
    start = time.monotonic()
    if options.admit_by_memory:
        result = _admitted(problem, candidate, target, options, mode)
    else:
        result = _attempt(problem, candidate, target, options, mode)
    if result.out_of_memory:
        result.error = trim(
            "does not fit: the evaluation ran out of memory on this machine"
            + (" even alone" if options.admit_by_memory else "")
            + f"; {result.error}"
        )
    result.duration_s = time.monotonic() - start
    logger.info(
        "evaluated %s on %s (%s): stage_failed=%s in %.1f s",
        candidate.id,
        target.name,
        mode,
        result.stage_failed.value if result.stage_failed else None,
        result.duration_s,
    )
    return result


def _attempt(
    problem: Problem, candidate: Candidate, target: Target, options: EvalOptions, mode: str
) -> EvalResult:
    """One worker run in a fresh directory (removed afterwards unless kept); the reference's
    ``torch.compile`` time is measured once per problem and reused after that."""
    reuse = options.reuse_reference_compile and options.measure_compile and mode == "measure"
    key = footprint_key(problem.source, target.name, device_kind(target, mode))
    cached = _REFERENCE_COMPILE.get(key) if reuse else None
    workdir = Path(tempfile.mkdtemp(prefix=f"cand-{candidate.id[:24]}-", dir=options.work_dir))
    try:
        result = _run_worker(problem, candidate, target, options, mode, workdir, cached)
    finally:
        if not options.keep_work_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    if reuse and cached is None and result.ref_compile_ms and result.ref_eager_ms:
        _REFERENCE_COMPILE[key] = (result.ref_compile_ms, result.ref_eager_ms)
    return result


def device_kind(target: Target, mode: str) -> str:
    """The memory an evaluation uses: ``cuda`` when measured on a GPU, else ``cpu``."""
    return "cuda" if target.kind == "gpu" and mode == "measure" else "cpu"


def _admitted(
    problem: Problem, candidate: Candidate, target: Target, options: EvalOptions, mode: str
) -> EvalResult:
    """``_attempt`` inside a memory admission; an out-of-memory side by side is retried alone."""
    ledger = Ledger(Path(options.admission_ledger or default_ledger()), free_memory_bytes)
    device = device_kind(target, mode)
    slot = device_slot(device)  # this GPU (or the CPU): other GPUs have their own budget
    key = footprint_key(problem.source, target.name, device)
    peak = ledger.footprint(key)
    estimate = estimate_peak_bytes(problem.source) if peak is None else None
    free = free_memory_bytes(slot) if peak is None and estimate is not None else 0
    need, alone = plan(peak, estimate, device, free)
    with ledger.hold(slot, need, exclusive=alone) as grant:
        result = _attempt(problem, candidate, target, options, mode)
    if grant.waited_s >= 1.0:
        result.diagnostics.notes.append(
            f"waited {grant.waited_s:.1f} s for device memory (memory admission)"
        )
    if not result.out_of_memory:
        ledger.record(key, result.peak_memory_bytes)
        return result
    ledger.record(key, None, alone=True)
    if alone:
        return result
    logger.info("%s ran out of memory side by side; retrying it alone", candidate.id)
    first_error = result.error.splitlines()[0] if result.error else ""
    with ledger.hold(slot, 0, exclusive=True):
        result = _attempt(problem, candidate, target, options, mode)
    result.diagnostics.notes.append(
        f"ran out of memory side by side with other evaluations ({first_error[:200]}); "
        "retried alone"
    )
    if not result.out_of_memory and result.peak_memory_bytes is not None:
        ledger.record(key, result.peak_memory_bytes)
    return result


def _run_worker(
    problem: Problem,
    candidate: Candidate,
    target: Target,
    options: EvalOptions,
    mode: str,
    workdir: Path,
    reference_times: tuple[float, float] | None = None,
) -> EvalResult:
    """Write the request, start the worker, and read its result back."""
    problem_file = f"_kref_{secrets.token_hex(8)}.py"
    irregular = irregular_variant(problem)
    irregular_file = f"_kref_{secrets.token_hex(8)}.py" if irregular else None
    if irregular and irregular_file:
        (workdir / irregular_file).write_text(irregular.source)
    fs_abi, fs_why = fsisolation.probe() if options.isolate_filesystem else (0, "")
    protected = [options.work_dir, options.cache_dir, str(Path(options.timing_lock).parent)]
    reference_cache = options.cache_dir
    if fs_abi:  # the shared cache is unreachable from inside: compile into the candidate's dir
        options = options.model_copy(update={"cache_dir": str(workdir / "cache")})
    request = protocol.EvalRequest(
        mode=mode,  # type: ignore[arg-type]
        problem=problem,
        candidate=candidate,
        target=target,
        options=options,
        problem_file=problem_file,
        irregular_problem_file=irregular_file,
        irregular_shape=irregular.shape if irregular else [],
        fs_isolation=fsisolation.LANDLOCK if fs_abi else "",
        protected_paths=protected,
        reference_cache_dir=reference_cache,
        reference_compile_ms=reference_times[0] if reference_times else None,
        reference_eager_ms=reference_times[1] if reference_times else None,
    )
    (workdir / problem_file).write_text(problem.source)
    (workdir / protocol.CANDIDATE_FILE).write_text(candidate.source)
    (workdir / protocol.REQUEST_FILE).write_text(request.model_dump_json())
    token = secrets.token_hex(16)
    env = child_env(home=workdir, cache_dir=Path(options.cache_dir), interpret=mode == "interpret")
    if fs_abi:
        env["TORCHINDUCTOR_COMPILE_THREADS"] = "1"  # in-process: no worker pool, no /dev/shm
    run = run_sandboxed(
        [sys.executable, "-m", "tools.evaluator.worker", protocol.REQUEST_FILE],
        cwd=workdir,
        env=env,
        timeout_s=options.timeout_s,
        stdout_path=workdir / protocol.STDOUT_FILE,
        stderr_path=workdir / protocol.STDERR_FILE,
        stdin_text=token + "\n",
        memory_limit_mib=None,  # the worker caps itself once torch is imported
        isolate_network=options.isolate_network,
    )
    reached = protocol.last_stage(workdir / protocol.PROGRESS_FILE)
    if run.timed_out:
        return _failure(
            candidate,
            target,
            Stage.SANDBOX,
            f"timed out after {options.timeout_s:g} s in stage {reached or 'startup'}",
            reached,
        )
    result = protocol.read_result(workdir / protocol.RESULT_FILE, token)
    if result is not None:
        if irregular is None and result.correct:
            result.diagnostics.notes.append(NOT_RESHAPED_NOTE)
        if options.isolate_filesystem and not fs_abi:
            result.diagnostics.notes.append(f"file-system isolation not active: {fs_why}")
        if run.returncode != 0:
            result.diagnostics.notes.append(
                f"worker exited with status {run.returncode} after writing its result"
            )
        return result
    return _failure(
        candidate,
        target,
        _crash_stage(reached),
        _crash_message(run.returncode, reached, run.stderr_tail),
        reached,
    )


def _crash_stage(reached: str | None) -> Stage:
    """The stage a crashed worker was in, or SANDBOX when it never reached one."""
    try:
        stage = Stage(reached) if reached else Stage.SANDBOX
    except ValueError:
        return Stage.SANDBOX
    return stage


def _crash_message(returncode: int | None, reached: str | None, stderr_tail: str) -> str:
    """One sentence on how the worker died, then the tail of its stderr."""
    if returncode is not None and returncode < 0:
        try:
            how = f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exited with status {returncode}"
    hint = ""
    if returncode == -9:
        hint = " (SIGKILL usually means it ran out of memory)"
    return (
        f"the sandboxed worker {how} without a result in stage {reached or 'startup'}{hint}; "
        f"stderr tail:\n{stderr_tail.strip()}"
    )
