"""``kevolve bench``: run every problem of a suite through the optimizer and score the answers.

One bench run measures the chip's ceilings first (``tools.ceilings``), then optimizes each
problem in this process with :func:`kevolve.api.start_run`, reads the answer back from the
run store (``kevolve.bench_stats``), and rewrites ``<out>/bench.json`` after every problem.
A bench killed half way resumes with ``resume=True``: finished problems are skipped, and a
problem whose run was cut short continues from its last checkpoint when its run is still in
the data dir (else it starts again).

The per-problem time limit is hard (``kevolve.bench_limit``): when it is reached the
evaluations in flight are killed and the run stops at its next event; the row says
``time limit``. The answer is then the best candidate among those fully evaluated, chosen by
the same rule as the run's report. ``deadline_s`` only decides whether a problem starts:
a problem started before it keeps its whole time limit.

Each problem is classified from its own counts (``tools.problems.counts``: the traced
reference's bytes floor and FLOPs against the measured ceilings, ``tools.ceilings.bound_kind``)
and judged against that ceiling, whatever its name or family.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from evals.record import commit
from graph.report import choose_best
from graph.state import RunRequest
from kevolve.bench_doc import (  # noqa: F401 - re-exported: the bench API in one place
    BENCH_FILE,
    SCHEMA_VERSION,
    BenchDoc,
    utc_now,
    bench_path,
    load_doc,
    merge_into,
    write_doc,
)
from kevolve.bench_limit import Watchdog
from kevolve.bench_stats import ProblemRow, fill_row, with_fraction
from kevolve.bench_suite import Suite, SuiteEntry, prepare_file, resolve_suite, select
from kevolve.runstore import RunStore
from kevolve.runstores import open_run_store
from kevolve.settings import Settings
from tools.ceilings import Ceilings, bound_kind, ceilings_for
from tools.evaluator.admission import device_slot, slot_lock_path
from tools.evaluator.devlock import DeviceLock
from tools.errors import ConfigError, KevolveError, ProblemError
from tools.hardware import load_target
from tools.records import Candidate, EvalResult

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


class BenchConfig(BaseModel):
    """What one ``kevolve bench`` invocation was asked to do."""

    suite: str
    target: str
    budget: int = Field(ge=1)
    out_dir: Path
    scale: float = Field(default=1.0, gt=0)
    max_mb: float | None = Field(default=None, gt=0)
    only: str | None = None
    time_limit_s: float | None = Field(default=600.0, gt=0)
    """Per-problem wall-clock limit in seconds (None: none)."""
    deadline_s: float | None = Field(default=None, gt=0)
    """Start no problem after this many seconds of the whole invocation (a problem already
    started keeps its whole time limit)."""
    resume: bool = False
    rerun: bool = False
    """With ``resume``: run the selected problems again even when ``bench.json`` has them."""
    languages: list[str] = Field(default_factory=list)
    command: str = ""


class _TimeLimitReached(Exception):
    """Raised from the progress hook to stop a run between evaluations."""


class _RunHook:
    """The run's ``on_event`` listener: remembers the run id, stops the run once expired."""

    def __init__(
        self, limit_s: float | None, on_start: Callable[[str], None], say: Progress, name: str
    ) -> None:
        self.deadline = None if limit_s is None else time.monotonic() + limit_s
        self.run_id = ""
        self.on_start = on_start
        self.say = say
        self.name = name
        self.stopped = False
        self.expired = False
        """Set by the watchdog when the time limit is reached."""
        self.in_flight: set[str] = set()
        """Candidates whose evaluation started and has not reported back."""
        self.killed: set[str] = set()
        """Candidates in flight when the limit was reached (their evaluations were killed)."""
        self._lock = threading.Lock()

    def expire(self) -> None:
        """The watchdog's first action: from now on every event stops the run."""
        with self._lock:
            self.expired = True
            self.killed = set(self.in_flight)

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event in ("started", "resumed"):
            self.run_id = data["run_id"]
            self.on_start(self.run_id)
        elif event == "evaluating":
            with self._lock:
                self.in_flight.add(data["candidate_id"])
        elif event == "evaluated":
            with self._lock:
                self.in_flight.discard(data["candidate_id"])
            if not self.expired:
                result: EvalResult = data["result"]
                verdict = (
                    f"{result.speedup_vs_eager:.2f}x vs eager"
                    if result.accepted and result.speedup_vs_eager
                    else "rejected ("
                    + (result.stage_failed.value if result.stage_failed else "flags")
                    + ")"
                )
                self.say(f"  {self.name} {data['candidate_id']}: {verdict}")
        if event in ("evaluating", "evaluated", "generation", "seeded") and self.over():
            self.stopped = True
            raise _TimeLimitReached(f"time limit reached at {event}")

    def over(self) -> bool:
        return self.expired or (self.deadline is not None and time.monotonic() >= self.deadline)


