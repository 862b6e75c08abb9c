"""One agent's access to its model for one run: calls, error mapping, accounting, budget."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.exceptions import OutputParserException
from pydantic import BaseModel, ValidationError

from agents.llm.config import Agent, LLMConfig
from agents.llm.errors import LLMAnswerError, LLMError, LLMUnavailableError, classify, redact
from agents.llm.model import chat_model, where
from agents.llm.usage import Ledger, UsageLine, record_fallback, tokens_of

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
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    """Steps this session's agent did with its offline rules (also written to the run's record)."""

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
        except (ValidationError, OutputParserException, json.JSONDecodeError) as e:
            # A client that validates structured output itself (OpenAI's parse) raises here:
            # the model answered, just not in the form asked for.
            raise LLMAnswerError(f"the answer does not parse ({type(e).__name__}: {_brief(e)})") from e
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
        """Ask for an instance of ``schema``, with one retry that says what was wrong.

        The answer is read from the provider's structured output (LangChain
        ``with_structured_output``), else from a JSON object in its text (small local models
        answer in prose with a JSON block, or with no JSON at all). An answer that still does
        not validate is sent back once with the reason, as the coders' answers are.

        Raises:
            LLMAnswerError: Neither answer validates against ``schema``.
            LLMError: Any other model failure.
        """
        model = chat_model(self.config, self.spec)
        try:
            runnable = model.with_structured_output(schema, include_raw=True)
        except NotImplementedError as e:
            raise LLMAnswerError(
                f"the model {self.spec} does not support structured output."
            ) from e
        history = list(messages)
        why = ""
        for attempt in range(STRUCTURED_RETRIES + 1):
            if attempt == 0:
                try:
                    out = self._call(runnable, history)
                except LLMAnswerError as e:
                    out = {"raw": None, "parsed": None, "parsing_error": e}
            else:  # the retry is plain text: the JSON is read from whatever it says
                answer = self._call(chat_model(self.config, self.spec), history)
                out = {"raw": answer, "parsed": None, "parsing_error": None}
            raw = out.get("raw")
            if raw is not None:
                self._account(raw)
            parsed, why = read_structured(schema, out.get("parsed"), out.get("parsing_error"), raw)
            if parsed is not None:
                return parsed
            log.info("%s: unusable %s answer (attempt %d): %s", self.agent, schema.__name__, attempt + 1, why)
            if raw is not None:
                history.append(("ai", message_text(raw) or "(empty)"))
            history.append(structured_retry(schema, why))
        raise LLMAnswerError(
            f"the model's answer is not a valid {schema.__name__}, twice (last: {why})."
        )

    def fall_back(self, step: str, reason: BaseException | str) -> None:
        """Record in the run that ``step`` used the offline rules because of ``reason``."""
        log.warning("%s: offline rules for %s: %s", self.agent, step, reason)
        self.fallbacks.append({"agent": self.agent, "step": step, "reason": " ".join(str(reason).split())[:300]})
        if self.run_id is not None and self.runs_dir is not None:
            record_fallback(self.runs_dir, self.run_id, self.agent, step, str(reason))


STRUCTURED_RETRIES = 1
"""Times an unusable structured answer is sent back with its reason before giving up."""


def read_structured(
    schema: type[SchemaT], parsed: Any, error: Any, raw: Any
) -> tuple[SchemaT | None, str]:
    """(the answer as ``schema``, or ``None`` and one line saying why not)."""
    why = redact(str(error)) if error is not None else "no parsable answer"
    if isinstance(parsed, schema) and error is None:
        return parsed, ""
    if isinstance(parsed, dict):
        try:
            return schema.model_validate(parsed), ""
        except ValidationError as e:
            why = _first_error(e)
    calls = [c.get("args") for c in getattr(raw, "tool_calls", None) or [] if isinstance(c, dict)]
    for candidate in [*calls, *json_objects(message_text(raw) if raw is not None else "")]:
        try:
            return schema.model_validate(candidate), ""
        except ValidationError as e:
            why = _first_error(e)
    return None, " ".join(why.split())[:300]


def _brief(e: BaseException) -> str:
    return " ".join(redact(str(e)).split())[:200]


def _first_error(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
    return f"{where}: {first.get('msg', 'invalid')}"


def json_objects(text: str) -> list[Any]:
    """Every JSON object in ``text`` (fenced or inline), the last one first."""
    found: list[Any] = []
    decoder = json.JSONDecoder()
    i = text.find("{")
    while i != -1:
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        i = text.find("{", end)
    return found[::-1]


def structured_retry(schema: type[BaseModel], why: str) -> tuple[str, str]:
    """The follow-up after an unusable structured answer: the reason and the fields wanted."""
    fields = json.dumps(schema.model_json_schema().get("properties", {}), indent=1)[:3000]
    return (
        "human",
        f"Your answer could not be used ({why}). Reply with only one JSON object, no prose and "
        f"no code, with these fields:\n{fields}",
    )


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
