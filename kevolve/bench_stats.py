"""What a benchmark run found: one row per problem, and the suite's summary.

A row is read from the run store after the run (the same ``choose_best`` rule as the run's
report: a kernel is handed back only when it is accepted and faster than the reference
passthrough measured in the same run; otherwise the reference itself is the answer). When
the reference is the answer, its speedup vs eager is 1 by definition (it *is* eager), and
its speedup vs torch.compile is ``compile_ms / eager_ms`` as measured side by side.

Summary statistics follow KernelBench: ``fast_p`` is the fraction of problems whose
answer is correct *and* more than ``p`` times faster than the baseline (eager or
torch.compile), over every problem attempted (a failed problem counts as not correct);
``fast_0`` is therefore the correct fraction. Geometric means are taken over correct
problems with a measured (or modeled) speedup.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from graph.noise import COMPILE_BASELINE_SLOWDOWN, passthrough_warning
from tools.ceilings import Ceilings, bound_kind
from tools.records import Candidate, EvalResult

RowStatus = Literal["running", "done", "failed"]

MEMORY_GOAL = 0.9
"""Memory-bound problems should reach this fraction of the measured copy bandwidth."""
COMPILE_GEOMEAN_GOAL = 1.3
"""Goal for the geometric-mean speedup over torch.compile."""


class TritonStats(BaseModel):
    """Triton candidates of one run: proven correct, and compiled with resource usage."""

    candidates: int = 0
    correct: int = 0
    """Correct (under the interpreter on a modeled target)."""
    with_resources: int = 0
    """Compiled for the target with registers/VGPRs read back."""
    spilling: int = 0
    """Compiled with register spills (spill_bytes > 0)."""
    max_registers: int | None = None
    max_shared_mem_bytes: int | None = None
    compiled_for: list[str] = Field(default_factory=list)


class ProblemRow(BaseModel):
    """One problem's outcome in a benchmark run."""

    name: str
    file: str
    family: str
    kind: Literal["memory", "compute"]
    status: RowStatus = "running"
    error: str = ""
    run_id: str = ""
    scale: float = 1.0
    """Overall size factor applied to the file's declared sizes (1.0: as written)."""
    dtype: str = ""
    size_note: str = ""
    """Empty when the file runs at the requested size; else why it could not be resized."""
    correct: bool = False
    is_reference: bool = False
    """True when no kernel beat the reference and the reference itself is the answer."""
    candidate_id: str = ""
    language: str = ""
    eager_ms: float | None = None
    compile_ms: float | None = None
    ours_ms: float | None = None
    speedup_vs_eager: float | None = None
    speedup_vs_compile: float | None = None
    bytes_moved: int = 0
    flops: int = 0
    achieved_gbps: float | None = None
    achieved_tflops: float | None = None
    ceiling: str = ""
    """Which ceiling ``fraction_of_ceiling`` is taken against (``copy_gbps``, ``matmul_fp16``)."""
    fraction_of_ceiling: float | None = None
    bound: str = "unknown"
    """The evaluator's diagnosis of the answer (memory, compute, latency, ...)."""
    measured_on: str = ""
    """Device name, or ``modeled``."""
    evaluations: int = 0
    """Sandboxed evaluations the run used (its audit log)."""
    wall_s: float = 0.0
    """Wall-clock seconds spent on this problem (summed over resumed attempts)."""
    time_limited: bool = False
    """The per-problem time limit stopped the search early."""
    stop_reason: str = ""
    commit: str = ""
    """The kevolve commit that produced this row (``KEVOLVE_COMMIT`` or git)."""
    measured_at: str = ""
    """When the row was finished (UTC, ISO 8601)."""
    triton: TritonStats = Field(default_factory=TritonStats)
    passthrough_vs_eager: float | None = None
    """The PyTorch passthrough's own ratio vs eager in this run: it *is* eager, so anything
    far from 1.0 measures the machine's load and noise, not a kernel (the load probe)."""
    warnings: list[str] = Field(default_factory=list)
    """Why a figure of this row is not to be trusted as a headline (see :func:`row_warnings`)."""


