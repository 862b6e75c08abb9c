"""``bench.json``: the bench document, reading, writing and merging side-by-side benches."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from kevolve.bench_stats import ProblemRow, summarize, with_fraction
from kevolve.runstore import atomic_write
from tools.ceilings import Ceilings
from tools.errors import ConfigError

BENCH_FILE = "bench.json"
SCHEMA_VERSION = 1


class BenchDoc(BaseModel):
    """The content of ``bench.json``."""

    schema_version: int = SCHEMA_VERSION
    suite: str
    suite_dir: str
    target: str
    budget: int
    scale: float
    max_mb: float | None = None
    time_limit_s: float | None = None
    created_at: str = Field(default_factory=lambda: utc_now())
    updated_at: str = Field(default_factory=lambda: utc_now())
    ceilings: Ceilings | None = None
    """Ceilings of the latest invocation (fractions are taken against these)."""
    sessions: list[dict[str, Any]] = Field(default_factory=list)
    """One entry per invocation: when, the command, the ceilings' device and copy rate."""
    problems: dict[str, ProblemRow] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(default_factory=dict)


def utc_now() -> str:
    """Now, in UTC, to the second (ISO 8601)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def bench_path(out_dir: Path) -> Path:
    """Where a bench writes its results."""
    return out_dir / BENCH_FILE


def load_doc(out_dir: Path) -> BenchDoc | None:
    """The ``bench.json`` in ``out_dir``, if there is one."""
    path = bench_path(out_dir)
    if not path.is_file():
        return None
    try:
        return BenchDoc.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigError(
            f"{path} is damaged and cannot be resumed: {str(e).splitlines()[0]}"
        ) from e


def write_doc(doc: BenchDoc, out_dir: Path) -> Path:
    """Recompute the summary and write ``bench.json`` atomically."""
    doc.updated_at = utc_now()
    doc.summary = summarize(list(doc.problems.values()), doc.ceilings)
    path = bench_path(out_dir)
    atomic_write(path, json.dumps(doc.model_dump(mode="json"), indent=2) + "\n")
    return path


def merge_into(out_dir: Path, others: list[Path]) -> BenchDoc:
    """Fold the ``bench.json`` of ``others`` into the one in ``out_dir`` and rewrite it.

    Several benches of one suite can run side by side on one machine (separate ``--out``
    folders, one data dir, so their timings share the device lock); this joins their rows.
    A problem present in both keeps the row finished last; sessions are concatenated; the
    ceilings kept are those with the highest copy bandwidth measured.

    Raises:
        ConfigError: A folder without ``bench.json``, or benches of another suite, target,
            budget or size.
    """
    doc = load_doc(out_dir)
    if doc is None:
        raise ConfigError(f"{bench_path(out_dir)} does not exist; run a bench into it first")
    for folder in others:
        other = load_doc(folder)
        if other is None:
            raise ConfigError(f"{bench_path(folder)} does not exist; nothing to merge from it")
        if (other.suite, other.target, other.budget, other.scale, other.max_mb) != (
            doc.suite, doc.target, doc.budget, doc.scale, doc.max_mb
        ):
            raise ConfigError(
                f"{bench_path(folder)} is a bench of another suite, target, budget or size "
                "and cannot be merged into this one"
            )
        for name, row in other.problems.items():
            mine = doc.problems.get(name)
            if mine is None or (row.measured_at or "") >= (mine.measured_at or ""):
                doc.problems[name] = row
        doc.sessions.extend(x for x in other.sessions if x not in doc.sessions)
        if other.ceilings is not None and (
            doc.ceilings is None or other.ceilings.copy_gbps > doc.ceilings.copy_gbps
        ):
            doc.ceilings = other.ceilings  # the highest measured: fractions are not flattered
    doc.problems = {k: with_fraction(r, doc.ceilings) for k, r in sorted(doc.problems.items())}
    write_doc(doc, out_dir)
    return doc
