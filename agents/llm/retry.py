"""The one retry loop for transient model failures: LangGraph's ``RetryPolicy`` on nodes."""

from __future__ import annotations

from langgraph.types import RetryPolicy

from agents.llm.errors import is_transient

MAX_ATTEMPTS = 4
"""Attempts of a node whose model call failed transiently (the first one included)."""


def llm_retry_policy() -> RetryPolicy:
    """Retry a node on rate limits, timeouts and 5xx only (1 s, 2 s, 4 s; jittered)."""
    return RetryPolicy(
        initial_interval=1.0,
        backoff_factor=2.0,
        max_interval=30.0,
        max_attempts=MAX_ATTEMPTS,
        jitter=True,
        retry_on=is_transient,
    )
