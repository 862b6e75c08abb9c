"""Timing and diagnostics stages of the worker: measured on the chip, or modeled without it."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tools.evaluator import correctness as corr
from tools.evaluator import perfmodel
from tools.evaluator.counting import unique_bytes
from tools.evaluator.launches import LaunchRecord
from tools.evaluator.loader import clone_tree, map_tensors
from tools.evaluator.profiling import kernel_breakdown
from tools.evaluator.stages import StageFailure
from tools.evaluator.timing import Budget, Checks, LazyOutput, Timing, timer_for
from tools.records.eval_result import Stage

if TYPE_CHECKING:
    from tools.evaluator.worker import Worker

logger = logging.getLogger(__name__)

ROOFLINE_TOLERANCE = 0.05
"""A measured runtime this far below the roofline floor is flagged (noise allowance)."""
TIMING_SET_BYTES = 1 << 30
"""Rotated input sets together stay under this many bytes."""
TIMING_SET_FREE_FRACTION = 0.25
"""The extra rotated sets together take at most this fraction of the device's free memory."""
CPU_CACHE_FLOOR_MIB = 64
"""On a CPU, working sets below max(this, 2 x the spec's cache) may legitimately beat the
DRAM roofline from cache, so the roofline flag is not raised for them."""


def _failure(stage: Stage, message: str, flags: list[str] | None = None) -> Exception:
    return StageFailure(stage, message, flags)


class TimedCheckFailed(Exception):
    """A sampled timed call of the candidate gave a wrong output or changed its inputs."""

    def __init__(self, message: str, flags: list[str]) -> None:
        super().__init__(message)
        self.flags = flags


FRESH_SLOWDOWN = 1.5
"""Checked calls on fresh inputs may take at most this many times the median of checked
calls on rewritten, already seen inputs, unless the difference could be chance."""
FRESH_P_VALUE = 1e-4
"""One-sided Mann-Whitney p-value below which fresh calls count as slower than rewritten
ones. The two groups are assigned by a fair coin per call, so for an honest kernel (whose
time cannot depend on whether it saw the values before) they are one distribution."""
FRESH_MIN_SAMPLES = 8
"""Fewest fresh and rewritten repetitions each before they are compared."""


def slower_p_value(a: list[float], b: list[float]) -> float:
    """One-sided p-value that ``a`` tends to be larger than ``b`` (Mann-Whitney U, normal
    approximation with the tie correction)."""
    values = np.asarray(a + b, dtype=np.float64)
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = np.bincount(inverse, weights=ranks)[inverse] / counts[inverse]  # mid-ranks
    n1, n2 = len(a), len(b)
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - float((counts**3 - counts).sum()) / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u - n1 * n2 / 2) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))


