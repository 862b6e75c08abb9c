"""Chip facts every Triton generator reads from the target: backend, warp size, shared memory."""

from __future__ import annotations

from agents.coders.kit.space import next_pow2
from tools.records import Target

DEFAULT_SMEM_BYTES = 48 * 1024
"""Shared memory a block may use when the target does not say (CUDA's static default)."""


def is_hip(target: Target) -> bool:
    """True when the Triton target is AMD (``hip``)."""
    return target.triton_target is not None and target.triton_target.backend == "hip"


def warp_size(target: Target) -> int:
    """Threads per warp/wavefront of the Triton target."""
    return target.triton_target.warp_size if target.triton_target else max(target.warp_size, 32)


def smem_bytes(target: Target) -> int:
    """Shared memory one block may use on ``target``, in bytes."""
    return int(target.shared_mem_per_block_kib * 1024) or DEFAULT_SMEM_BYTES


def warps_for(elements: int, target: Target, cap: int = 8) -> int:
    """Warps for a tile of ``elements`` at about 8 elements a thread, within 1..cap."""
    return min(max(next_pow2(elements // (8 * warp_size(target))), 1), cap)
