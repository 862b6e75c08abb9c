"""Library op + fused epilogue: convolutions and matrix products stay library calls (cuDNN,
cuBLAS, rocBLAS), and the elementwise ops, reductions, softmaxes, norms and global pooling
after them are fused into as few Triton kernels as the reductions allow.

Public API: :class:`LibOpCoder` (template ``triton.libop``), :func:`build_program`.
"""

from agents.coders.generators.libop.coder import TEMPLATE, LibOpCoder
from agents.coders.generators.libop.graph import Program, build_program

__all__ = ["TEMPLATE", "LibOpCoder", "Program", "build_program"]
