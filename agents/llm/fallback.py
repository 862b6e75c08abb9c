"""An agent's model asked once per item, with its offline rules' answer kept when the model
cannot give one: how the curator and the profiler-interpreter use their models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMRequestError, LLMUnavailableError
from agents.llm.session import LLMSession

T = TypeVar("T")


@dataclass(kw_only=True)
class ModelOrRules:
    """The model's answer for each item, else the rules' answer (recorded in the run).

    An unusable answer or a rejected request keeps the rules for that item; a spent token
    budget keeps them for every later item; so does an unreachable model, unless
    ``outage_stops``, where it raises.
    """

    session: LLMSession | None
    """The agent's session; ``None``: no model configured, or given up on."""
    rest: str
    """How the run's record names every later item once the model is given up on."""
    outage_stops: bool = False
    """Raise :class:`LLMUnavailableError` (stop the run) when the model is unreachable."""

    def ask(self, item: str, call: Callable[[LLMSession], T], rules: T) -> T:
        """``call(session)`` for ``item``, or ``rules`` when the model cannot answer it.

        Raises:
            LLMUnavailableError: The model is unreachable and ``outage_stops`` is set.
        """
        if self.session is None:
            return rules
        try:
            return call(self.session)
        except (LLMAnswerError, LLMRequestError) as e:
            self.session.fall_back(item, e)
        except LLMBudgetError as e:
            self.session.fall_back(self.rest, e)
            self.session = None
        except LLMUnavailableError as e:
            if self.outage_stops:
                raise
            self.session.fall_back(self.rest, e)
            self.session = None
        return rules
