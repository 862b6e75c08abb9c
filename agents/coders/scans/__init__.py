"""Offline Triton generators for scans and gathers of arbitrary KernelBench references.

Public API:

- :class:`ScanCoder` (template ``triton.scan``): cumsum/cumprod along any dim, reverse,
  exclusive and masked scans, with elementwise prologue/epilogue fused;
- :class:`GatherCoder` (template ``triton.gather``): embedding-bag sums/means, fixed-size
  gathers reduced over the bag dim, and per-segment sums/means of jagged rows;
- :func:`analyze_scan` / :func:`analyze_gather`: the recognisers (``ProblemError`` with one
  sentence when a reference is not theirs);
- :func:`trace_aten`: the shared meta-device ATen tracer.
"""

from agents.coders.scans.aten import AtenTrace, trace_aten
from agents.coders.scans.coders import GatherCoder, ScanCoder
from agents.coders.scans.gather_spec import GatherSpec, analyze_gather
from agents.coders.scans.scan_spec import ScanSpec, analyze_scan

__all__ = [
    "AtenTrace",
    "GatherCoder",
    "GatherSpec",
    "ScanCoder",
    "ScanSpec",
    "analyze_gather",
    "analyze_scan",
    "trace_aten",
]
