"""LLM errors, and the classification of provider exceptions into them.

Provider SDKs raise their own exception types; :func:`classify` turns them into one of the
classes below so the rest of kevolve reasons about three cases only:

- :class:`LLMTransientError`: worth retrying (rate limit, timeout, 5xx); the graph's nodes
  retry it through LangGraph's ``RetryPolicy`` (:func:`agents.llm.retry.llm_retry_policy`).
- :class:`LLMUnavailableError`: the model cannot be reached or refuses us (connection
  refused, bad key, unknown model); retrying will not help.
- :class:`LLMRequestError`: this one request was rejected (context too long, bad
  parameters); the caller records the failure and goes on.
"""

from __future__ import annotations

import re

from tools.errors import KevolveError

_KEYLIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|[A-Za-z0-9_\-]{32,})")


class LLMError(KevolveError):
    """Base class of every model-access error."""


class LLMUnavailableError(LLMError):
    """The configured model cannot be reached or refuses the credentials."""


class LLMTransientError(LLMError):
    """A failure that may pass on retry: rate limit, timeout, server error."""


class LLMRequestError(LLMError):
    """The provider rejected this one request (too long, invalid parameters)."""


class LLMBudgetError(LLMError):
    """The run's token budget is spent."""


class LLMAnswerError(LLMError):
    """The model answered, but not in a form kevolve can use."""


def redact(text: str, limit: int = 200) -> str:
    """First line of a provider message, shortened, with anything key-like masked."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return _KEYLIKE.sub("***", first)[:limit]


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _is_timeout(exc: BaseException) -> bool:
    name = type(exc).__name__.lower()
    return isinstance(exc, TimeoutError) or "timeout" in name


def _is_connection(exc: BaseException) -> bool:
    name = type(exc).__name__.lower()
    return isinstance(exc, ConnectionError) or "connect" in name


def classify(exc: BaseException, model: str, where: str) -> LLMError:
    """Map a provider exception to an :class:`LLMError` with one clear sentence.

    Args:
        exc: What the provider SDK raised.
        model: The ``provider:model`` spec, for the message.
        where: The server the model lives on (base URL or provider name), for the message.

    Returns:
        The kevolve error to raise (chained ``from exc`` by the caller).
    """
    if isinstance(exc, LLMError):
        return exc
    status = _status(exc)
    detail = redact(str(exc))
    if _is_timeout(exc):
        return LLMTransientError(
            f"the model {model} at {where} timed out; raise llm_timeout_s if it is slow."
        )
    if status == 429:
        return LLMTransientError(f"the model {model} at {where} is rate-limited (HTTP 429).")
    if status is not None and status >= 500:
        return LLMTransientError(
            f"the model server at {where} failed with HTTP {status} ({detail or 'no detail'})."
        )
    if status in (401, 403):
        return LLMUnavailableError(
            f"the model server at {where} rejected the credentials for {model} (HTTP {status}); "
            "check the provider's API key environment variable."
        )
    if status == 404:
        return LLMUnavailableError(
            f"the model {model} was not found at {where} (HTTP 404); check llm_model and "
            "llm_base_url."
        )
    if status is not None and 400 <= status < 500:
        return LLMRequestError(
            f"the model server at {where} rejected a request (HTTP {status}: {detail})."
        )
    if _is_connection(exc):
        return LLMUnavailableError(
            f"the model {model} is unreachable at {where}; start the server or fix llm_base_url "
            "(or set llm_fallback_offline to continue without a model)."
        )
    return LLMUnavailableError(
        f"the model {model} at {where} failed ({type(exc).__name__}: {detail or 'no detail'})."
    )


def is_transient(exc: Exception) -> bool:
    """``retry_on`` predicate for LangGraph's ``RetryPolicy``: only transient model errors."""
    return isinstance(exc, LLMTransientError)
