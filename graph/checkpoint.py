"""Checkpointers: every superstep of a run is saved under its run id (LangGraph ``thread_id``).

The seam is LangGraph's ``BaseCheckpointSaver``; a killed run resumes from the last saved
superstep. The embedded default is one SQLite file; ``InMemorySaver`` serves tests and
one-process tools; Postgres (``langgraph-checkpoint-postgres``) serves the scale setting.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver


def sqlite_checkpointer(path: Path) -> BaseCheckpointSaver:
    """The embedded default checkpointer: one SQLite file, thread_id = run id."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    # Several processes may share one data dir (queue workers, side-by-side benches): WAL lets
    # readers and one writer proceed together, and a writer waits for the lock, not fails.
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver
