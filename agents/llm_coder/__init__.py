"""The LLM coder for triton, cuda, hip and cpp; prompts under ``prompts/``, few-shot
kernels under ``fewshot/``."""

from agents.llm_coder.coder import UNUSABLE_PREFIX, LLMCoder, failed_stub
from agents.llm_coder.context import LANGUAGES, prompt_variables, render_messages

__all__ = [
    "LANGUAGES",
    "UNUSABLE_PREFIX",
    "LLMCoder",
    "failed_stub",
    "prompt_variables",
    "render_messages",
]
