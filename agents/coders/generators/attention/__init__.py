"""Offline flash-attention generator (template ``triton.attention``).

Public API:

- :class:`AttentionCoder` -- the ``TemplateGenerator`` for attention references;
- :func:`analyze_attention` -- a problem's :class:`AttentionSpec`, or ``ProblemError``.
"""

from agents.coders.generators.attention.coder import AttentionCoder, analyze_attention
from agents.coders.generators.attention.spec import AttentionSpec

__all__ = ["AttentionCoder", "AttentionSpec", "analyze_attention"]