def _speedups(
    res: EvalResult, is_reference: bool
) -> tuple[float | None, float | None, float | None]:
    """(ours_ms, vs eager, vs compile) for the answer."""
    if is_reference:
        ours = res.ref_eager_ms
        vs_compile = (
            res.ref_compile_ms / res.ref_eager_ms
            if res.ref_compile_ms and res.ref_eager_ms
            else None
        )
        return ours, 1.0 if ours else None, vs_compile
    return res.runtime_ms, res.speedup_vs_eager, res.speedup_vs_compile


def triton_stats(cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]) -> TritonStats:
    """Counts over the Triton candidates that were evaluated."""
    stats = TritonStats()
    targets: set[str] = set()
    for cid, cand in cands.items():
        if cand.language != "triton" or cid not in results:
            continue
        res, d = results[cid], results[cid].diagnostics
        stats.candidates += 1
        stats.correct += int(res.correct)
        if d.registers_per_thread is not None:
            stats.with_resources += 1
            stats.max_registers = max(stats.max_registers or 0, d.registers_per_thread)
            if d.compiled_for:
                targets.add(d.compiled_for)
        if d.shared_mem_bytes is not None:
            stats.max_shared_mem_bytes = max(stats.max_shared_mem_bytes or 0, d.shared_mem_bytes)
        stats.spilling += int(bool(d.spill_bytes))
    stats.compiled_for = sorted(targets)
    return stats


def fill_row(
    row: ProblemRow,
    cands: Mapping[str, Candidate],
    results: Mapping[str, EvalResult],
    best_id: str | None,
    is_reference: bool,
    ceilings: Ceilings | None,
) -> ProblemRow:
    """A copy of ``row`` with the answer's numbers, the speedups and the ceiling fraction."""
    update: dict[str, Any] = {"triton": triton_stats(cands, results), "status": "done"}
    probe = next(
        (results[cid].speedup_vs_eager for cid, c in sorted(cands.items())
         if c.language == "pytorch" and cid in results and results[cid].measured_on != "modeled"),
        None,
    )  # fmt: skip
    update["passthrough_vs_eager"] = probe
    res = results.get(best_id) if best_id else None
    if res is None:
        update.update(correct=False, error=row.error or "no candidate was evaluated")
        return row.model_copy(update=update)
    ours, vs_eager, vs_compile = _speedups(res, is_reference)
    d = res.diagnostics
    update.update(
        correct=res.accepted,
        is_reference=is_reference,
        candidate_id=best_id,
        language=cands[best_id].language if best_id in cands else "",
        eager_ms=res.ref_eager_ms,
        compile_ms=res.ref_compile_ms,
        ours_ms=ours,
        speedup_vs_eager=vs_eager,
        speedup_vs_compile=vs_compile,
        bytes_moved=d.bytes_moved or row.bytes_moved,
        flops=d.flops or row.flops,
        bound=d.bound,
        measured_on=res.measured_on,
    )
    if ours:
        seconds = ours * 1e-3
        moved, flops = update["bytes_moved"], update["flops"]
        update["achieved_gbps"] = moved / seconds / 1e9 if moved else None
        update["achieved_tflops"] = flops / seconds / 1e12 if flops else None
    filled = with_fraction(row.model_copy(update=update), ceilings)
    return filled.model_copy(update={"warnings": row_warnings(filled)})


