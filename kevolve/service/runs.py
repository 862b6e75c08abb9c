"""Runs, reports and kernels: ``/api/runs``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from graph.report_plots import FIGURES, outcome
from kevolve.runstore import RunStore
from kevolve.runstores import open_run_store
from tools.errors import KevolveError
from tools.records import Candidate, EvalResult

_RUN_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
RUN_FILES = {"report.md", "report.html", "best_kernel.py", "summary.json", *FIGURES}
"""Files of a run folder the service hands out (nothing else in it is reachable)."""


def _store(settings: Any) -> RunStore:
    return open_run_store(settings.runs_dir, settings.database_url)


def _check_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id) or run_id in (".", ".."):
        raise HTTPException(404, f"no run {run_id!r}")
    return run_id


def run_view(settings: Any, run_id: str) -> dict[str, Any]:
    """Everything the run page shows."""
    store = _store(settings)
    try:
        info = store.info(_check_id(run_id))
    except KevolveError as e:
        raise HTTPException(404, str(e)) from e
    d = store.run_dir(run_id)
    cands = [Candidate.model_validate_json(p.read_text()) for p in sorted((d / "candidates").glob("*.json"))]
    results = {p.stem: EvalResult.model_validate_json(p.read_text())
               for p in (d / "results").glob("*.json")}  # fmt: skip
    nodes = []
    for c in cands:
        r = results.get(c.id)
        nodes.append({
            "id": c.id, "parent_ids": c.parent_ids, "generation": c.generation,
            "language": c.language, "memory_mode": c.memory_mode, "template": c.template,
            "transformation": c.transformation, "outcome": outcome(r),
            "speedup_vs_eager": r.speedup_vs_eager if r else None,
            "speedup_vs_compile": r.speedup_vs_compile if r else None,
            "runtime_ms": r.runtime_ms if r else None,
            "runtime_spread_ms": r.runtime_spread_ms if r else None,
            "measured_on": r.measured_on if r else "",
            "error": (r.error[:300] if r else ""),
        })
    summary = store.read_summary(run_id)
    best_code = (d / "best_kernel.py").read_text() if (d / "best_kernel.py").exists() else ""
    knowledge = json.loads((d / "knowledge.json").read_text()) if (d / "knowledge.json").exists() else []
    return {
        "info": info.model_dump(mode="json"),
        "summary": summary,
        "nodes": nodes,
        "evaluation_order": store.evaluation_log(run_id),
        "best_kernel": best_code,
        "figures": [f for f in FIGURES if (d / f).exists()],
        "knowledge": knowledge,
        "has_report": (d / "report.html").exists(),
    }


def router(settings: Any) -> APIRouter:
    api = APIRouter(prefix="/api/runs", tags=["runs"])

    @api.get("")
    def list_runs() -> list[dict[str, Any]]:
        """Runs, newest first."""
        return [i.model_dump(mode="json", include={"run_id", "problem", "target", "status",
                                                    "budget", "created_at"})
                for i in _store(settings).list()]  # fmt: skip

    @api.get("/{run_id}")
    def show_run(run_id: str) -> dict[str, Any]:
        """A run: its records, search tree, figures, best kernel and chip knowledge used."""
        return run_view(settings, run_id)

    @api.get("/{run_id}/kernel")
    def best_kernel(run_id: str) -> FileResponse:
        """The best kernel as a KernelBench ModelNew file."""
        return _file(settings, run_id, "best_kernel.py")

    @api.get("/{run_id}/report")
    def report(run_id: str) -> FileResponse:
        """The HTML report (its figures are under /api/runs/{run_id}/files/)."""
        return _file(settings, run_id, "report.html")

    @api.get("/{run_id}/files/{name}")
    def run_file(run_id: str, name: str) -> FileResponse:
        """A report file: report.md/html, the figures, best_kernel.py, summary.json."""
        return _file(settings, run_id, name)

    return api


def _file(settings: Any, run_id: str, name: str) -> FileResponse:
    if name not in RUN_FILES:
        raise HTTPException(404, f"no file {name!r}; a run has {', '.join(sorted(RUN_FILES))}")
    path = _store(settings).run_dir(_check_id(run_id)) / name
    if not path.is_file():
        raise HTTPException(404, f"run {run_id} has no {name} (yet)")
    media = {"png": "image/png", "html": "text/html", "md": "text/markdown",
             "py": "text/x-python", "json": "application/json"}[Path(name).suffix[1:]]  # fmt: skip
    return FileResponse(path, media_type=media)
