"""The pointwise generator: named ops and traced pointwise chains in Triton, and the hybrid
chain around a library head or a remap of views, slices and cats.

Public API: :class:`TritonOfflineCoder` (templates ``triton.<family>``) and
:class:`HybridCoder` (``triton.hybrid``, ``triton.remap``).
"""

from agents.coders.generators.pointwise.coder import TritonOfflineCoder
from agents.coders.generators.pointwise.hybrid import HybridCoder

__all__ = ["HybridCoder", "TritonOfflineCoder"]
