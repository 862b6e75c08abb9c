"""One agent's access to its model for one run: calls, error mapping, accounting, budget."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from agents.llm.config import Agent, LLMConfig
from agents.llm.errors import LLMAnswerError, LLMError, LLMUnavailableError, classify, redact
from agents.llm.model import chat_model, where
from agents.llm.usage import Ledger, UsageLine, tokens_of

log = logging.getLogger(__name__)

SchemaT = TypeVar("SchemaT", bound=BaseModel)
Message = Any
"""A LangChain message or a ``(role, content)`` tuple."""


@dataclass(kw_only=True)
class LLMSession:
    """Model calls of one agent, counted against one run's ledger (if it has one)."""

    config: LLMConfig
    agent: Agent
    run_id: str | None = None
    runs_dir: Path | None = None
    calls: list[UsageLine] = field(default_factory=list)
    """Calls made through this session (also written to the run's ledger)."""

    @property
    def spec(self) -> str:
        """The ``provider:model`` this agent uses."""
        spec = self.config.model_for(self.agent)
        if spec is None:
            raise LLMUnavailableError(
                f"no model is configured for the {self.agent}; set llm_model."
            )
        return spec

    def _ledger(self) -> Ledger | None:
        if self.run_id is None or self.runs_dir is None:
            return None
        return Ledger(self.runs_dir, self.run_id, self.config)

    def _call(self, runnable: Any, messages: Sequence[Message]) -> Any:
        ledger = self._ledger()
        if ledger is not None:
            ledger.check()
        try:
            return runnable.invoke(list(messages))
        except LLMError:
            raise
        except Exception as e:
            err = classify(e, self.spec, where(self.config, self.spec))
            log.info("%s: model call failed: %s", self.agent, err)
            raise err from e

    def _account(self, message: Any) -> None:
        tin, tout = tokens_of(message)
        line = UsageLine(agent=self.agent, model=self.spec, input_tokens=tin, output_tokens=tout)
        ledger = self._ledger()
        if ledger is not None:
            line = ledger.record(self.agent, self.spec, message)
        self.calls.append(line)

    def text(self, messages: Sequence[Message]) -> str:
        """Ask for free text; returns the answer's text content.

        Raises:
            LLMError: A subclass saying what went wrong (transient, unavailable, budget).
        """
        answer = self._call(chat_model(self.config, self.spec), messages)
        self._account(answer)
        return message_text(answer)

    def structured(self, schema: type[SchemaT], messages: Sequence[Message]) -> SchemaT:
        """Ask for an instance of ``schema`` (LangChain ``with_structured_output``).

        Raises:
            LLMAnswerError: The answer does not validate against ``schema``.
            LLMError: Any other model failure.
        """
        model = chat_model(self.config, self.spec)
        try:
            runnable = model.with_structured_output(schema, include_raw=True)
        except NotImplementedError as e:
            raise LLMAnswerError(
                f"the model {self.spec} does not support structured output."
            ) from e
        out = self._call(runnable, messages)
        raw, parsed, error = out.get("raw"), out.get("parsed"), out.get("parsing_error")
        if raw is not None:
            self._account(raw)
        if isinstance(parsed, dict):
            parsed = schema.model_validate(parsed)
        if error is not None or not isinstance(parsed, schema):
            why = redact(str(error)) if error is not None else "no parsable answer"
            raise LLMAnswerError(f"the model's answer is not a valid {schema.__name__}: {why}.")
        return parsed


def message_text(message: Any) -> str:
    """The text of an AI message (string content, or the text parts of a content list)."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content or []:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts)
