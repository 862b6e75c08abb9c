"""Offline pooling generator (template ``triton.pool``).

Public API:

- :class:`PoolingCoder` -- the ``TemplateGenerator`` for max/average pooling (1-D, 2-D, 3-D with a depth window of 1) and
  global average pooling references;
- :func:`analyze_pool` -- a problem's :class:`PoolSpec`, or ``ProblemError``.
"""

from agents.coders.generators.pooling.coder import PoolingCoder, analyze_pool
from agents.coders.generators.pooling.recognize import PoolSpec

__all__ = ["PoolSpec", "PoolingCoder", "analyze_pool"]
