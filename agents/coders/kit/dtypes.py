"""The problem dtypes the generators compute in, and their element sizes."""

from __future__ import annotations

FLOAT_DTYPES: frozenset[str] = frozenset({"float32", "float16", "bfloat16"})
"""Problem dtypes the Triton templates compute in (fp32 math, fp16/bf16 storage)."""
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
"""Bytes per element of a torch dtype name (others count as 4)."""


class DtypeSized:
    """A spec whose ``dtype`` (a torch dtype name, ``float16``) sets its element size."""

    dtype: str

    @property
    def elem_bytes(self) -> int:
        """Bytes per element of the problem's dtype."""
        return DTYPE_BYTES.get(self.dtype, 4)
