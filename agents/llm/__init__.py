"""Model access for every agent: configuration, calls, answer parsing, accounting.

Public API::

    LLMConfig                               # which model each agent uses, run limits
    LLMSession                              # one agent's calls for one run
    chat_model, split_spec                  # LangChain init_chat_model behind a cache
    extract_model_new, ParsedAnswer         # a coder answer -> the ModelNew module
    usage_summary, LLMUsage                 # tokens and cost of a run
    llm_retry_policy, is_transient          # RetryPolicy for the graph's nodes
    LLMError and subclasses                 # one-sentence errors
"""

from agents.llm.config import AGENTS, Agent, LLMConfig
from agents.llm.errors import (
    LLMAnswerError,
    LLMBudgetError,
    LLMError,
    LLMRequestError,
    LLMTransientError,
    LLMUnavailableError,
    classify,
    is_transient,
)
from agents.llm.model import chat_model, split_spec
from agents.llm.parse import ParsedAnswer, extract_model_new
from agents.llm.retry import llm_retry_policy
from agents.llm.session import LLMSession
from agents.llm.usage import LLMUsage, usage_summary

__all__ = [
    "AGENTS",
    "Agent",
    "LLMAnswerError",
    "LLMBudgetError",
    "LLMConfig",
    "LLMError",
    "LLMRequestError",
    "LLMSession",
    "LLMTransientError",
    "LLMUnavailableError",
    "LLMUsage",
    "ParsedAnswer",
    "chat_model",
    "classify",
    "extract_model_new",
    "is_transient",
    "llm_retry_policy",
    "split_spec",
    "usage_summary",
]
