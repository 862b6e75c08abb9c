"""Token and cost accounting per run, and the run's token budget.

Every model call appends one JSON line to ``<runs_dir>/<run_id>/llm_usage.jsonl`` (agent,
model, input and output tokens from the response's ``usage_metadata``). The file is the
ledger: it survives a resume, so a resumed run keeps counting against the same budget.
:func:`usage_summary` folds it into the small :class:`LLMUsage` record a report prints.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from agents.llm.config import LLMConfig
from agents.llm.errors import LLMBudgetError

log = logging.getLogger(__name__)

LEDGER_FILE = "llm_usage.jsonl"
PRICES_FILE = Path(__file__).with_name("prices.yaml")

_LOCK = threading.Lock()
_TOTALS: dict[str, int] = {}
"""Ledger path -> tokens spent so far (loaded from the file on first use)."""


class UsageLine(BaseModel):
    """One model call."""

    agent: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0


class AgentUsage(BaseModel):
    """Totals of one agent (or one model)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    """``None`` when a model's price is unknown."""


class LLMUsage(BaseModel):
    """What one run spent on models."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    """Total cost in USD; ``None`` when any model's price is unknown."""
    token_budget: int = 0
    """The run's budget in tokens (0: no limit)."""
    by_agent: dict[str, AgentUsage] = Field(default_factory=dict)
    by_model: dict[str, AgentUsage] = Field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def line(self) -> str:
        """One line for a report: ``12 calls, 34,567 tokens, $0.12``."""
        cost = "cost unknown" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        budget = f" of a {self.token_budget:,} budget" if self.token_budget else ""
        return f"{self.calls} model calls, {self.total_tokens:,} tokens{budget}, {cost}"


@functools.cache
def _price_table() -> dict[str, tuple[float, float]]:
    data = yaml.safe_load(PRICES_FILE.read_text(encoding="utf-8")) or {}
    return {str(k): (float(v[0]), float(v[1])) for k, v in data.items()}


def price(model: str, config: LLMConfig) -> tuple[float, float] | None:
    """USD per million (input, output) tokens for ``model``, or ``None`` when unknown."""
    if config.price_input_per_mtok is not None and config.price_output_per_mtok is not None:
        return config.price_input_per_mtok, config.price_output_per_mtok
    return _price_table().get(model.partition(":")[2] or model)


def tokens_of(message: Any) -> tuple[int, int]:
    """(input, output) tokens from a LangChain message's ``usage_metadata`` (0 when absent)."""
    meta = getattr(message, "usage_metadata", None) or {}
    return int(meta.get("input_tokens", 0) or 0), int(meta.get("output_tokens", 0) or 0)


class Ledger:
    """The usage ledger of one run (thread-safe within a process)."""

    def __init__(self, runs_dir: Path, run_id: str, config: LLMConfig) -> None:
        self.path = Path(runs_dir) / run_id / LEDGER_FILE
        self.config = config

    def spent(self) -> int:
        """Tokens spent so far by this run."""
        with _LOCK:
            return self._spent_locked()

    def _spent_locked(self) -> int:
        key = str(self.path)
        if key not in _TOTALS:
            _TOTALS[key] = sum(
                line.input_tokens + line.output_tokens for line in read_ledger(self.path)
            )
        return _TOTALS[key]

    def check(self) -> None:
        """Raise :class:`LLMBudgetError` when the budget is already spent."""
        budget = self.config.token_budget
        if budget and self.spent() >= budget:
            raise LLMBudgetError(
                f"the run's token budget of {budget:,} tokens is spent; raise llm_token_budget "
                "to let the model write more."
            )

    def record(self, agent: str, model: str, message: Any) -> UsageLine:
        """Append one call's usage to the ledger."""
        tin, tout = tokens_of(message)
        line = UsageLine(agent=agent, model=model, input_tokens=tin, output_tokens=tout)
        with _LOCK:
            self._spent_locked()
            _TOTALS[str(self.path)] += tin + tout
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line.model_dump_json() + "\n")
        return line

    def record_lines(self, lines: list[UsageLine]) -> None:
        """Append calls made before the run existed (the planner's, during intake)."""
        with _LOCK:
            self._spent_locked()
            _TOTALS[str(self.path)] += sum(x.input_tokens + x.output_tokens for x in lines)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.writelines(x.model_dump_json() + "\n" for x in lines)


def read_ledger(path: Path) -> list[UsageLine]:
    """Every recorded call (a torn last line from a killed run is skipped)."""
    if not path.is_file():
        return []
    lines: list[UsageLine] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(UsageLine.model_validate_json(raw))
        except ValueError:
            log.debug("skipping a damaged ledger line in %s", path)
    return lines


def summarize(lines: list[UsageLine], config: LLMConfig) -> LLMUsage:
    """Fold ledger lines into totals, per agent and per model, with costs."""
    usage = LLMUsage(token_budget=config.token_budget)
    for line in lines:
        rate = price(line.model, config)
        cost = (
            None
            if rate is None
            else (line.input_tokens * rate[0] + line.output_tokens * rate[1]) / 1e6
        )
        for bucket in (usage, usage.by_agent.setdefault(line.agent, AgentUsage()),
                       usage.by_model.setdefault(line.model, AgentUsage())):  # fmt: skip
            bucket.calls += 1
            bucket.input_tokens += line.input_tokens
            bucket.output_tokens += line.output_tokens
            if bucket.cost_usd is not None:
                bucket.cost_usd = None if cost is None else bucket.cost_usd + cost
    return usage


def usage_summary(runs_dir: Path, run_id: str, config: LLMConfig | None = None) -> LLMUsage:
    """What run ``run_id`` spent on models (all zeros for an offline run)."""
    config = config or LLMConfig()
    return summarize(read_ledger(Path(runs_dir) / run_id / LEDGER_FILE), config)


FALLBACKS_FILE = "llm_fallbacks.jsonl"
"""One JSON line per step an agent did with its offline rules instead of its model."""


def record_fallback(runs_dir: Path, run_id: str, agent: str, step: str, reason: str) -> None:
    """Append to the run's record of steps that fell back to the offline rules."""
    path = Path(runs_dir) / run_id / FALLBACKS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"agent": agent, "step": step, "reason": " ".join(reason.split())[:300]}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def read_fallbacks(runs_dir: Path, run_id: str) -> list[dict[str, str]]:
    """The steps of a run that fell back to the offline rules, in order."""
    path = Path(runs_dir) / run_id / FALLBACKS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