def _fresh_doc(config: BenchConfig, suite: Suite, target: str) -> BenchDoc:
    return BenchDoc(
        suite=suite.name,
        suite_dir=str(suite.folder),
        target=target,
        budget=config.budget,
        scale=config.scale,
        max_mb=config.max_mb,
        time_limit_s=config.time_limit_s,
    )


def _check_resumable(doc: BenchDoc, config: BenchConfig, target: str) -> None:
    """A resumed bench must measure the same thing as the one it continues."""
    mismatched = [
        name for name, old, new in (
            ("target", doc.target, target), ("budget", doc.budget, config.budget),
            ("scale", doc.scale, config.scale), ("max_mb", doc.max_mb, config.max_mb),
        ) if old != new
    ]  # fmt: skip
    if mismatched:
        raise ConfigError(
            f"cannot resume {bench_path(config.out_dir)}: its {', '.join(mismatched)} differ "
            "from this command's; use another --out or drop --resume to start over"
        )


def run_bench(config: BenchConfig, settings: Settings, say: Progress | None = None) -> BenchDoc:
    """Run a benchmark suite and return what ``bench.json`` holds at the end.

    Args:
        config: The invocation.
        settings: kevolve settings (data dir, search and evaluation knobs).
        say: Receives one progress line per problem (the CLI prints them on stderr).

    Returns:
        The bench document, also written to ``<out>/bench.json``.

    Raises:
        KevolveError: An unknown suite or target, no problem matching ``only``, or a
            ``bench.json`` that cannot be resumed. A failing problem does not raise: it is
            recorded and the bench goes on.
    """
    say = say or (lambda line: logger.info("%s", line))
    suite = resolve_suite(config.suite)
    target = load_target(config.target, _extra_chip_dirs(settings))
    entries = select(suite.entries, config.only)
    if not entries:
        raise ProblemError(f"no problem of suite {suite.name} matches {config.only!r}")
    config.out_dir.mkdir(parents=True, exist_ok=True)
    doc = load_doc(config.out_dir) if config.resume else None
    if doc is not None:
        _check_resumable(doc, config, target.name)
    else:
        doc = _fresh_doc(config, suite, target.name)
    say(f"measuring the ceilings of {target.display_name} ...")
    # exclusive, like a timing: benches sharing this data dir must not disturb the measurement
    slot = device_slot("cuda" if target.kind == "gpu" else "cpu")  # the lock of this GPU
    with DeviceLock(slot_lock_path(str(settings.data_dir / "timing.lock"), slot)).exclusive():
        doc.ceilings = _shared_ceilings(settings.data_dir, target)
    doc.sessions.append({
        "started_at": utc_now(), "command": config.command, "only": config.only,
        "device": doc.ceilings.device, "measured": doc.ceilings.measured,
        "copy_gbps": doc.ceilings.copy_gbps, "matmul_tflops": doc.ceilings.matmul_tflops,
    })  # fmt: skip
    doc.problems = {k: with_fraction(r, doc.ceilings) for k, r in doc.problems.items()}
    say(
        f"ceilings ({doc.ceilings.label}): copy {doc.ceilings.copy_gbps:.1f} GB/s, matmul "
        + ", ".join(f"{k} {v:.2f} TFLOP/s" for k, v in doc.ceilings.matmul_tflops.items())
    )
    write_doc(doc, config.out_dir)
    started = time.monotonic()
    for i, entry in enumerate(entries, 1):
        previous = doc.problems.get(entry.name)
        if (
            config.resume
            and not config.rerun
            and previous is not None
            and previous.status != "running"
        ):
            say(f"[{i}/{len(entries)}] {entry.name}: already {previous.status}, skipped")
            continue
        if config.deadline_s is not None and time.monotonic() - started >= config.deadline_s:
            rest = [e.name for e in entries[i - 1 :]]
            doc.sessions[-1]["not_started"] = rest
            say(
                f"deadline of {config.deadline_s:g} s reached: {len(rest)} problem(s) not "
                "started; resume to run them"
            )
            break
        say(f"[{i}/{len(entries)}] {entry.name} ...")
        row = _run_problem(
            doc, suite, entry, config, settings, config.time_limit_s, previous, say
        )
        doc.problems[entry.name] = row
        write_doc(doc, config.out_dir)
        say(f"[{i}/{len(entries)}] {entry.name}: {_row_line(row)}")
    write_doc(doc, config.out_dir)
    return doc


