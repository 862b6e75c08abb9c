"""The run store on a Postgres server (``KEVOLVE_DATABASE_URL=postgresql://...``).

The records of a run (``run.json``, the problem, candidates, results, re-measurements, report,
summary) are rows of ``kevolve_run_files`` keyed by run id and the name they have in a run
folder; the audit trail of evaluations is ``kevolve_evaluations``, in insertion order. Every
read comes from the server, so any host sharing the database sees every run, and a run killed
on one host resumes on another. Every write is also made to the local run folder, which keeps
the file readers (report pages, exports) working; :meth:`PostgresRunStore.sync_local` fills a
folder with everything stored for a run (``kevolve runs resume`` does it first).
"""

from __future__ import annotations

import builtins
import os
import threading
from pathlib import Path
from typing import Any

from graph.checkpoint import postgres_dsn, redacted
from kevolve.runstore import RunStore, atomic_write
from tools.errors import RunStoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kevolve_run_files (
    run_id text NOT NULL,
    name text NOT NULL,
    content text NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS kevolve_evaluations (
    seq bigserial PRIMARY KEY,
    run_id text NOT NULL,
    line text NOT NULL
);
CREATE INDEX IF NOT EXISTS kevolve_evaluations_run ON kevolve_evaluations (run_id, seq);
"""

_SCHEMA_LOCK_KEY = 74272
"""Postgres advisory lock held while the run store's tables are created."""

_connections: dict[tuple[int, str], tuple[Any, threading.Lock]] = {}
_connections_lock = threading.Lock()


def _connection(dsn: str) -> tuple[Any, threading.Lock]:
    """One autocommit connection per process and database (tables created on first use)."""
    key = (os.getpid(), dsn)
    with _connections_lock:
        found = _connections.get(key)
        if found is not None and not found[0].closed:
            return found
        try:
            import psycopg
        except ImportError as e:
            raise RunStoreError(
                "the run store on Postgres needs the postgres extra: "
                "pip install 'kevolve[postgres]'."
            ) from e
        try:
            conn = psycopg.connect(dsn, autocommit=True)
            with conn.transaction():
                # Several processes may create the tables at once: one does it, others wait.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
                conn.execute(_SCHEMA)
        except psycopg.Error as e:
            raise RunStoreError(
                f"cannot use the run store database {redacted(dsn)}: {e}".strip()
            ) from e
        _connections[key] = (conn, threading.Lock())
        return _connections[key]


class PostgresRunStore(RunStore):
    """Runs kept in a Postgres database, mirrored into the local run folders."""

    def __init__(self, runs_dir: Path, database_url: str) -> None:
        super().__init__(runs_dir)
        dsn = postgres_dsn(database_url)
        if dsn is None:
            raise RunStoreError(f"{database_url!r} is not a postgresql:// URL.")
        self.dsn = dsn

    @property
    def where(self) -> str:
        return f"the database {redacted(self.dsn)}"

    def _sql(self, query: str, params: tuple[Any, ...] = ()) -> builtins.list[tuple[Any, ...]]:
        import psycopg

        conn, lock = _connection(self.dsn)
        try:
            with lock:
                cur = conn.execute(query, params)
                return cur.fetchall() if cur.description else []
        except psycopg.Error as e:
            raise RunStoreError(f"the run store database {self.where} failed: {e}".strip()) from e

    def _put(self, run_id: str, name: str, text: str) -> None:
        self._sql(
            "INSERT INTO kevolve_run_files (run_id, name, content) VALUES (%s, %s, %s) "
            "ON CONFLICT (run_id, name) DO UPDATE SET content = EXCLUDED.content",
            (run_id, name, text),
        )
        super()._put(run_id, name, text)

    def _get(self, run_id: str, name: str) -> str | None:
        rows = self._sql(
            "SELECT content FROM kevolve_run_files WHERE run_id = %s AND name = %s", (run_id, name)
        )
        return rows[0][0] if rows else None

    def _delete(self, run_id: str, name: str) -> None:
        self._sql("DELETE FROM kevolve_run_files WHERE run_id = %s AND name = %s", (run_id, name))
        super()._delete(run_id, name)

    def _append_evaluation(self, run_id: str, line: str) -> None:
        self._sql("INSERT INTO kevolve_evaluations (run_id, line) VALUES (%s, %s)", (run_id, line))
        super()._append_evaluation(run_id, line)

    def _evaluations(self, run_id: str) -> builtins.list[str]:
        rows = self._sql(
            "SELECT line FROM kevolve_evaluations WHERE run_id = %s ORDER BY seq", (run_id,)
        )
        return [row[0] for row in rows]

    def _run_ids(self) -> builtins.list[str]:
        rows = self._sql("SELECT run_id FROM kevolve_run_files WHERE name = 'run.json'")
        return [row[0] for row in rows]

    def sync_local(self, run_id: str) -> None:
        """Write every stored record of the run, and its evaluation log, into its local folder."""
        d = self.run_dir(run_id)
        for name, content in self._sql(
            "SELECT name, content FROM kevolve_run_files WHERE run_id = %s", (run_id,)
        ):
            atomic_write(d / name, content)
        lines = self._evaluations(run_id)
        if lines:
            atomic_write(d / "evaluations.log", "".join(line + "\n" for line in lines))
