"""A scripted chat model for tests and offline demos (no network, no key).

``ScriptedChatModel(responses=[...])`` answers each call with the next item:

- a ``str``: a plain text answer (what a coder returns);
- a ``dict`` or pydantic model: a structured answer, returned as a tool call to whatever
  schema ``with_structured_output`` bound (what the planner, interpreter and curator get);
- an ``Exception`` instance: raised (to simulate rate limits, timeouts, outages).

Every call's messages are kept in ``received``; each answer carries ``usage_metadata``.
langchain_core's ``GenericFakeChatModel`` cannot do structured output (it has no
``bind_tools``), hence this small class.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field


class ScriptedChatModel(BaseChatModel):
    """Answers calls from a script (see the module docstring)."""

    responses: list[Any] = Field(default_factory=list)
    received: list[list[BaseMessage]] = Field(default_factory=list)
    input_tokens: int = 50
    output_tokens: int = 10

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        names = [convert_to_openai_tool(t)["function"]["name"] for t in tools]
        return self.bind(tool_names=names)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.received.append(list(messages))
        if not self.responses:
            raise RuntimeError("the scripted model has no answer left")
        item = self.responses.pop(0)
        if isinstance(item, BaseException):
            raise item
        usage = {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                 "total_tokens": self.input_tokens + self.output_tokens}  # fmt: skip
        if isinstance(item, str):
            message = AIMessage(content=item, usage_metadata=usage)
        else:
            args = item.model_dump() if isinstance(item, BaseModel) else dict(item)
            name = (kwargs.get("tool_names") or ["answer"])[0]
            message = AIMessage(
                content="", tool_calls=[{"name": name, "args": args, "id": f"call_{len(self.received)}"}],
                usage_metadata=usage,
            )  # fmt: skip
        return ChatResult(generations=[ChatGeneration(message=message)])
