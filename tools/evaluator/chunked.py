"""Walk large tensors in bounded pieces, so checks of a multi-GB output need little memory.

A comparison over a whole 6 GB output would materialise several full-size temporaries (a
float copy, a boolean mask, the indices of its true elements). Here every temporary is at
most ``CHUNK_ELEMENTS`` elements: contiguous tensors are cut along their flat view,
others along their leading dimensions (a copy of one piece at a time, never of the whole).
Pieces come in row-major order, so a running offset gives each element's flat index.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

CHUNK_ELEMENTS = 1 << 20
"""Elements per piece: 1 Mi elements, 4 MiB of fp32 per temporary (a comparison holds a
handful of them at once). Pieces of 16 MiB made the CPU footprint vary from run to run by
over a full output's size: glibc raises its mmap threshold to the size of a freed block,
so such temporaries came from the heap and were not always reused or returned."""


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1)


def paired_chunks(
    a: torch.Tensor, b: torch.Tensor, limit: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield matching 1-D pieces of two tensors of one shape, in row-major order.

    Args:
        a: A tensor.
        b: A tensor of the same shape (any strides, any device).
        limit: Largest number of elements in one piece (default ``CHUNK_ELEMENTS``).

    Yields:
        ``(piece_of_a, piece_of_b)``, each 1-D and at most ``limit`` elements; a piece of a
        non-contiguous tensor is a copy of that piece alone.
    """
    limit = limit or CHUNK_ELEMENTS
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"paired_chunks needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    n = a.numel()
    if n == 0:
        return
    if n <= limit:
        yield _flat(a), _flat(b)
        return
    if a.is_contiguous() and b.is_contiguous():
        fa, fb = a.view(-1), b.view(-1)
        for s in range(0, n, limit):
            yield fa[s : s + limit], fb[s : s + limit]
        return
    if a.dim() == 1:
        for s in range(0, n, limit):
            yield _flat(a[s : s + limit]), _flat(b[s : s + limit])
        return
    per_row = n // a.shape[0]
    if per_row > limit:
        for i in range(a.shape[0]):
            yield from paired_chunks(a[i], b[i], limit)
        return
    step = max(1, limit // per_row)
    for s in range(0, a.shape[0], step):
        yield _flat(a[s : s + step]), _flat(b[s : s + step])


def chunks(a: torch.Tensor, limit: int | None = None) -> Iterator[torch.Tensor]:
    """Yield 1-D pieces of ``a`` (at most ``limit`` elements each), in row-major order."""
    for piece, _ in paired_chunks(a, a, limit):
        yield piece


def unravel(flat_index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The multi-index of element ``flat_index`` of a row-major tensor of ``shape``."""
    out = []
    for size in reversed(shape):
        out.append(flat_index % size if size else 0)
        flat_index = flat_index // size if size else 0
    return tuple(reversed(out))
