"""Op counting: launches, bytes and FLOPs of an eager call."""

from __future__ import annotations

import torch

from tools.evaluator.counting import OpCounter, tensor_bytes, unique_bytes


def test_softmax_counts_one_op_with_in_and_out_bytes():
    x = torch.randn(64, 128)
    with OpCounter() as c:
        torch.softmax(x, dim=-1)
    assert c.trace.launches == 1
    assert c.trace.bytes == 2 * x.numel() * 4
    assert c.trace.flops == x.numel()


def test_matmul_flops_views_and_allocations():
    a, b = torch.randn(32, 64), torch.randn(64, 16)
    with OpCounter() as c:
        out = torch.empty(32, 16)
        torch.mm(a, b, out=out)
        a.t()  # a view: no launch
    assert [op.name for op in c.trace.ops] == ["mm"]
    assert c.trace.flops == 2 * 32 * 64 * 16 == c.trace.matmul_flops


def test_paused_counter_records_nothing():
    with OpCounter() as c:
        c.paused += 1
        torch.randn(4) + 1
    assert c.trace.launches == 0


def test_bytes_of_broadcast_and_shared_storage():
    bias = torch.randn(8).expand(1000, 8)
    assert tensor_bytes(bias) == 8 * 4
    x = torch.randn(100)
    assert unique_bytes([x, x[:10], torch.randn(5)]) == 100 * 4 + 5 * 4


def test_causal_attention_counts_only_the_lower_triangle():
    q = torch.randn(1, 2, 64, 32)
    flops = {}
    for causal in (False, True):
        with OpCounter() as counter:
            torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=causal)
        flops[causal] = counter.trace.flops
    assert flops[False] == 4 * 2 * 64 * 64 * 32
    assert flops[True] == flops[False] * (64 * 65 // 2) // (64 * 64)
