"""Which model each agent uses, and the run's limits on it.

An :class:`LLMConfig` is built once per run from the settings (CLI flags applied) and travels
in the run's ``RunContext`` as its ``models`` (never in the checkpointed state). It holds names and numbers only;
API keys stay in the providers' own environment variables (``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``, ...), read by the provider SDKs themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Agent = Literal["planner", "coder", "interpreter", "curator"]
AGENTS: tuple[Agent, ...] = ("planner", "coder", "interpreter", "curator")


@dataclass(frozen=True, kw_only=True)
class LLMConfig:
    """Model access settings for one run (or one chat session)."""

    model: str | None = None
    """Default ``provider:model`` for every agent; ``None``: offline unless overridden."""
    base_url: str | None = None
    """OpenAI-compatible server URL (vLLM, llama.cpp, Ollama), or ``None`` for the provider's."""
    overrides: dict[str, str] = field(default_factory=dict)
    """Per-agent ``provider:model`` (agent name -> spec)."""
    token_budget: int = 2_000_000
    """Tokens (input + output) one run may spend; 0: no limit."""
    fallback_offline: bool = False
    """Continue on the offline path when the model is unreachable."""
    timeout_s: float = 120.0
    """Per-request timeout in seconds."""
    price_input_per_mtok: float | None = None
    """USD per million input tokens; ``None``: look the model up in ``prices.yaml``."""
    price_output_per_mtok: float | None = None
    """USD per million output tokens; ``None``: look the model up in ``prices.yaml``."""
    factory: Callable[[str], Any] | None = field(default=None, repr=False, compare=False)
    """Builds a chat model from a spec (tests inject scripted fakes); ``None``: LangChain's."""

    def model_for(self, agent: Agent) -> str | None:
        """The model spec ``agent`` uses, or ``None`` when it runs offline."""
        return self.overrides.get(agent) or self.model

    def enabled(self, agent: Agent) -> bool:
        """True when ``agent`` has a model."""
        return self.model_for(agent) is not None

    def with_factory(self, factory: Callable[[str], Any]) -> LLMConfig:
        """A copy that builds its models with ``factory``."""
        return replace(self, factory=factory)

    @classmethod
    def from_settings(cls, settings: Any) -> LLMConfig:
        """Build from ``kevolve.settings.Settings`` (missing fields keep their defaults)."""
        overrides = {
            agent: spec
            for agent in AGENTS
            if (spec := getattr(settings, f"llm_model_{agent}", None))
        }
        kw: dict[str, Any] = {}
        for name in ("token_budget", "fallback_offline", "timeout_s",
                     "price_input_per_mtok", "price_output_per_mtok"):  # fmt: skip
            value = getattr(settings, f"llm_{name}", None)
            if value is not None:
                kw[name] = value
        return cls(
            model=getattr(settings, "llm_model", None),
            base_url=getattr(settings, "llm_base_url", None),
            overrides=overrides,
            **kw,
        )
