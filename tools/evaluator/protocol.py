"""The contract between ``evaluate`` (orchestrator) and the sandboxed worker.

The orchestrator writes ``request.json`` into a fresh per-candidate directory and starts
``python -m tools.evaluator.worker request.json`` there. It sends a one-line random token
on the worker's stdin (never in argv, the environment or a file, so a candidate cannot read
it without introspection, which the static checks forbid). The worker appends one JSON
line per stage to ``progress.jsonl`` and finally writes ``result.json``::

    {"token": "<the token>", "result": {<EvalResult fields>}}

A result whose token does not match is not believed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from tools.evaluator.options import EvalOptions
from tools.records.candidate import Candidate
from tools.records.eval_result import EvalResult
from tools.records.problem import Problem
from tools.records.target import Target

PROTOCOL_VERSION = 1
REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
PROGRESS_FILE = "progress.jsonl"
CANDIDATE_FILE = "candidate.py"
STDOUT_FILE = "worker.stdout"
STDERR_FILE = "worker.stderr"


class EvalRequest(BaseModel):
    """Everything the worker needs, as plain data (``request.json``)."""

    version: int = PROTOCOL_VERSION
    mode: Literal["measure", "interpret"]
    """Resolved mode: ``measure`` on the target chip, or ``interpret`` and model."""
    problem: Problem
    candidate: Candidate
    target: Target
    options: EvalOptions
    problem_file: str
    """File name (in the work dir) of the reference source, randomised per evaluation."""
    candidate_file: str = CANDIDATE_FILE
    irregular_problem_file: str | None = None
    """File name of the reference re-rendered at an irregular shape (named ops only; see
    ``tools.evaluator.shapes``), or ``None`` when the problem cannot be re-shaped."""
    irregular_shape: list[int] = []
    """The size override of that file, for messages."""
    fs_isolation: str = ""
    """``landlock``: the worker confines itself before importing the candidate (see
    ``tools.evaluator.fsisolation``); empty: no run-time file-system isolation."""
    reference_cache_dir: str = ""
    """The shared compile cache the worker may use for the reference's ``torch.compile``
    before it imports the candidate (empty: the candidate's own ``cache_dir``)."""
    reference_compile_ms: float | None = None
    """The reference's ``torch.compile`` time from an earlier evaluation of this problem on
    this device (``EvalOptions.reuse_reference_compile``): the worker does not compile it."""
    reference_eager_ms: float | None = None
    """The eager reference's time measured beside ``reference_compile_ms``."""
    protected_paths: list[str] = []
    """Paths no read-only grant of the worker may contain: the directory of every
    candidate's work dir, the shared compile cache, the directory of the device lock."""


def write_json_atomic(path: Path, payload: dict[str, object]) -> None:
    """Write JSON to ``path`` through a temporary file and a rename (never half a file)."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def append_progress(path: Path, stage: str) -> None:
    """Append one progress line ``{"stage": ..., "t": ...}`` and flush it to disk."""
    with path.open("a") as fh:
        fh.write(json.dumps({"stage": stage, "t": time.time()}) + "\n")
        fh.flush()


def last_stage(path: Path) -> str | None:
    """The stage named by the last complete progress line, or ``None`` if there is none."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return str(json.loads(line)["stage"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def read_result(path: Path, token: str) -> EvalResult | None:
    """Read the worker's result; ``None`` when missing, unreadable or not carrying ``token``."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("token") != token:
        return None
    try:
        return EvalResult.model_validate(payload["result"])
    except (KeyError, ValueError):
        return None
