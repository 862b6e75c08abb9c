"""``kevolve data export``: every evaluated candidate as one JSON line, for fine-tuning.

One :class:`ExportRecord` per evaluated candidate, across all runs of a data dir or one run:
the problem, the target, the candidate (with its source), the context it was written in
(memory mode, parent, lineage), the whole ``EvalResult`` and the search reward. The schema is
documented field by field in ``docs/data_export.md``; ``schema_version`` changes when a field
changes meaning or disappears.

Mount the command with :func:`register_data` (``kevolve data export``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from pydantic import BaseModel, Field

from kevolve.runstore import RunInfo, RunStore
from tools.errors import KevolveError, ProblemError, RunStoreError
from tools.records import Candidate, EvalResult

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FORMATS = ("jsonl",)


class ProblemInfo(BaseModel):
    """The problem a run optimized."""

    name: str
    """Short name of the problem (the op name, or the problem file's stem)."""
    op: str | None = None
    """The named op (``softmax``) when the problem is one or was recognised as one."""
    op_family: str = "unknown"
    """pointwise, reduction, softmax, norm, scan, matmul, attention, fused or unknown."""
    dtype: str = "float32"
    """torch dtype name of the floating-point inputs."""
    shapes: list[list[int]] = Field(default_factory=list)
    """Shapes of the tensors ``get_inputs()`` returns, in order."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Op parameters (``dim``, ``eps``) where known."""
    source: str
    """The KernelBench reference source (``Model``, ``get_inputs``, ``get_init_inputs``)."""


class CandidateInfo(BaseModel):
    """The kernel that was evaluated (the ``Candidate`` record)."""

    id: str
    parent_ids: list[str] = Field(default_factory=list)
    generation: int = 0
    language: str
    """triton, cuda, hip, cpp, or pytorch (the reference passthrough and PyTorch rewrites)."""
    memory_mode: str = "seed"
    template: str = ""
    """Offline template name, or empty for free-form (LLM) code."""
    params: dict[str, Any] = Field(default_factory=dict)
    transformation: str = ""
    """What the candidate claims to change relative to its parent, in one line."""
    author: str = "offline"
    """LLM model name, or ``offline`` for the template synthesizer."""
    source: str
    """The complete KernelBench ``ModelNew`` module."""


class ContextInfo(BaseModel):
    """What the coder was given when it wrote the candidate, as far as the run folder tells."""

    memory_mode: str = "seed"
    """seed, inherit, compare, combine or restart."""
    parent_id: str | None = None
    """The candidate it was derived from (``None`` for first drafts)."""
    lineage: list[str] = Field(default_factory=list)
    """Ancestor ids, oldest first, ending with ``parent_id``; join on ``candidate.id``."""
    parent_transformation: str = ""
    """The parent's own ``transformation`` line, where the parent is in the run."""
    parent_reward: float | None = None
    """The parent's search reward, where the parent was evaluated."""


class ExportRecord(BaseModel):
    """One evaluated candidate: one line of ``kevolve data export --format jsonl``."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    run_status: str
    """running, finished, failed or interrupted."""
    target: str
    """Registry name of the chip (``h100``, ``mi300x``, ``cpu``)."""
    problem: ProblemInfo
    candidate: CandidateInfo
    context: ContextInfo
    result: EvalResult
    """The full evaluation record (stages, errors, times, speedups, diagnostics, flags)."""
    accepted: bool
    """Compiled, correct, no failed stage and no disqualifying flag."""
    reward: float
    """The search reward: speedup vs eager for accepted candidates, 0 otherwise."""
    measured_on: str
    """Copy of ``result.measured_on``: a device name, or ``modeled``."""


def _problem_info(store: RunStore, info: RunInfo) -> ProblemInfo:
    """Describe a run's problem from its ``problem.py`` (meta device; no real tensors)."""
    path = store.run_dir(info.run_id) / "problem.py"
    source = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        from tools.problems import load_problem_file

        problem = load_problem_file(path)
    except (ProblemError, OSError) as e:
        log.warning("run %s: problem not described (%s); exporting its source only", info.run_id, e)
        return ProblemInfo(name=info.problem, source=source)
    return ProblemInfo(
        name=info.problem, op=problem.op, op_family=problem.op_family, dtype=problem.dtype,
        shapes=problem.shapes, params=problem.params, source=source,
    )


def _candidates(store: RunStore, run_id: str) -> dict[str, Candidate]:
    out: dict[str, Candidate] = {}
    for path in sorted((store.run_dir(run_id) / "candidates").glob("*.json")):
        try:
            cand = Candidate.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as e:
            log.warning("skipping damaged candidate record %s: %s", path, str(e).splitlines()[0])
            continue
        out[cand.id] = cand
    return out


def _lineage(cand: Candidate, cands: dict[str, Candidate]) -> list[str]:
    chain: list[str] = []
    current = cand
    while current.parent_ids and current.parent_ids[0] not in chain:
        pid = current.parent_ids[0]
        chain.append(pid)
        if pid not in cands:
            break
        current = cands[pid]
    return list(reversed(chain))


def run_records(store: RunStore, run_id: str) -> Iterator[ExportRecord]:
    """The records of one run, in the order its evaluations ran.

    Raises:
        RunStoreError: No such run in the store.
    """
    info = store.info(run_id)
    cands = _candidates(store, run_id)
    results = {cid: store.load_result(run_id, cid) for cid in cands}
    order = [cid for cid in dict.fromkeys(store.evaluation_log(run_id)) if results.get(cid)]
    order += sorted(cid for cid, r in results.items() if r is not None and cid not in order)
    problem = _problem_info(store, info)
    for cid in order:
        cand, res = cands[cid], results[cid]
        assert res is not None
        parent_id = cand.parent_ids[0] if cand.parent_ids else None
        parent_res = results.get(parent_id) if parent_id else None
        context = ContextInfo(
            memory_mode=cand.memory_mode,
            parent_id=parent_id,
            lineage=_lineage(cand, cands),
            parent_transformation=cands[parent_id].transformation if parent_id in cands else "",
            parent_reward=parent_res.reward if parent_res is not None else None,
        )
        yield ExportRecord(
            run_id=run_id, run_status=info.status, target=info.target, problem=problem,
            candidate=CandidateInfo(**cand.model_dump(mode="json")), context=context,
            result=res, accepted=res.accepted, reward=res.reward, measured_on=res.measured_on,
        )


def export_records(runs_dir: Path, run_id: str | None = None) -> Iterator[ExportRecord]:
    """Records of one run, or of every run oldest first.

    Raises:
        RunStoreError: ``run_id`` names no run in ``runs_dir``.
    """
    store = RunStore(runs_dir)
    run_ids = [run_id] if run_id else [i.run_id for i in reversed(store.list())]
    for rid in run_ids:
        yield from run_records(store, rid)


def write_jsonl(records: Iterator[ExportRecord], stream: TextIO) -> int:
    """Write one JSON object per line; return how many lines were written."""
    count = 0
    for rec in records:
        stream.write(json.dumps(rec.model_dump(mode="json"), sort_keys=True) + "\n")
        count += 1
    return count


def export(runs_dir: Path, fmt: str = "jsonl", out: Path | None = None,
           run_id: str | None = None) -> int:
    """Export evaluated candidates to ``out`` (atomically) or stdout; return the record count.

    Raises:
        KevolveError: An unknown format.
        RunStoreError: An unknown run id.
    """
    if fmt not in FORMATS:
        raise KevolveError(f"unknown export format {fmt!r}; the formats are {', '.join(FORMATS)}.")
    if run_id is not None:
        RunStore(runs_dir).info(run_id)  # fail before writing anything
    records = export_records(runs_dir, run_id)
    if out is None:
        return write_jsonl(records, sys.stdout)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            count = write_jsonl(records, f)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def register_data(app: typer.Typer) -> None:
    """Mount ``kevolve data export`` on the CLI."""
    data_app = typer.Typer(help="Export what the runs learned.", no_args_is_help=True)

    @data_app.command("export")
    def export_cmd(
        fmt: Annotated[str, typer.Option("--format", help="Output format: jsonl.")] = "jsonl",
        out: Annotated[Path | None, typer.Option("--out", help="File to write (default: stdout).")] = None,
        run: Annotated[str | None, typer.Option("--run", help="Export one run only.")] = None,
        data_dir: Annotated[
            Path | None, typer.Option("--data-dir", help="Where runs live (~/.kevolve).")
        ] = None,
    ) -> None:
        """Write one JSON line per evaluated candidate (schema: docs/data_export.md)."""
        from kevolve.console import err, fail
        from kevolve.settings import get_settings

        try:
            settings = get_settings(data_dir=data_dir)
        except ValueError as e:
            fail(f"invalid setting: {e}".splitlines()[0])
        try:
            count = export(settings.runs_dir, fmt, out, run)
        except (RunStoreError, KevolveError) as e:
            fail(str(e))
        err.print(f"exported {count} evaluated candidates" + (f" to {out}" if out else ""))

    app.add_typer(data_app, name="data")
