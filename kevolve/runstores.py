"""Which run store a process uses: the files under the data dir, or a Postgres server.

Kept apart from both stores so that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

from graph.checkpoint import postgres_dsn
from kevolve.runstore import RunStore
from kevolve.runstore_pg import PostgresRunStore


def open_run_store(runs_dir: Path, database_url: str | None = None) -> RunStore:
    """The run store: files under ``runs_dir``, or a Postgres server when ``database_url`` is a
    ``postgresql://`` URL (the run folders then stay as each host's local copy)."""
    if postgres_dsn(database_url) is None:
        return RunStore(runs_dir)
    assert database_url is not None
    return PostgresRunStore(runs_dir, database_url)
