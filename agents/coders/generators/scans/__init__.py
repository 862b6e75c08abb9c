"""Offline Triton generators for scans and gathers of arbitrary KernelBench references.

Public API:

- :class:`ScanCoder` (template ``triton.scan``): cumsum/cumprod along any dim, reverse,
  exclusive and masked scans, with elementwise prologue/epilogue fused;
- :class:`ColumnReduceCoder` (template ``triton.colreduce``): sum/mean/amax/amin/prod and
  max/min values over a strided (non-innermost) run of dims, split into chunks with a
  deterministic second stage when the outputs are too few to fill the chip;
- :class:`GatherCoder` (template ``triton.gather``): embedding-bag sums/means, fixed-size
  gathers reduced over the bag dim, and per-segment sums/means of jagged rows;
- :func:`analyze_scan` / :func:`analyze_gather` / :func:`analyze_colreduce`: the
  recognisers (``ProblemError`` with one sentence when a reference is not theirs);
- :func:`trace_scan`: the reference traced for these generators (the kit's tracer).
"""

from agents.coders.generators.scans.aten import trace_scan
from agents.coders.generators.scans.coders import GatherCoder, ScanCoder
from agents.coders.generators.scans.colreduce_coder import ColumnReduceCoder
from agents.coders.generators.scans.colreduce_spec import ColReduceSpec, analyze_colreduce
from agents.coders.generators.scans.gather_spec import GatherSpec, analyze_gather
from agents.coders.generators.scans.scan_spec import ScanSpec, analyze_scan

__all__ = [
    "ColReduceSpec",
    "ColumnReduceCoder",
    "GatherCoder",
    "GatherSpec",
    "ScanCoder",
    "ScanSpec",
    "analyze_colreduce",
    "analyze_gather",
    "analyze_scan",
    "trace_scan",
]
