"""Checkpointers: every superstep of a run is saved under its run id (LangGraph ``thread_id``).

The seam is LangGraph's ``BaseCheckpointSaver``; a killed run resumes from the last saved
superstep. The embedded default is one SQLite file; ``InMemorySaver`` serves tests and
one-process tools; a Postgres server (``langgraph-checkpoint-postgres``, chosen by a
``postgresql://`` database URL) serves deployments where several hosts share the runs.

Loading a checkpoint rebuilds only the types in :data:`CHECKPOINT_TYPES` (and LangGraph's own
safe types): any other class named in a checkpoint stays a plain dict, so a tampered checkpoint
database cannot make the loader construct arbitrary objects.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from agents.memory.schemas import ChildPlan
from agents.planner.schemas import RunRequest
from graph.state import CodeTask, EvalTask, RunState
from tools.errors import RunStoreError

CHECKPOINT_TYPES: tuple[type, ...] = (RunState, RunRequest, ChildPlan, CodeTask, EvalTask)
"""The project's classes a checkpoint may hold (state channels and ``Send`` payloads).

Everything else in the state is plain JSON data (``graph/state.py``); a class added to the
state must be registered here, or a resumed run gets it back as a dict.
"""

_POSTGRES_SCHEMES = ("postgresql", "postgres")
SETUP_LOCK_KEY = 74271
"""Postgres advisory lock held while the checkpoint tables are created or migrated."""
SETUP_WAIT_S = 120.0
"""Longest wait for another process's checkpoint table setup, in seconds."""


def checkpoint_serde() -> JsonPlusSerializer:
    """The serializer of every checkpointer: msgpack, rebuilding only registered classes."""
    return JsonPlusSerializer(
        allowed_msgpack_modules=[(cls.__module__, cls.__name__) for cls in CHECKPOINT_TYPES]
    )


def postgres_dsn(url: str | None) -> str | None:
    """The libpq URL of a Postgres database URL, or None for any other (or no) URL.

    Accepts ``postgresql://...``, ``postgres://...`` and SQLAlchemy's ``postgresql+psycopg://...``
    (the driver part is dropped).
    """
    if not url or "://" not in url:
        return None
    scheme, rest = url.split("://", 1)
    if scheme.split("+", 1)[0].lower() not in _POSTGRES_SCHEMES:
        return None
    return f"postgresql://{rest}"


def redacted(dsn: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = dsn.partition("://")
    if "@" not in rest:
        return dsn
    user, host = rest.rsplit("@", 1)
    return f"{scheme}{sep}{user.split(':', 1)[0]}@{host}"


def sqlite_checkpointer(path: Path) -> BaseCheckpointSaver:
    """The embedded default checkpointer: one SQLite file, thread_id = run id."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    # Several processes may share one data dir (queue workers, side-by-side benches): WAL lets
    # readers and one writer proceed together, and a writer waits for the lock, not fails.
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn, serde=checkpoint_serde())
    saver.setup()
    return saver


def postgres_checkpointer(url: str) -> BaseCheckpointSaver:
    """Checkpoints in a Postgres database (tables created on first use), thread_id = run id.

    Raises:
        RunStoreError: The URL is not a Postgres URL, the postgres extra is missing, or the
            server cannot be reached.
    """
    dsn = postgres_dsn(url)
    if dsn is None:
        raise RunStoreError(f"{url!r} is not a postgresql:// URL.")
    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
    except ImportError as e:
        raise RunStoreError(
            "Postgres checkpoints need the postgres extra: pip install 'kevolve[postgres]'."
        ) from e
    try:
        conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row)
        saver = PostgresSaver(conn, serde=checkpoint_serde())
        # Processes opening a new database at once would each run the migrations and all but
        # one fail on a duplicate migration row: one migrates, the others wait and find it done.
        # They poll for the lock outside any transaction: a migration's CREATE INDEX
        # CONCURRENTLY waits for every open transaction, a blocked lock request included.
        deadline = time.monotonic() + SETUP_WAIT_S
        try_lock = "SELECT pg_try_advisory_lock(%s) AS ok"
        while not (conn.execute(try_lock, (SETUP_LOCK_KEY,)).fetchone() or {}).get("ok"):
            if time.monotonic() > deadline:
                raise RunStoreError(
                    f"another process has been creating the checkpoint tables in {redacted(dsn)} "
                    f"for over {SETUP_WAIT_S:.0f} s; check the database's activity."
                )
            time.sleep(0.1)
        try:
            saver.setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
    except psycopg.Error as e:
        raise RunStoreError(
            f"cannot use the checkpoint database {redacted(dsn)}: {e}".strip()
        ) from e
    return saver


def open_checkpointer(database_url: str | None, sqlite_path: Path) -> BaseCheckpointSaver:
    """Postgres when ``database_url`` is a Postgres URL, else the SQLite file ``sqlite_path``."""
    if database_url is not None and postgres_dsn(database_url) is not None:
        return postgres_checkpointer(database_url)
    return sqlite_checkpointer(sqlite_path)
