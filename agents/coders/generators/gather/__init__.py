"""Offline gather-chain generator (template ``triton.gatherchain``).

Public API:

- :class:`GatherChainCoder` -- gathers, index math, pointwise ops and row reductions lowered
  from the traced ATen graph (library GEMMs and ops without a formula kept in PyTorch);
- :func:`analyze_gather_chain` -- the lowering of a problem, or ``ProblemError``.
"""

from agents.coders.generators.gather.coder import GatherChainCoder, analyze_gather_chain

__all__ = ["GatherChainCoder", "analyze_gather_chain"]
