"""The row-fused program generator: a graph of elementwise ops and row reductions, traced to
ATen, becomes one fused Triton kernel that reads each row once when it fits in registers.

Public API:

- :class:`RowFusedCoder` -- the generator (template ``triton.rowfused``);
- :func:`recognise` -- a problem's :class:`RowProgram`, or ``ProblemError`` saying why not.
"""

from agents.coders.generators.rowfused.coder import TEMPLATE, RowFusedCoder
from agents.coders.generators.rowfused.ir import RowProgram
from agents.coders.generators.rowfused.recognise import recognise

__all__ = ["TEMPLATE", "RowFusedCoder", "RowProgram", "recognise"]