def _checks(w: Worker) -> Checks:
    """Sampled output checks for the candidate's timed series: fresh inputs from a seed
    that mixes a secret drawn here (per evaluation) with a counter; the reference runs on a
    clone of them after the clock stopped."""
    secret = secrets.token_bytes(32)
    counter = iter(range(1 << 62))
    ref, ref_model = w.state["ref"], w.state["ref_model"]
    allow_lower = w.opts.allow_lower_precision

    def draw() -> list[Any]:
        digest = hashlib.sha256(secret + next(counter).to_bytes(8, "little")).digest()
        seed = int.from_bytes(digest[:8], "little") >> 1
        torch.manual_seed(seed)
        try:
            with torch.device(w.device):  # drawn where they are used (no host draw of GBs)
                inputs = list(ref.get_inputs())
        except Exception:  # noqa: BLE001 - the reference's own code: e.g. a CPU generator
            torch.manual_seed(seed)
            inputs = list(ref.get_inputs())
        return map_tensors(inputs, lambda t: t.to(w.device))

    def verify(pristine: Any, inputs: Any, out: Any, where: str) -> None:
        changed = corr.mutated_inputs(inputs, pristine)
        if changed:
            raise TimedCheckFailed(
                f"{where}: the candidate changed its input(s) {changed} in place", ["input_mutated"]
            )
        # the inputs hold what ``pristine`` held: drop the copy before the reference runs,
        # so the check never holds two input sets beside the output and the reference's
        # intermediates (the set may be changed by a reference that works in place, as
        # the reference's own timed series may change it)
        pristine.clear()
        with torch.no_grad():
            ref_out = ref_model(*inputs)
        w._sync()
        cmp = corr.compare_outputs(
            ref_out, out, allow_lower_precision=allow_lower, reduction_length=w.reduction_length
        )
        if not cmp.ok:
            raise TimedCheckFailed(
                f"{where} (compared with the reference while timed): {cmp.message}",
                [*cmp.flags, "wrong_while_timed"],
            )

    samples = -(-w.opts.timed_checks // TIMING_ROUNDS)
    return Checks(samples=samples, draw=draw, verify=verify)


def _series_checks(w: Worker) -> dict[str, Checks]:
    """The candidate's checks, and for the reference's series the same protocol without
    fresh draws or comparisons (each checked call rewrites its set, the CUDA settling time
    is measured), so that both carry similar extra work around their checked calls."""
    if w.opts.timed_checks <= 0:
        return {}
    cand = _checks(w)
    ref = Checks(samples=cand.samples, draw=None, verify=None)
    return {"candidate": cand, "eager": ref, "compile": ref}


SETTLE_ALLOWANCE_MS = 0.02
"""Settling time (end event to every stream finished) a CUDA candidate's checked calls may
exceed the eager reference's by, besides its own median runtime."""


def _settle_rule(w: Worker, rounds: dict[str, list[Timing]], cand_ms: float) -> None:
    """CUDA: fail a candidate whose calls leave work on another stream that outlasts the
    timed one (the end event on the timed stream would not see it)."""
    cand = [s for t in rounds.get("candidate", []) for s in t.settle_ms]
    ref = [s for t in rounds.get("eager", []) for s in t.settle_ms]
    if len(cand) < FRESH_MIN_SAMPLES or len(ref) < FRESH_MIN_SAMPLES:
        return
    extra = statistics.median(cand) - statistics.median(ref)
    if extra > max(SETTLE_ALLOWANCE_MS, cand_ms):
        w.result.correct = False
        raise _failure(
            Stage.TIMING,
            f"after the end event of its timed calls the device kept working a median "
            f"{extra:.4g} ms longer than after the reference's (its own median is "
            f"{cand_ms:.4g} ms): the candidate leaves work on another stream, outside the "
            "timed region; run it on the current stream",
            ["work_outside_timed_stream"],
        )


def _harness_check(w: Worker, timed: dict[str, list[Timing]]) -> None:
    """Every timing is signed by the seal and the harness is unchanged, or the stage fails."""
    seal = w.seal
    if seal is None:
        return
    why = seal.verify()
    unsigned = [t for ts in timed.values() for t in ts if not seal.signed(t.signed_values(), t.mac)]
    if why is None and unsigned:
        why = (
            "a timing result does not carry the evaluator's signature (the timing code was "
            "replaced)"
        )
    if why:
        w.result.correct = False
        raise _failure(Stage.TIMING, why, ["harness_tampered"])


def timing_set_count(set_bytes: int, wanted: int, cache_bytes: int, free_bytes: int) -> int:
    """How many input sets the timing stage rotates.

    Rotation keeps a small input from being timed warm in a cache; an input set larger
    than ``cache_bytes`` is evicted by its own call's traffic, so it gets one set (a
    multi-GB input is never copied for timing). Otherwise up to ``wanted`` sets, together
    under ``TIMING_SET_BYTES``, the extra ones within ``TIMING_SET_FREE_FRACTION`` of the
    device's free memory ``free_bytes`` (0: unknown, no limit from it).
    """
    if set_bytes <= 0:
        return max(1, wanted)
    if set_bytes > cache_bytes:
        return 1
    n = min(wanted, TIMING_SET_BYTES // set_bytes)
    if free_bytes > 0:
        n = min(n, 1 + int(free_bytes * TIMING_SET_FREE_FRACTION) // set_bytes)
    return max(1, n)


def _cache_bytes(w: Worker) -> int:
    """The cache an input set could stay warm in: the target's L2 (twice, for the CPU's
    other levels), at least ``CPU_CACHE_FLOOR_MIB`` on a CPU."""
    l2 = int(w.req.target.l2_cache_mib or 0) << 20
    if w.device == "cpu":
        return max(CPU_CACHE_FLOOR_MIB << 20, 2 * l2)
    return max(l2, 1 << 20)


def _free_bytes(device: str) -> int:
    """Free memory of ``device`` now (0 where it cannot be read)."""
    try:
        if device == "cuda":
            return int(torch.cuda.mem_get_info()[0])
        from tools.evaluator.admission import cpu_free_bytes

        return cpu_free_bytes()
    except Exception:  # noqa: BLE001 - a figure for sizing only
        return 0


def timing(w: Worker) -> None:
    """Time candidate, reference eager and reference ``torch.compile`` side by side, with
    sampled output checks on the candidate's timed calls."""
    opts, r = w.opts, w.result
    pristine = w.state.pop("pristine0")
    n_sets = timing_set_count(
        unique_bytes(pristine), opts.input_sets, _cache_bytes(w), _free_bytes(w.device)
    )
    # the first set is seed 0's inputs themselves: no copy beside them
    sets = [pristine] + [clone_tree(pristine) for _ in range(n_sets - 1)]
    del pristine
    w.state["timing_sets"] = sets
    ref_model, new_model = w.state["ref_model"], w.state["new_model"]
    compiled = w.state.get("compiled_reference")
    if opts.measure_compile and "compiled_reference" not in w.state:
        try:  # compile under the shared lock: it can take a while and times nothing
            with w.lock.shared():
                compiled = torch.compile(ref_model)
                w._call(compiled, sets[0])  # the trusted reference: its output is dropped
        except Exception as e:  # noqa: BLE001 - not the candidate's fault: recorded, not failed
            compiled = None
            r.diagnostics.notes.append(f"torch.compile failed on the reference: {str(e)[:300]}")
    try:
        with w.lock.exclusive():
            rounds = _time_interleaved(
                [("candidate", new_model), ("eager", ref_model), ("compile", compiled)],
                sets, w.device, opts, r.diagnostics.notes,
                checks=_series_checks(w),
                after=lambda timed: _harness_check(w, timed),
                seal=w.seal,
            )
    except (TimedCheckFailed, LazyOutput) as e:
        _harness_check(w, {})  # a tampered harness explains a failed check first
        r.correct = False
        raise _failure(Stage.TIMING, str(e), list(e.flags)) from None
    timed = {name: _combine(ts) for name, ts in rounds.items()}
    cand, eager, comp = timed["candidate"], timed["eager"], timed.get("compile")
    _fresh_rule(w, rounds["candidate"])
    _settle_rule(w, rounds, cand.median_ms)
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
        + f"; {cand.checked} timed candidate calls compared with the reference "
        f"({sum(len(t.fresh_ms) for t in rounds['candidate'])} on fresh inputs)"
    )
    if w.seal is not None:
        w.state["timing_mac"] = w.seal.sign(timing_fields(r))


TIMING_FIELDS = (
    "runtime_ms",
    "runtime_spread_ms",
    "ref_eager_ms",
    "ref_compile_ms",
    "speedup_vs_eager",
    "speedup_vs_compile",
)
"""The result fields the timing stage sets (signed when it ends, verified afterwards)."""


def timing_fields(r: Any) -> tuple[Any, ...]:
    """The values of ``TIMING_FIELDS`` and ``measured_on`` in ``r``."""
    return (*(getattr(r, name) for name in TIMING_FIELDS), r.measured_on)


def _fresh_rule(w: Worker, rounds: list[Timing]) -> None:
    """Fail a candidate that is slower on fresh inputs than on rewritten ones it has seen (it
    reuses stored results, e.g. keyed on an address and a few sampled values)."""
    fresh = [s for t in rounds for s in t.fresh_ms]
    seen = [s for t in rounds for s in t.rewritten_ms]
    if len(fresh) < FRESH_MIN_SAMPLES or len(seen) < FRESH_MIN_SAMPLES:
        return
    f_med, s_med = statistics.median(fresh), statistics.median(seen)
    p = slower_p_value(fresh, seen)
    w.result.diagnostics.notes.append(
        f"checked calls on fresh inputs: median {f_med:.4g} ms over {len(fresh)}; on "
        f"rewritten inputs: {s_med:.4g} ms over {len(seen)} (fresh slower: p={p:.2g})"
    )
    if f_med > FRESH_SLOWDOWN * s_med and p < FRESH_P_VALUE:
        w.result.correct = False
        raise _failure(
            Stage.TIMING,
            f"checked timed calls on fresh inputs took a median {f_med:.4g} ms, those on "
            f"inputs rewritten with values it had seen {s_med:.4g} ms ({f_med / s_med:.1f}x "
            f"faster on seen data, allowed {FRESH_SLOWDOWN:g}x; one-sided Mann-Whitney "
            f"p={p:.1e} over {len(fresh)} and {len(seen)} calls): the candidate appears to "
            "reuse stored results instead of computing",
            ["faster_on_seen_inputs"],
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
    inputs = w.state["timing_sets"][0]  # any valid inputs: the profile reads no values
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


def _time_interleaved(named, sets, device, opts, notes, *, checks=None, after=None, seal=None):
    """Time each ``(name, fn)`` in ``TIMING_ROUNDS`` rotating rounds; ``None`` fns are skipped.

    ``checks`` maps a name to its series' ``Checks``; ``after(rounds)`` runs after each
    candidate series (the harness check), before any other code times anything.
    Returns each name's per-round timings.
    """
    checks = checks or {}
    budget = Budget(  # each round gets its share of the timed milliseconds and repetitions
        warmup_ms=opts.warmup_ms,
        rep_ms=opts.rep_ms / TIMING_ROUNDS,
        min_reps=max(3, -(-opts.min_reps // TIMING_ROUNDS)),
        max_reps=max(3, -(-opts.max_reps // TIMING_ROUNDS)),
    )
    timer = timer_for(device, opts.l2_flush_mib)

    def timed(name: str, fn: Any) -> Timing:
        with torch.no_grad():
            return timer(fn, sets, budget, checks=checks.get(name), seal=seal)

    live = [(name, fn) for name, fn in named if fn is not None]
    rounds: dict[str, list] = {name: [] for name, _ in live}
    for k in range(TIMING_ROUNDS):
        shift = k % len(live)
        for name, fn in live[shift:] + live[:shift]:
            if name not in rounds:
                continue
            if name == "compile":
                try:
                    rounds[name].append(timed(name, fn))
                except Exception as e:  # noqa: BLE001 - torch.compile code may raise anything
                    notes.append(f"timing torch.compile(reference) failed: {str(e)[:300]}")
                    del rounds[name]
            elif name == "candidate":
                rounds[name].append(timed(name, fn))
                if after is not None:
                    after(rounds)
            else:
                rounds[name].append(timed(name, fn))
    if after is not None:
        after(rounds)
    return rounds


def _combine(ts: list[Timing]) -> Timing:
    """One figure from a series' rounds: the median of the rounds' medians (and IQRs)."""
    return Timing(
        median_ms=statistics.median(t.median_ms for t in ts),
        iqr_ms=statistics.median(t.iqr_ms for t in ts),
        reps=sum(t.reps for t in ts),
        checked=sum(t.checked for t in ts),
    )
