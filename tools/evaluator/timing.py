"""Time a forward call: warm-up, then a counted number of repetitions; median and IQR.

CUDA (and ROCm through the same API): ``torch.cuda.Event`` pairs around each call on the
stream that was current when timing began, the L2 flushed before each repetition by writing
a large buffer (outside the timed region), input sets rotated, one full ``synchronize``
before and after. CPU: ``time.perf_counter`` around each call.

Outputs are checked while timed (``Checks``): a few repetitions, picked with the operating
system's random source when the series starts, have their outputs compared with the
reference's after the clock stopped. Before each of them, outside the timed region, fresh
inputs are drawn (a seed mixed with a per-evaluation secret) and, for about half of them,
written into the input set in place (same addresses, new values); for the other half the
set is rewritten with the values it already held. A kernel that is wrong on some calls, or
replays answers it stored for an input address, fails the comparison; one that is much
faster on rewritten inputs than on fresh ones (it recognises data it has seen) is caught
by comparing the two groups' times, which had the same work done around them.

Every output is materialised before the clock stops: only plain tensors (and tuples,
lists, dicts of them) are accepted, so a tensor subclass or an object that computes on
access cannot move its work past the clock (``LazyOutput``). On CUDA a checked output is
copied on the timed stream right behind the end event, so work left on another stream
has not landed in it.

The timers, the event methods and the synchronize function are bound when this module is
imported and again as locals of each timing function, before any candidate call:
rebinding a module global during the run does not reach a running loop (``tools.evaluator.integrity`` reports it).
Statistics are computed here and signed with the seal's key when one is given.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter as _perf_counter
from typing import Any, NamedTuple

import torch

from tools.evaluator.loader import tensors_in

logger = logging.getLogger(__name__)

_CudaEvent = torch.cuda.Event
_event_record = torch.cuda.Event.record
_event_elapsed = torch.cuda.Event.elapsed_time
_cuda_sync = torch.cuda.synchronize
_median = statistics.median
_quantiles = statistics.quantiles
_sysrand = secrets.SystemRandom()
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_PLAIN = (type(None), bool, int, float)


class LazyOutput(Exception):
    """The output is not plain data: its work could run after the clock stopped."""

    flags = ("lazy_output",)


@dataclass(kw_only=True)
class Checks:
    """What the timed loop checks on sampled calls (the candidate's series only)."""

    samples: int
    """Repetitions of one series whose outputs are checked (all of them when fewer)."""
    draw: Callable[[], list[Any]] | None
    """Fresh inputs from a seed the candidate cannot predict (called outside the clock,
    before every checked call, so both groups carry the same work); ``None``: no fresh
    inputs, every checked call rewrites its set with its own values."""
    verify: Callable[[Any, Any, Any, str], None] | None
    """``verify(pristine, inputs, output, where)``: raise when the output is wrong or the
    inputs were changed; ``pristine`` (a list) is what the inputs held before the call, and
    verify empties it once the inputs are found unchanged, so that the reference runs
    without a second input set alive. ``None`` for the reference's series, which follow
    the same protocol (so that both carry the same extra work) without being compared."""


class Budget(NamedTuple):
    """How long a series warms up and is timed, and its bounds on timed repetitions. A
    tuple, unpacked by each timing function before the first candidate call."""

    warmup_ms: float
    rep_ms: float
    min_reps: int
    max_reps: int


@dataclass(kw_only=True)
class Timing:
    """Statistics of the timed repetitions, in milliseconds."""

    median_ms: float
    iqr_ms: float
    reps: int
    checked: int = 0
    """Timed repetitions whose output was compared with the reference."""
    fresh_ms: list[float] = field(default_factory=list)
    """Times of the checked repetitions whose inputs got fresh values in place."""
    rewritten_ms: list[float] = field(default_factory=list)
    """Times of the checked repetitions whose inputs were rewritten with the values they
    held (data the candidate had seen), with the same work around them."""
    settle_ms: list[float] = field(default_factory=list)
    """CUDA, checked repetitions: from the end event on the timed stream to the moment every
    stream of the device had finished (after a full synchronize). Work the call left on
    another stream lengthens it."""
    mac: bytes = b""
    """HMAC of ``signed_values()`` under the seal's key (empty: not signed)."""

    def signed_values(self) -> tuple[float, float, int, int]:
        return (self.median_ms, self.iqr_ms, self.reps, self.checked)


def materialise(out: Any) -> None:
    """Accept only plain tensors and tuples, lists and dicts of them (and plain scalars).

    Raises:
        LazyOutput: naming the type found, for anything else (a tensor subclass with
            ``__torch_function__``, a list subclass, an object that computes on access).
    """
    kind = type(out)
    if kind is _Tensor or kind is _Parameter or kind in _PLAIN:
        return
    if kind is tuple or kind is list:
        for item in out:
            materialise(item)
        return
    if kind is dict:
        for item in out.values():
            materialise(item)
        return
    raise LazyOutput(
        f"the output is a {kind.__module__}.{kind.__qualname__}, not a plain torch.Tensor: "
        "a tensor subclass or an object that computes on access can move its work past the "
        "clock; return the computed tensor itself"
    )


def _stats(samples: list[float]) -> tuple[float, float]:
    """Median and interquartile range (inclusive quartiles; max - min under 4 samples)."""
    ordered = sorted(samples)
    if len(ordered) >= 4:
        q = _quantiles(ordered, n=4, method="inclusive")
        iqr = q[2] - q[0]
    else:
        iqr = ordered[-1] - ordered[0]
    return _median(ordered), iqr


def _timing(samples: list[float], picks: dict[int, bool], seal: Any) -> Timing:
    median, iqr = _stats(samples)
    t = Timing(
        median_ms=median,
        iqr_ms=iqr,
        reps=len(samples),
        checked=len(picks),
        fresh_ms=[s for i, s in enumerate(samples) if picks.get(i) is True],
        rewritten_ms=[s for i, s in enumerate(samples) if picks.get(i) is False],
    )
    if seal is not None:
        t.mac = seal.sign(t.signed_values())
    return t


CHECK_BUDGET_MS = 1000.0
"""A series with checks times at least as many calls as it checks, as far as this many
milliseconds of calls allow (so that both groups of checked calls are large enough)."""


def _reps_for(estimate_ms: float, budget_ms: float, min_reps: int, max_reps: int) -> int:
    return int(min(max_reps, max(min_reps, budget_ms / max(estimate_ms, 1e-4))))


def _reps_checked(n: int, estimate_ms: float, checks: Checks | None) -> int:
    """``n`` raised to the number of checked calls, within ``CHECK_BUDGET_MS``."""
    if checks is None or checks.samples <= 0:
        return n
    return max(n, min(checks.samples, int(CHECK_BUDGET_MS / max(estimate_ms, 1e-4))))


def _pick(n: int, checks: Checks | None) -> dict[int, bool]:
    """Which of ``n`` repetitions are checked (index -> fresh values or rewritten ones, a fair
    coin each), from the OS random source when the series starts, so no earlier call can
    read it."""
    if checks is None or checks.samples <= 0:
        return {}
    fresh = checks.draw is not None
    picked = _sysrand.sample(range(n), min(n, checks.samples))
    return {i: fresh and _sysrand.random() < 0.5 for i in picked}


def _prepare(inputs: list[Any], fresh: bool, checks: Checks) -> tuple[list[Any], Any]:
    """Before a checked call: draw fresh inputs and write them into the set (``fresh``), or
    rewrite the set with its own values; returns the inputs to call with and what they hold."""
    drawn = checks.draw() if checks.draw is not None else None
    if fresh and drawn is not None:
        return _refill(inputs, drawn), drawn
    del drawn  # drawn for the same work as a fresh call; freed before the call
    held = [t.clone() if isinstance(t, _Tensor) else t for t in inputs]
    return _refill(inputs, held), held  # the set rewritten with its own values


def _refill(inputs: list[Any], fresh: list[Any]) -> list[Any]:
    """Write ``fresh`` into the input set in place (same addresses, new values); when the
    two do not match tensor for tensor, the fresh inputs are used as they are."""
    dst, src = tensors_in(inputs), tensors_in(fresh)
    same = len(dst) == len(src) and all(
        d.shape == s.shape and d.dtype == s.dtype and d.device == s.device
        for d, s in zip(dst, src)
    )
    plain_equal = [a for a in inputs if not isinstance(a, _Tensor)] == [
        a for a in fresh if not isinstance(a, _Tensor)
    ]
    if not (same and plain_equal):
        return [t.clone() if isinstance(t, _Tensor) else t for t in fresh]
    for d, s in zip(dst, src):
        d.copy_(s)
    return inputs


def time_cuda(
    fn: Callable[..., Any],
    input_sets: list[list[Any]],
    budget: Budget,
    *,
    flush_mib: int,
    checks: Checks | None = None,
    seal: Any = None,
) -> Timing:
    """Time ``fn(*inputs)`` on the current CUDA device (see module docstring)."""
    warmup_ms, rep_ms, min_reps, max_reps = budget
    event, sync, check_out = _CudaEvent, _cuda_sync, materialise
    record, elapsed = _event_record, _event_elapsed  # a method patched on the class later
    stream = torch.cuda.current_stream()  # does not reach these
    flush = torch.empty(flush_mib << 20, dtype=torch.int8, device="cuda")
    sync()
    start, end = event(enable_timing=True), event(enable_timing=True)
    record(start, stream)
    for i in range(5):
        check_out(fn(*input_sets[i % len(input_sets)]))
    record(end, stream)
    sync()
    estimate = elapsed(start, end) / 5
    for i in range(_reps_for(estimate, warmup_ms, 1, max_reps)):
        check_out(fn(*input_sets[i % len(input_sets)]))
    n = _reps_checked(_reps_for(estimate, rep_ms, min_reps, max_reps), estimate, checks)
    starts = [event(enable_timing=True) for _ in range(n)]
    ends = [event(enable_timing=True) for _ in range(n)]
    picks = _pick(n, checks)
    settled: list[tuple[Any, Any]] = []
    sync()
    for i in range(n):
        inputs, pristine = input_sets[i % len(input_sets)], None
        if i in picks and checks is not None:
            inputs, pristine = _prepare(inputs, picks[i], checks)
        flush.zero_()
        record(starts[i], stream)
        out = fn(*inputs)
        check_out(out)
        record(ends[i], stream)
        if pristine is not None and checks is not None:
            # what the output held when the timed stream reached the end event: work
            # left on another stream may not have landed in this copy yet
            landed = [t.clone() for t in tensors_in(out)]
            sync()
            done = event(enable_timing=True)
            record(done, stream)  # after every stream of the device finished
            settled.append((ends[i], done))
            checked = _replace_tensors(out, landed)
            del out, landed  # the landed copy is what is compared: one output alive, not two
            if checks.verify is not None:
                checks.verify(pristine, inputs, checked, f"timed call {i + 1} of {n}")
            del checked
        out = pristine = None  # else the next call runs while this output is still alive
    sync()
    t = _timing([elapsed(s, e) for s, e in zip(starts, ends)], picks, seal)
    t.settle_ms = [elapsed(e, d) for e, d in settled]
    return t


def _replace_tensors(obj: Any, tensors: list[Any]) -> Any:
    """``obj`` with its tensors replaced, in order, by ``tensors``."""
    it = iter(tensors)

    def walk(o: Any) -> Any:
        if isinstance(o, _Tensor):
            return next(it)
        if isinstance(o, (tuple, list)):
            return type(o)(walk(x) for x in o)
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        return o

    return walk(obj)


def time_cpu(
    fn: Callable[..., Any],
    input_sets: list[list[Any]],
    budget: Budget,
    *,
    checks: Checks | None = None,
    seal: Any = None,
) -> Timing:
    """Time ``fn(*inputs)`` on the CPU with ``perf_counter`` around each call."""
    warmup_ms, rep_ms, min_reps, max_reps = budget
    clock, check_out = _perf_counter, materialise
    t0 = clock()
    check_out(fn(*input_sets[0]))
    first_ms = (clock() - t0) * 1e3
    warm = _reps_for(first_ms, warmup_ms, 1, max_reps)
    t0 = clock()
    for i in range(warm):
        check_out(fn(*input_sets[i % len(input_sets)]))
    estimate = (clock() - t0) * 1e3 / warm
    n = _reps_checked(_reps_for(estimate, rep_ms, min_reps, max_reps), estimate, checks)
    picks = _pick(n, checks)
    samples = []
    for i in range(n):
        inputs, pristine = input_sets[i % len(input_sets)], None
        if i in picks and checks is not None:
            inputs, pristine = _prepare(inputs, picks[i], checks)
        t0 = clock()
        out = fn(*inputs)
        check_out(out)
        samples.append((clock() - t0) * 1e3)
        if pristine is not None and checks is not None and checks.verify is not None:
            checks.verify(pristine, inputs, out, f"timed call {i + 1} of {n}")
        out = pristine = None  # else the next call runs while this output is still alive
    return _timing(samples, picks, seal)


def timer_for(device: str, flush_mib: int) -> Callable[..., Timing]:
    """The timing function of ``device``: :func:`time_cuda` (``flush_mib`` MiB written
    between calls to flush the L2) or :func:`time_cpu`; same arguments after that."""
    return functools.partial(time_cuda, flush_mib=flush_mib) if device == "cuda" else time_cpu


def miss_probability(rate: float, checked: int) -> float:
    """Chance that ``checked`` independently sampled calls all miss a kernel wrong on a
    fraction ``rate`` of its calls: ``(1 - rate) ** checked``."""
    return math.pow(1.0 - rate, checked)
