"""Shared fixtures of the integration tests: local services started on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.integration.services import (
    PostgresStartError,
    PostgresUnavailable,
    create_database,
    postgres_server,
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a throwaway Postgres database, one server per test session (xdist worker).

    Skips when no PostgreSQL server can be found or installed here; fails, with the server
    log's tail, when one is installed but does not start.
    """
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except PostgresUnavailable as e:
            pytest.skip(str(e))
        except PostgresStartError as e:
            pytest.fail(str(e))
        yield url


@pytest.fixture
def postgres_db_url(postgres_url: str) -> str:
    """The URL of a new, empty database on the session's Postgres server (one per test)."""
    return create_database(postgres_url)
