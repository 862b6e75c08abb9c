"""Offline flash-attention generator (template ``triton.attention``).

Public API:

- :class:`AttentionCoder` -- the ``TemplateCoder`` for attention references;
- :func:`analyze_attention` -- a problem's :class:`AttentionSpec`, or ``ProblemError``;
- :func:`trace_aten` -- a KernelBench reference traced to core ATen on the meta device
  (shared with the pooling generator).
"""

from agents.coders.generators.attention.aten import AtenTrace, trace_aten
from agents.coders.generators.attention.coder import AttentionCoder, analyze_attention
from agents.coders.generators.attention.spec import AttentionSpec

__all__ = ["AtenTrace", "AttentionCoder", "AttentionSpec", "analyze_attention", "trace_aten"]
