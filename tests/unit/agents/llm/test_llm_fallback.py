"""``ModelOrRules``: which failures keep the rules for one item, which for every later one."""

from __future__ import annotations

import pytest

from agents.llm.config import LLMConfig
from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMUnavailableError
from agents.llm.fallback import ModelOrRules
from agents.llm.session import LLMSession


def _asker(outcomes: list[BaseException | str]):
    """A model call that answers or raises in the order of ``outcomes``; counts its calls."""
    calls: list[int] = []

    def call(session: LLMSession) -> str:
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return call, calls


def _model(outage_stops: bool = False) -> ModelOrRules:
    session = LLMSession(config=LLMConfig(model="openai:m"), agent="interpreter")
    return ModelOrRules(session=session, rest="later items", outage_stops=outage_stops)


def test_an_unusable_answer_keeps_the_rules_for_that_item_only():
    model = _model()
    call, calls = _asker([LLMAnswerError("bad"), "model"])
    assert [model.ask(f"item {i}", call, "rules") for i in range(2)] == ["rules", "model"]
    assert [f["step"] for f in model.session.fallbacks] == ["item 0"]


@pytest.mark.parametrize("error", [LLMBudgetError("spent"), LLMUnavailableError("down")])
def test_a_spent_budget_or_an_outage_keeps_the_rules_for_every_later_item(error):
    model = _model()
    session = model.session
    call, calls = _asker([error, "model"])
    assert [model.ask(f"item {i}", call, "rules") for i in range(3)] == ["rules"] * 3
    assert len(calls) == 1 and model.session is None
    assert [f["step"] for f in session.fallbacks] == ["later items"]


def test_an_outage_raises_when_it_stops_the_run():
    call, _ = _asker([LLMUnavailableError("down")])
    with pytest.raises(LLMUnavailableError):
        _model(outage_stops=True).ask("item", call, "rules")


def test_without_a_session_the_rules_answer_and_the_model_is_not_called():
    call, calls = _asker(["model"])
    assert ModelOrRules(session=None, rest="x").ask("item", call, "rules") == "rules"
    assert calls == []