def row_warnings(row: ProblemRow) -> list[str]:
    """Reasons a row's figures are implausible or too noisy to headline (empty: none).

    - the load probe: the passthrough (eager itself) did not measure ~1.0x vs eager;
    - above the ceiling: more than the measured copy bandwidth or matmul rate is impossible,
      so the time or the bytes/FLOPs count is wrong;
    - a broken compile baseline: ``torch.compile`` ran far slower than eager, so a speedup
      "vs compile" measures the baseline's failure, not the kernel.
    """
    out = []
    if warning := passthrough_warning(row.passthrough_vs_eager):
        out.append(warning)
    if row.fraction_of_ceiling is not None and row.fraction_of_ceiling > 1.0:
        out.append(
            f"{row.fraction_of_ceiling:.0%} of the measured {row.ceiling} is above what the chip did "
            "in its own ceiling test: the time or the counted bytes/FLOPs are wrong"
        )
    if row.compile_ms and row.eager_ms and row.compile_ms > COMPILE_BASELINE_SLOWDOWN * row.eager_ms:
        out.append(
            f"torch.compile ran {row.compile_ms / row.eager_ms:.1f}x slower than eager "
            f"({row.compile_ms:.4g} ms vs {row.eager_ms:.4g} ms): the vs-compile figure "
            f"({_x(row.speedup_vs_compile)}) measures a broken baseline"
        )
    return out


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def compile_baseline_ok(row: ProblemRow) -> bool:
    """Whether the row's torch.compile time is a usable baseline (see :func:`row_warnings`)."""
    return not (row.compile_ms and row.eager_ms and row.compile_ms > COMPILE_BASELINE_SLOWDOWN * row.eager_ms)


def with_fraction(row: ProblemRow, ceilings: Ceilings | None) -> ProblemRow:
    """``row`` with its fraction of the ceiling its kind is judged against."""
    if ceilings is None:
        return row
    if row.bytes_moved:  # classified from its own counts, whatever its suite entry says
        row = row.model_copy(
            update={"kind": bound_kind(row.bytes_moved, row.flops, row.dtype, ceilings)}
        )
    if row.kind == "compute":
        key = {"float16": "fp16", "bfloat16": "bf16"}.get(row.dtype, "fp32")
        peak = ceilings.tflops_for(key)
        value = row.achieved_tflops
        name = f"matmul_{key}"
    else:
        peak, value, name = ceilings.copy_gbps, row.achieved_gbps, "copy_gbps"
    fraction = value / peak if value is not None and peak else None
    return row.model_copy(update={"ceiling": name, "fraction_of_ceiling": fraction})


def fast_p(rows: Iterable[ProblemRow], p: float, against: Literal["eager", "compile"]) -> float:
    """Fraction of finished problems that are correct and more than ``p`` times faster.

    Args:
        rows: Problem rows; rows still ``running`` are left out.
        p: The speedup threshold (``0``: correct at all; ``1``: faster than the baseline).
        against: ``eager`` or ``compile``.

    Returns:
        A fraction in ``[0, 1]`` (0 when no problem finished).
    """
    finished = [r for r in rows if r.status != "running"]
    if not finished:
        return 0.0
    hits = 0
    for r in finished:
        speedup = r.speedup_vs_eager if against == "eager" else r.speedup_vs_compile
        if r.correct and speedup is not None and speedup > p:
            hits += 1
        elif r.correct and p <= 0 and speedup is None:
            hits += 1  # correct, speedup unknown (e.g. torch.compile failed): fast_0 counts it
    return hits / len(finished)


def geomean(values: Iterable[float | None]) -> float | None:
    """Geometric mean of the positive values (``None`` when there are none)."""
    logs = [math.log(v) for v in values if v is not None and v > 0]
    return math.exp(sum(logs) / len(logs)) if logs else None


