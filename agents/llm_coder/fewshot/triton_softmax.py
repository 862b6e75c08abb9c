"""Row softmax in Triton: one program per row, the row held in registers.

Follows triton-lang's tutorial 02-fused-softmax: the jitted kernel does the math, the
Python wrapper checks, allocates and launches.
"""

import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def softmax_kernel(
    out_ptr,
    in_ptr,
    in_row_stride,
    out_row_stride,
    n_cols,
    BLOCK_SIZE: tl.constexpr,
):
    # Bytes moved: one read and one write of each row (2 * n_cols * element size per program).
    row = tl.program_id(0)
    offsets = tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_cols
    x = tl.load(in_ptr + row * in_row_stride + offsets, mask=mask, other=-float("inf"))
    x = x.to(tl.float32)
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    y = num / tl.sum(num, axis=0)
    tl.store(out_ptr + row * out_row_stride + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 2 and x.stride(1) == 1, "expects a row-major 2-D input"
        rows, cols = x.shape
        out = torch.empty_like(x)
        block = triton.next_power_of_2(cols)
        num_warps = 8 if block >= 2048 else 4
        softmax_kernel[(rows,)](
            out, x, x.stride(0), out.stride(0), cols, BLOCK_SIZE=block, num_warps=num_warps
        )
        return out
