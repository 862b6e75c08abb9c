"""Model access: configuration, error classification, accounting, budget, RetryPolicy."""

from __future__ import annotations

import pytest
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from agents.llm import (
    LLMBudgetError,
    LLMConfig,
    LLMRequestError,
    LLMSession,
    LLMTransientError,
    LLMUnavailableError,
    classify,
    is_transient,
    llm_retry_policy,
    split_spec,
    usage_summary,
)
from agents.llm.errors import redact
from agents.llm.fakes import ScriptedChatModel
from agents.llm.model import build_chat_model
from kevolve.settings import get_settings


class HTTPError(Exception):
    def __init__(self, status: int, message: str = "boom") -> None:
        super().__init__(message)
        self.status_code = status


class APIConnectionError(Exception):
    pass


class ReadTimeout(Exception):
    pass


def session(model: ScriptedChatModel, tmp_path=None, **cfg) -> LLMSession:
    config = LLMConfig(model="openai:gpt-4.1", factory=lambda spec: model, **cfg)
    return LLMSession(
        config=config, agent="coder", run_id="r1" if tmp_path else None, runs_dir=tmp_path
    )


def test_settings_give_per_agent_models(data_dir, monkeypatch):
    monkeypatch.setenv("KEVOLVE_LLM_MODEL", "openai:gpt-4.1")
    monkeypatch.setenv("KEVOLVE_LLM_MODEL_INTERPRETER", "openai:gpt-4.1-mini")
    monkeypatch.setenv("KEVOLVE_LLM_TOKEN_BUDGET", "5000")
    config = LLMConfig.from_settings(get_settings())
    assert config.model_for("coder") == "openai:gpt-4.1"
    assert config.model_for("interpreter") == "openai:gpt-4.1-mini"
    assert config.token_budget == 5000 and config.fallback_offline is False


def test_offline_by_default(data_dir, monkeypatch):
    monkeypatch.delenv("KEVOLVE_LLM_MODEL", raising=False)
    assert not LLMConfig.from_settings(get_settings()).enabled("coder")


def test_spec_needs_a_provider():
    assert split_spec("openai:gpt-4.1") == ("openai", "gpt-4.1")
    with pytest.raises(LLMUnavailableError, match="provider:model"):
        split_spec("gpt-4.1")


def test_openai_compatible_model_is_built_without_sdk_retries(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    model = build_chat_model("openai:served-model", "http://127.0.0.1:9/v1", 7.0)
    assert model.model_name == "served-model"
    assert model.max_retries == 0
    assert model.openai_api_base == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (HTTPError(429), LLMTransientError),
        (HTTPError(503), LLMTransientError),
        (ReadTimeout("slow"), LLMTransientError),
        (HTTPError(401), LLMUnavailableError),
        (HTTPError(404), LLMUnavailableError),
        (APIConnectionError("refused"), LLMUnavailableError),
        (HTTPError(400, "context too long"), LLMRequestError),
    ],
)
def test_provider_errors_are_classified(exc, kind):
    err = classify(exc, "openai:m", "http://x/v1")
    assert type(err) is kind
    assert is_transient(err) == (kind is LLMTransientError)
    assert str(err).endswith(".") and "\n" not in str(err)


def test_keys_are_redacted_from_messages():
    assert "sk-abcdef123456" not in redact("Incorrect API key provided: sk-abcdef123456789")
    err = classify(HTTPError(400, "bad key sk-abcdef1234567890 here"), "openai:m", "u")
    assert "sk-abcdef" not in str(err)


def test_calls_are_counted_in_the_run_ledger_with_cost(tmp_path):
    model = ScriptedChatModel(responses=["a", "b"], input_tokens=1000, output_tokens=500)
    s = session(model, tmp_path)
    assert s.text([("human", "q")]) == "a"
    s.text([("human", "q")])
    usage = usage_summary(tmp_path, "r1", s.config)
    assert usage.calls == 2 and usage.input_tokens == 2000 and usage.output_tokens == 1000
    assert usage.cost_usd == pytest.approx((2000 * 2.0 + 1000 * 8.0) / 1e6)
    assert usage.by_agent["coder"].calls == 2
    assert "2 model calls" in usage.line()


def test_unknown_model_price_is_unknown_not_guessed(tmp_path):
    model = ScriptedChatModel(responses=["a"])
    config = LLMConfig(model="openai:my-local-model", factory=lambda spec: model)
    LLMSession(config=config, agent="coder", run_id="r1", runs_dir=tmp_path).text([("human", "q")])
    assert usage_summary(tmp_path, "r1", config).cost_usd is None
    priced = LLMConfig(price_input_per_mtok=1.0, price_output_per_mtok=1.0)
    assert usage_summary(tmp_path, "r1", priced).cost_usd == pytest.approx(60 / 1e6)


def test_token_budget_stops_model_calls(tmp_path):
    model = ScriptedChatModel(responses=["a", "b"], input_tokens=80, output_tokens=40)
    s = session(model, tmp_path, token_budget=100)
    s.text([("human", "q")])
    with pytest.raises(LLMBudgetError, match="token budget of 100"):
        s.text([("human", "q")])
    assert len(model.received) == 1


def test_provider_exception_becomes_one_sentence():
    s = session(ScriptedChatModel(responses=[APIConnectionError("Connection refused")]))
    with pytest.raises(LLMUnavailableError, match="unreachable"):
        s.text([("human", "q")])


class Counter(BaseModel):
    n: int = 0


def _graph(failures: list[Exception]):
    def node(state: Counter) -> dict:
        if failures:
            raise failures.pop(0)
        return {"n": state.n + 1}

    policy = llm_retry_policy()._replace(initial_interval=0.001, max_interval=0.001, jitter=False)
    g = StateGraph(Counter)
    g.add_node("node", node, retry_policy=policy)
    g.add_edge(START, "node")
    g.add_edge("node", END)
    return g.compile()


def test_retry_policy_retries_transient_errors_only():
    failures = [LLMTransientError("rate limited"), LLMTransientError("rate limited")]
    assert _graph(failures).invoke(Counter())["n"] == 1
    outage = [LLMUnavailableError("down"), LLMUnavailableError("down")]
    with pytest.raises(LLMUnavailableError):
        _graph(outage).invoke(Counter())
    assert len(outage) == 1  # tried once, not retried


def test_retry_policy_gives_up_after_max_attempts():
    failures = [LLMTransientError("rate limited") for _ in range(10)]
    with pytest.raises(LLMTransientError):
        _graph(failures).invoke(Counter())
    assert len(failures) == 10 - llm_retry_policy().max_attempts