CEILINGS_TTL_S = 6 * 3600.0
"""Ceilings measured by an earlier bench in the same data dir are reused this long."""


def _shared_ceilings(data_dir: Path, target: Any) -> Ceilings:
    """The target's ceilings, measured once per data dir and reused by later benches (the
    shards of one sample run side by side): called under the exclusive device lock, so
    the first shard measures and the others read its file."""
    path = data_dir / f"ceilings-{target.name}.json"
    try:
        if time.time() - path.stat().st_mtime < CEILINGS_TTL_S:
            return Ceilings.model_validate_json(path.read_text())
    except (OSError, ValueError) as e:
        logger.debug("ceilings not reused from %s: %s", path, e)
    ceilings = ceilings_for(target)
    try:
        path.write_text(ceilings.model_dump_json())
    except OSError as e:
        logger.warning("could not keep the ceilings in %s: %s", path, e)
    return ceilings


def _extra_chip_dirs(settings: Settings) -> list[Path]:
    extra = settings.data_dir / "hardware_docs"
    return [extra] if extra.is_dir() else []


def _row_line(row: ProblemRow) -> str:
    cut = f" ({row.stop_reason})" if row.time_limited and row.stop_reason else ""
    if row.status == "failed":
        return f"failed: {row.error or row.stop_reason}{cut}"
    if not row.correct:
        return f"not correct ({row.error or 'no accepted candidate'}){cut}"
    what = "reference kept" if row.is_reference else f"{row.language} kernel"
    if row.is_reference and row.triton.candidates == 0 and row.stop_reason:
        what += f" ({row.stop_reason})"  # no generated kernel at all: say why
    parts = [what]
    for label, value in (("eager", row.speedup_vs_eager), ("compile", row.speedup_vs_compile)):
        if value is not None:
            parts.append(f"{value:.2f}x vs {label}")
    if row.fraction_of_ceiling is not None:
        parts.append(f"{row.fraction_of_ceiling:.0%} of {row.ceiling}")
    parts.append(
        f"{row.evaluations} evals, {row.wall_s:.0f} s"
        + (f", stopped: {row.stop_reason}" if row.time_limited else "")
    )
    return "; ".join(parts)


def _run_problem(
    doc: BenchDoc,
    suite: Suite,
    entry: SuiteEntry,
    config: BenchConfig,
    settings: Settings,
    limit: float | None,
    previous: ProblemRow | None,
    say: Progress,
) -> ProblemRow:
    """Optimize one problem and return its row; never raises for the problem's own failure."""
    from kevolve.api import plan_run, resume_run, start_run

    store = open_run_store(settings.runs_dir, settings.database_url)
    row = ProblemRow(name=entry.name, file=entry.file, family=entry.family, kind=entry.kind)
    prior_wall = 0.0
    resumable = ""
    if (
        not config.rerun
        and previous is not None
        and previous.run_id
        and store.has_run(previous.run_id)
    ):
        resumable, prior_wall = previous.run_id, previous.wall_s
        row = previous.model_copy(update={"status": "running", "error": ""})
    if limit is not None:
        limit = max(0.0, limit - prior_wall)

    def on_start(run_id: str) -> None:
        doc.problems[entry.name] = row.model_copy(update={"run_id": run_id, "status": "running"})
        write_doc(doc, config.out_dir)

    hook = _RunHook(limit, on_start, say, entry.name)
    watchdog = Watchdog(limit, hook.expire)
    t0 = time.monotonic()
    error = ""
    try:
        watchdog.start()
        row, path = _prepare_row(row, suite, entry, config, doc.ceilings, say)
        if resumable:
            say(f"  resuming run {resumable}")
            hook.run_id = resumable
            if hook.over():
                raise _TimeLimitReached("time limit already used by earlier attempts")
            resume_run(resumable, settings, on_event=hook)
        else:
            request = RunRequest(
                problem=str(path),
                target=config.target,
                budget=config.budget,
                languages=config.languages,
                use_knowledge=settings.use_knowledge,
            )
            start_run(request, settings, on_event=hook, plan=plan_run(request, settings))
        watchdog.cancel()
    except (_TimeLimitReached, KeyboardInterrupt) as e:
        watchdog.cancel()
        if isinstance(e, KeyboardInterrupt) and not watchdog.fired:
            doc.problems[entry.name] = row.model_copy(
                update={"run_id": hook.run_id, "wall_s": prior_wall + time.monotonic() - t0}
            )
            write_doc(doc, config.out_dir)
            raise
        hook.stopped = True
        if hook.run_id:
            store.set_status(
                hook.run_id, "interrupted", "stopped by kevolve bench's per-problem time limit"
            )
            _forget_killed(store, hook.run_id, hook.killed)
    except Exception as e:  # noqa: BLE001 - one problem's failure must not stop the bench
        watchdog.cancel()
        if watchdog.fired:  # the run failed because its evaluations were killed
            hook.stopped = True
            if hook.run_id:
                _forget_killed(store, hook.run_id, hook.killed)
        else:
            error = f"{type(e).__name__}: " + (
                str(e).strip().splitlines()[0] if str(e).strip() else ""
            )
            if not isinstance(e, KevolveError):
                logger.exception("problem %s failed", entry.name)
    if watchdog.fired and limit is not None:
        say(
            f"  time limit of {limit:g} s reached: {watchdog.killed} evaluation(s) in flight "
            "stopped"
        )
    row = row.model_copy(update={
        "run_id": hook.run_id, "wall_s": prior_wall + time.monotonic() - t0,
        "time_limited": hook.stopped, "commit": commit(), "measured_at": utc_now(),
    })  # fmt: skip
    return _finish_row(row, store, error, doc.ceilings, limit)


