"""Chat models through LangChain's ``init_chat_model``.

A spec is ``provider:model`` (``openai:gpt-4.1``, ``anthropic:claude-sonnet-4-5``,
``ollama:qwen2.5-coder``); with ``base_url`` any OpenAI-compatible server works
(``openai:<served model name>`` plus ``llm_base_url=http://host:8000/v1``). Keys come from
each provider's usual environment variable, read by the provider SDK; kevolve never reads,
logs or stores them. The SDKs' own retry loops are switched off where they have one, so
transient failures are retried in one place: the graph nodes' ``RetryPolicy``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from agents.llm.config import LLMConfig
from agents.llm.errors import LLMUnavailableError

log = logging.getLogger(__name__)

SDK_RETRY_PROVIDERS = frozenset({"openai", "azure_openai", "anthropic"})
"""Providers whose chat class takes ``max_retries`` and ``timeout``."""

_CACHE: dict[tuple[str, str, float], Any] = {}
_LOCK = threading.Lock()


def split_spec(spec: str) -> tuple[str, str]:
    """``"openai:gpt-4.1"`` -> ``("openai", "gpt-4.1")``.

    Raises:
        LLMUnavailableError: The spec has no provider prefix.
    """
    provider, sep, name = spec.partition(":")
    if not sep or not provider or not name:
        raise LLMUnavailableError(
            f"llm_model {spec!r} must be written provider:model, e.g. openai:gpt-4.1."
        )
    return provider.strip().lower(), name.strip()


def where(config: LLMConfig, spec: str) -> str:
    """Where a model lives, for messages: the base URL, or the provider's name."""
    return config.base_url or f"the {split_spec(spec)[0]} API"


def build_chat_model(spec: str, base_url: str | None, timeout_s: float) -> Any:
    """A LangChain chat model for ``spec`` (not cached).

    Raises:
        LLMUnavailableError: The provider's integration is not installed or rejects the
            configuration (for instance a missing API key).
    """
    from langchain.chat_models import init_chat_model

    provider, name = split_spec(spec)
    kwargs: dict[str, Any] = {}
    if base_url:
        kwargs["base_url"] = base_url
    if provider in SDK_RETRY_PROVIDERS:
        kwargs.update(max_retries=0, timeout=timeout_s)
    try:
        return init_chat_model(name, model_provider=provider, **kwargs)
    except ImportError as e:
        raise LLMUnavailableError(
            f"the {provider} provider is not installed; pip install langchain-{provider}."
        ) from e
    except Exception as e:
        raise LLMUnavailableError(
            f"cannot configure the model {spec}: {type(e).__name__} (is the provider's API key "
            "environment variable set?)."
        ) from e


def chat_model(config: LLMConfig, spec: str) -> Any:
    """The chat model for ``spec``: from the config's factory, or built once per process."""
    if config.factory is not None:
        return config.factory(spec)
    key = (spec, config.base_url or "", config.timeout_s)
    with _LOCK:
        if key not in _CACHE:
            log.info("using model %s%s", spec, f" at {config.base_url}" if config.base_url else "")
            _CACHE[key] = build_chat_model(spec, config.base_url, config.timeout_s)
        return _CACHE[key]


def model_name(spec: str) -> str:
    """The name recorded as a candidate's author: the spec itself (``openai:gpt-4.1``)."""
    return spec
