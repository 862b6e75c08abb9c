"""Timing and diagnostics stages of the worker: measured on the chip, or modeled without it."""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tools.evaluator import perfmodel
from tools.evaluator.counting import unique_bytes
from tools.evaluator.launches import LaunchRecord
from tools.evaluator.loader import clone_tree
from tools.evaluator.profiling import kernel_breakdown
from tools.evaluator.stages import StageFailure
from tools.evaluator.timing import Timing, time_forward
from tools.records.eval_result import Stage

if TYPE_CHECKING:
    from tools.evaluator.worker import Worker

logger = logging.getLogger(__name__)

ROOFLINE_TOLERANCE = 0.05
"""A measured runtime this far below the roofline floor is flagged (noise allowance)."""
TIMING_SET_BYTES = 1 << 30
"""Rotated input sets together stay under this many bytes."""
CPU_CACHE_FLOOR_MIB = 64
"""On a CPU, working sets below max(this, 2 x the spec's cache) may legitimately beat the
DRAM roofline from cache, so the roofline flag is not raised for them."""


def _failure(stage: Stage, message: str, flags: list[str] | None = None) -> Exception:
    return StageFailure(stage, message, flags)


def timing(w: Worker) -> None:
    """Time candidate, reference eager and reference ``torch.compile`` side by side."""
    opts, r = w.opts, w.result
    pristine = w.state["pristine0"]
    n_sets = max(1, min(opts.input_sets, TIMING_SET_BYTES // max(1, unique_bytes(pristine))))
    sets = [clone_tree(pristine) for _ in range(n_sets)]
    w.state["timing_sets"] = sets
    ref_model, new_model = w.state["ref_model"], w.state["new_model"]
    compiled = w.state.get("compiled_reference")
    if opts.measure_compile and "compiled_reference" not in w.state:
        try:  # compile under the shared lock: it can take a while and times nothing
            with w.lock.shared():
                compiled = torch.compile(ref_model)
                w._call(compiled, clone_tree(pristine))
        except Exception as e:  # noqa: BLE001 - not the candidate's fault: recorded, not failed
            compiled = None
            r.diagnostics.notes.append(f"torch.compile failed on the reference: {str(e)[:300]}")
    with w.lock.exclusive():
        timed = _time_interleaved(
            [("candidate", new_model), ("eager", ref_model), ("compile", compiled)],
            sets, w.device, opts, r.diagnostics.notes,
        )
        cand, eager, comp = timed["candidate"], timed["eager"], timed.get("compile")
    r.runtime_ms, r.runtime_spread_ms = cand.median_ms, cand.iqr_ms
    r.ref_eager_ms = eager.median_ms
    r.speedup_vs_eager = eager.median_ms / cand.median_ms
    if comp is not None:
        r.ref_compile_ms = comp.median_ms
        r.speedup_vs_compile = comp.median_ms / cand.median_ms
    r.measured_on = w.device_name
    r.diagnostics.notes.append(
        f"timed {cand.reps}/{eager.reps}/{comp.reps if comp else 0} reps (candidate/eager/compile), "
        f"{n_sets} rotated input sets" + (", L2 flushed" if w.device == "cuda" else "")
    )


def _kernel_rows(
    kernels: list[dict[str, Any]], records: list[LaunchRecord]
) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec.kernel] = counts.get(rec.kernel, 0) + 1
    rows = []
    for k in kernels:
        res = k.get("resources") or {}
        row = {
            "name": k["kernel"],
            "grid": k["grid"],
            "num_warps": res.get("num_warps", k.get("num_warps")),
            "num_stages": res.get("num_stages", k.get("num_stages")),
            "launches": counts.get(k["kernel"], 0),
            "registers": res.get("registers", k.get("registers")),
            "spill_bytes": res.get("spill_bytes", k.get("spills")),
            "shared_mem_bytes": res.get("shared_bytes", k.get("shared_bytes")),
        }
        for extra in ("sgprs", "vgprs", "agprs", "source"):
            if res.get(extra) is not None:
                row[extra] = res[extra]
        if k.get("error"):
            row["error"] = k["error"]
        rows.append(row)
    return rows


def _fill_resources(w: Worker, rows: list[dict[str, Any]], compiled_for: str) -> None:
    d = w.result.diagnostics
    d.kernels = rows
    d.compiled_for = compiled_for

    def biggest(key: str) -> int | None:
        values = [int(row[key]) for row in rows if row.get(key) is not None]
        return max(values) if values else None

    d.registers_per_thread = biggest("registers")
    d.spill_bytes = biggest("spill_bytes")
    d.shared_mem_bytes = biggest("shared_mem_bytes")
    d.sgprs = biggest("sgprs")


def formulation_flops(w: Worker) -> int:
    """FLOPs the candidate's FLOP floor is taken from: those of the formulation it declares
    (a proven algebraic rewrite), else the reference's."""
    declared = w.req.candidate.declared_flops
    return int(w.ref_trace.flops) if declared is None else int(declared)


def roofline_check(
    runtime_s: float, bytes_moved: int, flops: int, target: Any, dtype: str, declared: bool
) -> tuple[float, str]:
    """The floor that binds a candidate, and why it is flagged (``""``: not flagged).

    The bytes floor (every input read once, every output written once) binds every
    candidate, whatever it claims. The FLOP floor binds through the formulation the
    candidate declares: ``flops`` are the reference's unless it declares a rewrite.
    """
    bytes_floor = perfmodel.floor_s(bytes_moved, 0, target, dtype)
    floor = perfmodel.floor_s(bytes_moved, flops, target, dtype)
    if runtime_s >= floor * (1 - ROOFLINE_TOLERANCE):
        return floor, ""
    if runtime_s < bytes_floor * (1 - ROOFLINE_TOLERANCE):
        why = (
            f"runtime {runtime_s * 1e3:.4f} ms is below the bytes floor {bytes_floor * 1e3:.4f} "
            f"ms ({bytes_moved} bytes: every input read once, every output written once)"
        )
    else:
        formulation = "its declared rewrite's" if declared else "the reference's (no rewrite declared)"
        why = (
            f"runtime {runtime_s * 1e3:.4f} ms is below the FLOP floor {floor * 1e3:.4f} ms of "
            f"{formulation} {flops} FLOPs"
        )
    return floor, why + ": not counted as a win"


def _roofline(w: Worker, runtime_s: float, check_flag: bool) -> None:
    r, t, dtype = w.result, w.req.target, w.req.problem.dtype
    d = r.diagnostics
    d.bytes_moved = int(w.state["bytes_moved"])
    d.flops = int(w.ref_trace.flops)
    d.achieved_gbps = d.bytes_moved / runtime_s / 1e9
    d.achieved_tflops = d.flops / runtime_s / 1e12
    flops = formulation_flops(w)
    declared = w.req.candidate.declared_flops is not None
    floor, why = roofline_check(runtime_s, d.bytes_moved, flops, t, dtype, declared)
    d.roofline_fraction = floor / runtime_s
    d.bound = perfmodel.bound(d.bytes_moved, flops, runtime_s, t, dtype)  # type: ignore[assignment]
    if declared:
        d.notes.append(
            f"declared formulation: {flops} FLOPs (the reference's: {d.flops}); its FLOP floor "
            "is the one that binds"
        )
    if check_flag and why:
        r.flags.append("speedup_beyond_roofline")
        d.notes.append(why)


def measured(w: Worker) -> None:
    """Diagnostics for a run timed on the chip."""
    r, t = w.result, w.req.target
    assert r.runtime_ms is not None
    check = True
    if w.device == "cpu":
        cache = max(CPU_CACHE_FLOOR_MIB, 2 * t.l2_cache_mib) * (1 << 20)
        if w.state["bytes_moved"] < cache:
            check = False
            r.diagnostics.notes.append(
                "roofline flag not applied: the working set fits in CPU caches"
            )
    _roofline(w, r.runtime_ms / 1e3, check)
    records = w.recorder.records[: w.first_launches]
    inputs = clone_tree(w.state["pristine0"])  # the clone's copy kernel is not profiled
    rows, launches = kernel_breakdown(
        lambda: w._call(w.state["new_model"], inputs), w.device, r.diagnostics.notes
    )
    r.diagnostics.kernel_breakdown = rows
    if launches is None:
        launches = len(records) + w.cand_trace.launches
    r.diagnostics.kernel_launches = launches
    kernels = [rec.to_json() for rec in w.recorder.distinct()]
    _fill_resources(w, _kernel_rows(kernels, records), t.arch if w.device == "cuda" else "host")


def modeled(w: Worker) -> None:
    """AOT-compile the launched Triton kernels for the target and model the runtimes."""
    from tools.evaluator.aot import run_aot

    r, t, dtype = w.result, w.req.target, w.req.problem.dtype
    records = w.recorder.records[: w.first_launches]
    variants: dict[tuple, str] = {}
    distinct: list[dict[str, Any]] = []
    for rec in records:
        if rec.key() not in variants:
            variants[rec.key()] = str(len(variants))
            distinct.append({**rec.to_json(), "variant": variants[rec.key()]})
    kernels: list[dict[str, Any]] = []
    if distinct:
        if t.triton_target is None:
            raise _failure(Stage.COMPILE, f"target {t.name} has no Triton compile target")
        remaining = w.opts.timeout_s - (time.monotonic() - w.started) - 5.0
        try:
            kernels = run_aot(
                distinct,
                candidate_file=Path(w.workdir / w.req.candidate_file),
                target=t,
                workdir=w.workdir,
                cache_dir=Path(w.opts.cache_dir),
                timeout_s=remaining,
                memory_limit_mib=w.opts.memory_limit_mib,
            )
        except RuntimeError as e:
            raise _failure(Stage.COMPILE, f"ahead-of-time compile for {t.arch}: {e}") from e
        for k in kernels:
            if k.get("error_kind") == "CompileError":
                raise _failure(Stage.COMPILE, k["error"])
            if k.get("error"):
                r.diagnostics.notes.append(
                    f"{k['kernel']} not compiled ahead of time: {k['error']}"
                )
    bytes_moved = int(w.state["bytes_moved"])
    flops = int(w.ref_trace.flops)
    cand_s, worst, notes = perfmodel.candidate_s(
        aten=w.cand_trace,
        launches=[
            {"variant": variants[rec.key()], "tensor_arg_bytes": rec.tensor_arg_bytes}
            for rec in records
        ],
        kernels=[k for k in kernels if k.get("resources")],
        bytes_moved=bytes_moved,
        flops=formulation_flops(w),
        target=t,
        dtype=dtype,
    )
    eager = perfmodel.eager_s(w.ref_trace, t, dtype)
    comp = perfmodel.compiled_s(w.ref_trace, bytes_moved, flops, t, dtype)
    r.runtime_ms, r.ref_eager_ms, r.ref_compile_ms = cand_s * 1e3, eager * 1e3, comp * 1e3
    r.speedup_vs_eager, r.speedup_vs_compile = eager / cand_s, comp / cand_s
    r.measured_on = "modeled"
    _roofline(w, cand_s, check_flag=False)
    d = r.diagnostics
    if worst is not None:
        d.occupancy = worst.occupancy
        if d.bound == "memory" and worst.efficiency < 0.5:
            d.bound = "occupancy"
    d.kernel_launches = len(records) + w.cand_trace.launches
    _fill_resources(w, _kernel_rows(kernels, records), t.arch)
    d.notes.extend([perfmodel.MODEL_NOTE, *notes])
    d.notes.append(f"correctness checked on CPU ({w.device_name}) through the Triton interpreter")


def profile_ncu(w: Worker) -> None:
    """Nsight Compute over one forward call of the candidate, then of the eager reference
    when the time left allows (``tools.evaluator.ncu``); every problem becomes a note."""
    from tools.evaluator import ncu

    d = w.result.diagnostics
    if w.device != "cuda" or torch.version.hip:
        d.notes.append("ncu profiling skipped: it applies to measured evaluations on NVIDIA GPUs")
        return
    if w.result.stage_failed is not None:
        return
    spent = 0.0
    for which in ("candidate", "reference"):
        left = w.opts.timeout_s - (time.monotonic() - w.started) - NCU_MARGIN_S
        if left < max(NCU_MARGIN_S, 2 * spent):
            d.notes.append(f"ncu profiling of the {which} skipped: {max(left, 0):.0f} s left")
            return
        start = time.monotonic()
        try:
            with w.lock.exclusive():  # device-wide counters: nothing else may run meanwhile
                kernels, note = ncu.run_ncu(w.request_file, which, workdir=w.workdir, timeout_s=left)
        except Exception as e:  # noqa: BLE001 - diagnostics only: profiling fails nothing
            kernels, note = [], f"ncu profiling of the {which} failed: {str(e)[:300]}"
        spent = time.monotonic() - start
        if which == "candidate":
            d.ncu_kernels = kernels
        else:
            d.ncu_reference_kernels = kernels
        if note:
            d.notes.append(note)
        if not kernels:
            return


NCU_MARGIN_S = 15.0
"""Seconds of the evaluation's timeout kept free when deciding whether an ncu pass fits."""

TIMING_ROUNDS = 3
"""Candidate, eager and compiled reference are timed in interleaved rounds (the order rotates
each round) so that clock or thermal drift during the measurement does not favour whichever
is timed first; each figure is the median of its rounds' medians."""


def _time_interleaved(named, sets, device, opts, notes):
    """Time each ``(name, fn)`` in ``TIMING_ROUNDS`` rotating rounds; ``None`` fns are skipped."""
    sub = opts.model_copy(
        update={
            "rep_ms": opts.rep_ms / TIMING_ROUNDS,
            "min_reps": max(3, -(-opts.min_reps // TIMING_ROUNDS)),
            "max_reps": max(3, -(-opts.max_reps // TIMING_ROUNDS)),
        }
    )
    live = [(name, fn) for name, fn in named if fn is not None]
    rounds: dict[str, list] = {name: [] for name, _ in live}
    for k in range(TIMING_ROUNDS):
        shift = k % len(live)
        for name, fn in live[shift:] + live[:shift]:
            if name not in rounds:
                continue
            if name == "compile":
                try:
                    rounds[name].append(time_forward(fn, sets, device, sub))
                except Exception as e:  # noqa: BLE001 - torch.compile code may raise anything
                    notes.append(f"timing torch.compile(reference) failed: {str(e)[:300]}")
                    del rounds[name]
            else:
                rounds[name].append(time_forward(fn, sets, device, sub))
    return {
        name: Timing(
            median_ms=statistics.median(t.median_ms for t in ts),
            iqr_ms=statistics.median(t.iqr_ms for t in ts),
            reps=sum(t.reps for t in ts),
        )
        for name, ts in rounds.items()
    }