def summarize(rows: list[ProblemRow], ceilings: Ceilings | None) -> dict[str, Any]:
    """The suite summary: counts, fast_p, geomeans, ceiling fractions and goals."""
    finished = [r for r in rows if r.status != "running"]
    correct = [r for r in finished if r.correct]
    memory = [r for r in correct if r.kind == "memory" and r.fraction_of_ceiling is not None]
    compute = [r for r in correct if r.kind == "compute" and r.fraction_of_ceiling is not None]
    vs_compile = geomean(r.speedup_vs_compile for r in correct)
    vs_compile_sound = geomean(r.speedup_vs_compile for r in correct if compile_baseline_ok(r))
    slower = [r.name for r in correct if (r.speedup_vs_eager or 1.0) < 1.0]
    at_goal = sum((r.fraction_of_ceiling or 0) >= MEMORY_GOAL for r in memory)
    triton = TritonStats()
    for r in finished:
        t = r.triton
        triton.candidates += t.candidates
        triton.correct += t.correct
        triton.with_resources += t.with_resources
        triton.spilling += t.spilling
    return {
        "problems": len(rows),
        "finished": len(finished),
        "failed": sum(r.status == "failed" for r in rows),
        "correct": len(correct),
        "returned_reference": sum(r.is_reference for r in correct),
        "fast_0_vs_eager": fast_p(rows, 0.0, "eager"),
        "fast_1_vs_eager": fast_p(rows, 1.0, "eager"),
        "fast_0_vs_compile": fast_p(rows, 0.0, "compile"),
        "fast_1_vs_compile": fast_p(rows, 1.0, "compile"),
        "geomean_speedup_vs_eager": geomean(r.speedup_vs_eager for r in correct),
        "geomean_speedup_vs_compile": vs_compile,
        "geomean_speedup_vs_compile_sound_baselines": vs_compile_sound,
        "warnings": suite_warnings(rows),
        "memory_bound": {
            "problems": len(memory),
            "at_or_above_goal": at_goal,
            "median_fraction": _median([r.fraction_of_ceiling for r in memory]),
        },
        "compute_bound": {
            "problems": len(compute),
            "median_fraction": _median([r.fraction_of_ceiling for r in compute]),
        },
        "evaluations": sum(r.evaluations for r in rows),
        "wall_s": sum(r.wall_s for r in rows),
        "time_limited": sum(r.time_limited for r in rows),
        "size_notes": {r.name: r.size_note for r in rows if r.size_note},
        "modeled": ceilings is not None and not ceilings.measured,
        "triton": triton.model_dump(
            include={"candidates", "correct", "with_resources", "spilling"}
        ),
        "goals": {
            "all_correct": bool(finished) and len(correct) == len(finished),
            "never_slower_than_reference": not slower,
            "slower_than_reference": slower,
            "memory_bound_at_90pct": f"{at_goal}/{len(memory)}",
            "geomean_vs_compile_at_1_3x": vs_compile is not None
            and vs_compile >= COMPILE_GEOMEAN_GOAL,
        },
    }


def suite_warnings(rows: Iterable[ProblemRow]) -> list[str]:
    """One line per kind of untrustworthy figure in the suite, naming the problems."""
    rows = [r for r in rows if r.status == "done"]
    out = []
    probes = [(r.name, r.passthrough_vs_eager) for r in rows if passthrough_warning(r.passthrough_vs_eager)]
    if probes:
        ratios = [p for _, p in probes if p is not None]
        out.append(
            f"machine loaded: on {len(probes)} problem(s) the PyTorch passthrough (eager itself) measured "
            f"{min(ratios):.2f}x to {max(ratios):.2f}x vs eager instead of 1.00x; their ratios carry that "
            f"much noise ({', '.join(n for n, _ in probes[:6])}{', ...' if len(probes) > 6 else ''})"
        )
    above = [r for r in rows if r.fraction_of_ceiling is not None and r.fraction_of_ceiling > 1.0]
    if above:
        out.append(
            f"{len(above)} problem(s) above the measured ceiling (impossible; time or byte count wrong): "
            + ", ".join(f"{r.name} {r.fraction_of_ceiling:.0%} of {r.ceiling}" for r in above[:6])
        )
    broken = [r for r in rows if not compile_baseline_ok(r)]
    if broken:
        out.append(
            f"{len(broken)} problem(s) whose torch.compile ran over {COMPILE_BASELINE_SLOWDOWN:g}x slower "
            "than eager (a broken baseline; left out of the sound vs-compile geomean): "
            + ", ".join(f"{r.name} {_x(r.speedup_vs_compile)}" for r in broken[:6])
        )
    return out


def _median(values: list[float | None]) -> float | None:
    kept = sorted(v for v in values if v is not None)
    if not kept:
        return None
    mid = len(kept) // 2
    return kept[mid] if len(kept) % 2 else (kept[mid - 1] + kept[mid]) / 2