def _forget_killed(store: RunStore, run_id: str, killed: set[str]) -> None:
    """Drop the stored results of evaluations the time limit killed (a resume redoes them)."""
    for cid in killed:
        store.forget_result(run_id, cid)


def _prepare_row(
    row: ProblemRow,
    suite: Suite,
    entry: SuiteEntry,
    config: BenchConfig,
    ceilings: Ceilings | None,
    say: Progress,
) -> tuple[ProblemRow, Path]:
    """Resize the problem to the bench's size, classify it from its counts, fill the row.

    Returns:
        The row and the file to run.
    """
    from tools.problems import load_problem_file
    from tools.problems.counts import problem_counts

    path, factor, note = prepare_file(
        suite, entry, config.out_dir / "problems", scale=config.scale, max_mb=config.max_mb
    )
    if note:
        say(f"  {note}")
    problem = load_problem_file(path)
    family = entry.family if entry.family != "unknown" else problem.op_family
    update: dict[str, Any] = {
        "scale": factor, "dtype": problem.dtype, "size_note": note, "family": family,
    }  # fmt: skip
    counts = problem_counts(path.read_text(encoding="utf-8"))
    if counts is None:
        say(f"  cannot count the reference; judged as {row.kind}-bound (its suite entry)")
    else:
        update.update(bytes_moved=counts.bytes_floor, flops=counts.flops)
        if ceilings is not None:
            update["kind"] = bound_kind(counts.bytes_floor, counts.flops, problem.dtype, ceilings)
        say(
            f"  {family}, {update.get('kind', row.kind)}-bound from its counts: "
            f"{counts.bytes_floor / 1e6:.3g} MB, {counts.flops / 1e9:.3g} GFLOP"
        )
    return row.model_copy(update=update), path


def _finish_row(
    row: ProblemRow,
    store: RunStore,
    error: str,
    ceilings: Ceilings | None,
    limit: float | None = None,
) -> ProblemRow:
    """Fill a row from the run store (whatever the run left there)."""
    if not row.run_id or not store.has_run(row.run_id):
        return row.model_copy(
            update={"status": "failed", "error": error or "the run never started"}
        )
    cands, results = _read_run(store, row.run_id)
    best_id, is_reference = choose_best(cands, results)
    info = store.info(row.run_id)
    summary = store.read_summary(row.run_id) or {}
    row = row.model_copy(update={
        "evaluations": len(store.evaluation_log(row.run_id)),
        "stop_reason": (
            f"time limit of {limit:g} s reached" if row.time_limited and limit is not None
            else "time limit reached" if row.time_limited
            else summary.get("stop_reason") or info.error
        ),
        "error": error,
    })  # fmt: skip
    filled = fill_row(row, cands, results, best_id, is_reference, ceilings)
    if error and not results:
        return filled.model_copy(update={"status": "failed"})
    return filled


def _read_run(store: RunStore, run_id: str) -> tuple[dict[str, Candidate], dict[str, EvalResult]]:
    """Every candidate of a run and the results of those evaluated."""
    folder = store.run_dir(run_id) / "candidates"
    cands: dict[str, Candidate] = {}
    for path in sorted(folder.glob("*.json")):
        cand = Candidate.model_validate_json(path.read_text(encoding="utf-8"))
        cands[cand.id] = cand
    results = {cid: r for cid in cands if (r := store.load_result(run_id, cid)) is not None}
    return cands, results
