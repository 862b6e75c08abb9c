"""One typed settings source with one precedence.

CLI flag > settings file (``$KEVOLVE_CONFIG`` or ``<data_dir>/config.toml``) > environment
(``KEVOLVE_*``) > default. Secrets (provider API keys) are read only from the environment by
the providers themselves and never stored here.

:class:`Settings` is made of sections, each declared (with its defaults) by the layer that
uses it: ``graph.context.SearchSettings`` and ``EvalSettings``,
``agents.knowledge.KnowledgeSettings`` and :class:`LLMSettings` (defaults from
``agents.llm.LLMConfig``). Their fields stay flat (``KEVOLVE_UCT_C``, ``uct_c`` in the settings
file); :meth:`Settings.section` gives one section as its own typed record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agents.knowledge import KnowledgeSettings
from agents.planner.schemas import DEFAULT_BUDGET
from graph.context import EvalSettings, SearchSettings

DEFAULT_DATA_DIR = Path("~/.kevolve")

SectionT = TypeVar("SectionT", bound=BaseModel)


def _config_file() -> Path:
    explicit = os.environ.get("KEVOLVE_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    data_dir = Path(os.environ.get("KEVOLVE_DATA_DIR", str(DEFAULT_DATA_DIR))).expanduser()
    return data_dir / "config.toml"


class LLMSettings(BaseModel):
    """Which model each agent uses and the run's limits on it, as ``agents.llm.LLMConfig``
    reads them (``LLMConfig.from_settings``); its defaults equal these (a test keeps them so)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    llm_model: str | None = None
    """``provider:model`` for LangChain ``init_chat_model``; unset: the offline path."""
    llm_base_url: str | None = None
    """Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama)."""
    llm_model_planner: str | None = None
    """``provider:model`` for the planner only; unset: ``llm_model``."""
    llm_model_coder: str | None = None
    """``provider:model`` for the coders only; unset: ``llm_model``."""
    llm_model_interpreter: str | None = None
    """``provider:model`` for the profiler-interpreter only; unset: ``llm_model``."""
    llm_model_curator: str | None = None
    """``provider:model`` for the curator only; unset: ``llm_model``."""
    llm_token_budget: int = Field(default=2_000_000, ge=0)
    """Tokens (input + output) one run may spend on models; 0: no limit."""
    llm_fallback_offline: bool = False
    """Continue on the offline path when the model is unreachable (else the run stops)."""
    llm_timeout_s: float = Field(default=120.0, gt=0)
    """Timeout of one model request, in seconds."""
    llm_price_input_per_mtok: float | None = Field(default=None, ge=0)
    """USD per million input tokens for cost reports; unset: the built-in list prices."""
    llm_price_output_per_mtok: float | None = Field(default=None, ge=0)
    """USD per million output tokens for cost reports; unset: the built-in list prices."""


class Settings(LLMSettings, KnowledgeSettings, EvalSettings, SearchSettings, BaseSettings):
    """kevolve's settings; each field documents its unit and default."""

    model_config = SettingsConfigDict(
        env_prefix="KEVOLVE_", extra="ignore", use_attribute_docstrings=True
    )

    data_dir: Path = DEFAULT_DATA_DIR
    """Where runs, checkpoints, caches and the embedded knowledge base live."""
    target: str = "cpu"
    """Chip to optimize for when a request names none."""
    budget: int = Field(default=DEFAULT_BUDGET, ge=1)
    """Candidates to evaluate per run (the reference passthrough counts as one)."""
    max_concurrency: int = Field(default=2, ge=1)
    """Graph tasks run at once (coders and sandboxed evaluations)."""
    log_level: str = "WARNING"
    database_url: str | None = None
    """Postgres (``postgresql+psycopg://...``) for the ticket queue, checkpoints and run store;
    unset: SQLite and files in data_dir."""
    ticket_lease_s: float = Field(default=60.0, gt=0)
    """A worker's lease on a running ticket, renewed every third of it; a lost worker's ticket
    is taken over once its lease has expired, in seconds."""
    ticket_max_attempts: int = Field(default=4, ge=1)
    """Claims a ticket may get (transient failures and lost workers) before it fails."""
    ticket_retry_s: float = Field(default=5.0, ge=0)
    """Backoff before a ticket's first retry, doubled on each later one, in seconds."""

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: CLI flags (init kwargs) > settings file > environment > defaults.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, toml, env_settings)

    def section(self, kind: type[SectionT]) -> SectionT:
        """One section of these settings as its own record (``settings.section(SearchSettings)``)."""
        return kind.model_validate({name: getattr(self, name) for name in kind.model_fields})

    # Paths derived from data_dir ---------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        """Folder holding one sub-folder per run."""
        return self.data_dir / "runs"

    @property
    def checkpoint_db(self) -> Path:
        """SQLite file of LangGraph checkpoints (thread_id = run id)."""
        return self.data_dir / "checkpoints.sqlite"

    @property
    def tickets_url(self) -> str:
        """The ticket queue's database: ``database_url`` or ``tickets.sqlite`` in data_dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'tickets.sqlite'}"

    @property
    def inbox_dir(self) -> Path:
        """Watched folder: YAML files dropped here become tickets."""
        return self.data_dir / "inbox"

    @property
    def kb_dir(self) -> Path:
        """Embedded Chroma directory."""
        return self.data_dir / "kb"


def get_settings(**overrides: Any) -> Settings:
    """Settings with CLI overrides applied (``None`` values are ignored)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
