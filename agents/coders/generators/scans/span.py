"""What the scan and strided-reduction specs share: one op over a run of dims of one shape.

The input is seen as ``(outer, length, inner)``: the dims before the run, the run itself
(the scan dim, or the reduced dims) and the contiguous dims after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from agents.coders.generators.scans.aten import FLOAT_DTYPES
from agents.coders.kit.dtypes import DtypeSized

TORCH_DTYPES: dict[torch.dtype, str] = {d: str(d) for d in FLOAT_DTYPES}
"""The float dtypes these kernels compute in -> their name in generated code (``torch.float16``)."""


@dataclass(frozen=True, kw_only=True)
class SpanSpec(DtypeSized):
    """A recognised op over the run of dims :attr:`span` of one shape, ready to render."""

    op: str
    dtype: str
    shape: tuple[int, ...]
    """The input's shape at the traced sizes."""
    forward_args: tuple[str, ...]
    out_dtype: str
    """``torch.float16``... when the reference fixes it (a cast, ``dtype=``); empty: the
    inputs' own (their promotion)."""
    trailing: str
    """Tensor-method chain the reference applies to the result (``.view([8, -1])``)."""
    summary: str
    family: str

    @property
    def span(self) -> tuple[int, int]:
        """The first and last dim of the run (inclusive)."""
        raise NotImplementedError

    @property
    def outer(self) -> int:
        """Product of the dims before the run."""
        return math.prod(self.shape[: self.span[0]])

    @property
    def length(self) -> int:
        """Elements along the run at the traced sizes (reduced or scanned per output)."""
        first, last = self.span
        return math.prod(self.shape[first : last + 1])

    @property
    def inner(self) -> int:
        """Product of the dims after the run (the contiguous run)."""
        return math.prod(self.shape[self.span[1] + 1 :])
