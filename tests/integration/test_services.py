"""The throwaway Postgres of the test suite: it starts, serves SQL, and each session's URL works."""

from __future__ import annotations

import psycopg


def test_postgres_url_serves_sql(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://") and "127.0.0.1" in postgres_url
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS probe (n int)")
        conn.execute("INSERT INTO probe VALUES (41), (1)")
        assert conn.execute("SELECT sum(n) FROM probe").fetchone() == (42,)
        assert conn.execute("SELECT current_database()").fetchone() == ("kevolve",)
