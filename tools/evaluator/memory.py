"""Device memory inside the worker: out-of-memory recognised, peak measured, freed memory poisoned.

- ``is_out_of_memory``: a CUDA (or CPU allocator) out-of-memory is the machine's limit, not
  a wrong answer; the worker reports it as an ``environment`` failure (``out_of_memory``).
- ``LiveTensorBytes``: a ``TorchDispatchMode`` that tracks the bytes of live tensors the
  calls inside it create. On the CPU its peak is the evaluation's footprint (an estimate
  from tensor bytes); with a limit it raises ``torch.OutOfMemoryError`` once they pass it,
  so out-of-memory handling is testable on a machine without a GPU.
- ``poison_block_sizes``: which free blocks of the CUDA caching allocator to fill with
  poison bytes before a candidate call, so ``torch.empty`` cannot hand back a stale correct
  answer; the poison reuses those blocks and costs no new memory.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

OOM_MESSAGES = ("out of memory",)
"""Message fragment of device allocator failures raised as plain ``RuntimeError`` (older
PyTorch, ``CUDA error: out of memory`` from a kernel launch, HIP). The CPU allocator's
``can't allocate memory`` is not one: on the CPU the limit is the sandbox's own cap
(``memory_limit_mib``), and a candidate that passes it fails its stage as before."""


def is_out_of_memory(e: BaseException | None) -> bool:
    """True when ``e``, or an exception it was raised from, is an allocator out-of-memory."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, torch.OutOfMemoryError):
            return True
        text = str(e)
        if isinstance(e, RuntimeError) and any(m in text for m in OOM_MESSAGES):
            return True
        e = e.__cause__ or e.__context__
    return False


class LiveTensorBytes(TorchDispatchMode):
    """Bytes of the live tensors created inside ``with LiveTensorBytes(limit) as m:``.

    Every ATen op's new outputs are counted once per storage until the storage is freed
    (a weak-reference finaliser subtracts it); views and in-place ops add nothing.
    ``peak`` is the largest total seen. Tensors created before entering are not counted.

    Args:
        limit_bytes: Raise ``torch.OutOfMemoryError`` when the live bytes pass this
            (0: never). A simulated device for tests, not a protection.
    """

    def __init__(self, limit_bytes: int = 0) -> None:
        super().__init__()
        self.limit = limit_bytes
        self.live = 0
        self.peak = 0
        self._sizes: dict[int, int] = {}

    def _freed(self, key: int) -> None:
        self.live -= self._sizes.pop(key, 0)

    def _track(self, t: torch.Tensor) -> None:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return
        key, size = storage.data_ptr(), storage.nbytes()
        if not size or key in self._sizes:
            return
        self._sizes[key] = size
        self.live += size
        weakref.finalize(storage, self._freed, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if getattr(func, "is_view", False) or func._schema.is_mutable:
            return out
        for t in _tensors(out):
            self._track(t)
        self.peak = max(self.peak, self.live)
        if self.limit and self.live > self.limit:
            raise torch.OutOfMemoryError(
                f"out of memory (simulated device of {self.limit} bytes): {self.live} bytes "
                f"of tensors live after {func}"
            )
        return out


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    return []


def wipe(t: torch.Tensor, byte: int) -> None:
    """Overwrite every byte of ``t`` with ``byte`` (through a byte view when contiguous;
    otherwise NaN for floats and -1 for integers)."""
    if t.is_contiguous() and t.numel():
        t.reshape(-1).view(torch.uint8).fill_(byte)
    elif t.numel():
        t.fill_(float("nan") if t.is_floating_point() else -1)


SMALL_POOL_MAX_BYTES = 1 << 20
"""The CUDA caching allocator serves requests up to 1 MiB from its small pool and larger ones
from its large pool; a block of one pool is never handed out for a request of the other."""


def poison_block_sizes(snapshot: list[dict[str, Any]]) -> list[int]:
    """Sizes of the free cached blocks a candidate's ``torch.empty`` could be given.

    Args:
        snapshot: ``torch.cuda.memory_snapshot()``: segments with ``segment_type`` and
            ``blocks`` (``size``, ``state``).

    Returns:
        The sizes of every inactive block of the small pool and every inactive block of the
        large pool over ``SMALL_POOL_MAX_BYTES`` (smaller large-pool remainders are never
        returned for a request), largest first: allocating them in this order takes exactly
        those blocks (best fit), so the poison needs no new device memory.
    """
    sizes = []
    for seg in snapshot:
        small = seg.get("segment_type") == "small"
        for block in seg.get("blocks", []):
            if block.get("state") != "inactive":
                continue
            size = int(block.get("size", 0))
            if size and (small or size > SMALL_POOL_MAX_BYTES):
                sizes.append(size)
    return sorted(sizes, reverse=True)


def poison_free_blocks(byte: int) -> int:
    """Fill every free cached CUDA block a request could get with ``byte``; the bytes filled."""
    sizes = poison_block_sizes(torch.cuda.memory_snapshot())
    junk = []
    try:
        for size in sizes:
            junk.append(torch.empty(size, dtype=torch.uint8, device="cuda").fill_(byte))
    except torch.OutOfMemoryError:
        pass  # the allocator chose a fresh segment and the device is full: poison what we have
    filled = sum(j.numel() for j in junk)
    del junk
    return filled
