"""The run store: every run's files under ``<data_dir>/runs/<run_id>/``.

Layout of one run folder::

    run.json             RunInfo: id, problem, target, status, budget, timestamps
    problem.py           the KernelBench reference source
    candidates/<id>.py   each candidate's ModelNew source
    candidates/<id>.json the Candidate record
    results/<id>.json    the EvalResult of each evaluated candidate (the evaluation cache)
    evaluations.log      one line per sandboxed evaluation actually run (audit trail)
    best_kernel.py       the best kernel as a KernelBench ModelNew file
    report.md            the markdown report
    summary.json         the object ``kevolve optimize --json`` prints

Writes are atomic (temp file + rename) so a killed run never leaves half a file. With a
``postgresql://`` database URL the same records live in a Postgres server
(``kevolve/runstore_pg.py``) and the folder is the local copy of what this host wrote or read.
"""

from __future__ import annotations

import builtins
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from graph.ports import RunStatus
from tools.errors import RunStoreError
from tools.records import Candidate, EvalResult


class RunInfo(BaseModel):
    """What ``kevolve runs list`` shows for one run."""

    run_id: str
    problem: str
    target: str
    status: RunStatus = "running"
    budget: int
    languages: list[str] = Field(default_factory=list)
    created_at: str = Field(default_factory=lambda: _now())
    updated_at: str = Field(default_factory=lambda: _now())
    request: dict[str, Any] = Field(default_factory=dict)
    """The resolved request (problem spec, shape, dtype, options) so a resume needs nothing else."""
    error: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    """Files of all runs under one folder.

    Every read and write goes through a few primitives (``_put``, ``_get``, ``_delete``,
    ``_append_evaluation``, ``_evaluations``, ``_run_ids``), which
    :class:`kevolve.runstore_pg.PostgresRunStore` moves to a Postgres server;
    :func:`kevolve.runstores.open_run_store` picks the store from the settings.
    """

    def __init__(self, runs_dir: Path) -> None:
        self.root = Path(runs_dir)

    # Storage primitives ------------------------------------------------------------------------
    def _put(self, run_id: str, name: str, text: str) -> None:
        atomic_write(self.run_dir(run_id) / name, text)

    def _get(self, run_id: str, name: str) -> str | None:
        path = self.run_dir(run_id) / name
        return path.read_text(encoding="utf-8") if path.exists() else None

    def _delete(self, run_id: str, name: str) -> None:
        (self.run_dir(run_id) / name).unlink(missing_ok=True)

    def _append_evaluation(self, run_id: str, line: str) -> None:
        with open(self.run_dir(run_id) / "evaluations.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _evaluations(self, run_id: str) -> builtins.list[str]:
        path = self.run_dir(run_id) / "evaluations.log"
        return [line for line in path.read_text().splitlines() if line] if path.exists() else []

    def _run_ids(self) -> builtins.list[str]:
        if not self.root.exists():
            return []
        return [d.name for d in self.root.iterdir() if (d / "run.json").exists()]

    def sync_local(self, run_id: str) -> None:
        """Make the local run folder hold everything stored for the run (files: nothing to do)."""

    # Runs ----------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        """Folder of one run (not checked for existence)."""
        return self.root / run_id

    def create(self, info: RunInfo, problem_source: str) -> Path:
        """Create the folder of a new run."""
        d = self.run_dir(info.run_id)
        if self._get(info.run_id, "run.json") is not None:
            raise RunStoreError(f"run {info.run_id} already exists in {self.where}.")
        (d / "candidates").mkdir(parents=True, exist_ok=True)
        (d / "results").mkdir(parents=True, exist_ok=True)
        self._put(info.run_id, "problem.py", problem_source)
        self.save_info(info)
        return d

    @property
    def where(self) -> str:
        """Where the runs are kept, for messages."""
        return str(self.root)

    def save_info(self, info: RunInfo) -> None:
        """Persist the run's RunInfo (timestamps updated)."""
        info.updated_at = _now()
        self._put(info.run_id, "run.json", info.model_dump_json(indent=2))

    def has_run(self, run_id: str) -> bool:
        """Whether this store holds the run (on Postgres: any host wrote it)."""
        return self._get(run_id, "run.json") is not None

    def info(self, run_id: str) -> RunInfo:
        """The RunInfo of a run, or a RunStoreError naming where the runs are kept."""
        text = self._get(run_id, "run.json")
        if text is None:
            raise RunStoreError(
                f"no run {run_id!r} in {self.where}; `kevolve runs list` shows the runs there."
            )
        try:
            return RunInfo.model_validate_json(text)
        except ValueError as e:
            raise RunStoreError(f"run {run_id} has a damaged run.json in {self.where}: {e}") from e

    def set_status(self, run_id: str, status: RunStatus, error: str = "") -> RunInfo:
        """Update a run's status."""
        info = self.info(run_id)
        info.status = status
        info.error = error
        self.save_info(info)
        return info

    def list(self) -> list[RunInfo]:
        """All runs, newest first; damaged ones are skipped."""
        infos: list[RunInfo] = []
        for run_id in self._run_ids():
            try:
                infos.append(self.info(run_id))
            except RunStoreError:
                continue
        return sorted(infos, key=lambda i: i.created_at, reverse=True)

    # Candidates and results -------------------------------------------------------------------
    def save_candidate(self, run_id: str, cand: Candidate) -> None:
        """Keep a candidate's source and record."""
        self._put(run_id, f"candidates/{cand.id}.py", cand.source)
        self._put(run_id, f"candidates/{cand.id}.json", cand.model_dump_json(indent=2))

    def candidate_path(self, run_id: str, cand_id: str) -> Path:
        """Path of a candidate's ModelNew source."""
        return self.run_dir(run_id) / "candidates" / f"{cand_id}.py"

    def load_result(self, run_id: str, cand_id: str) -> EvalResult | None:
        """The stored EvalResult of a candidate, if it was evaluated."""
        text = self._get(run_id, f"results/{cand_id}.json")
        return None if text is None else EvalResult.model_validate_json(text)

    def save_result(self, run_id: str, result: EvalResult) -> None:
        """Keep an EvalResult and append to the audit trail of evaluations.

        Raises:
            RunInterrupted: The run was stopped in this process: an evaluation that ends
                after that was cut short (its sandbox killed) and must not be cached.
        """
        from kevolve.interrupt import RunInterrupted, is_cancelled

        if is_cancelled(run_id):
            raise RunInterrupted(run_id, len(self.evaluation_log(run_id)), self.info(run_id).budget)
        self._put(run_id, f"results/{result.candidate_id}.json", result.model_dump_json(indent=2))
        self._append_evaluation(
            run_id, json.dumps({"candidate_id": result.candidate_id, "at": _now()})
        )

    def forget_result(self, run_id: str, cand_id: str) -> None:
        """Drop a candidate's stored result, so a resumed run evaluates it again.

        The audit trail keeps the line of the dropped evaluation.
        """
        self._delete(run_id, f"results/{cand_id}.json")

    def save_remeasurement(
        self, run_id: str, cand_id: str, index: int, result: EvalResult
    ) -> None:
        """Keep the ``index``-th re-measurement of a winner (``confirm/`` of the run folder).

        Raises:
            RunInterrupted: The run was stopped in this process (see :meth:`save_result`).
        """
        from kevolve.interrupt import RunInterrupted, is_cancelled

        if is_cancelled(run_id):
            raise RunInterrupted(run_id, 0, 0)
        self._put(run_id, f"confirm/{cand_id}-{index}.json", result.model_dump_json(indent=2))

    def load_remeasurement(self, run_id: str, cand_id: str, index: int) -> EvalResult | None:
        """A stored re-measurement of a winner, if any."""
        text = self._get(run_id, f"confirm/{cand_id}-{index}.json")
        return None if text is None else EvalResult.model_validate_json(text)

    def evaluation_log(self, run_id: str) -> builtins.list[str]:
        """Candidate ids in the order their evaluations were run (duplicates would show here)."""
        return [json.loads(line)["candidate_id"] for line in self._evaluations(run_id)]

    def write_text(self, run_id: str, name: str, text: str) -> Path:
        """Write a file into the run folder atomically and return its path."""
        self._put(run_id, name, text)
        return self.run_dir(run_id) / name

    def read_summary(self, run_id: str) -> dict[str, Any] | None:
        """The stored ``optimize --json`` object of a finished run."""
        text = self._get(run_id, "summary.json")
        return None if text is None else json.loads(text)
