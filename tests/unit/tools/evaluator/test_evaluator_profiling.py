"""The torch.profiler kernel breakdown on CPU: PyTorch ops by self time, the call's own
time outside them as a row, largest first, at most ten rows."""

from __future__ import annotations

import time

import torch

from tools.evaluator.profiling import OUTSIDE_OPS, TOP_KERNELS, cpu_breakdown, kernel_breakdown


def test_cpu_ops_are_listed_by_self_time_with_calls():
    x = torch.randn(256, 512)

    def forward():
        e = torch.exp(x - x.amax(-1, keepdim=True))
        return e / e.sum(-1, keepdim=True) + e / e.sum(-1, keepdim=True)

    rows = cpu_breakdown(forward)
    names = {r.name: r for r in rows}
    assert {"aten::exp", "aten::amax", "aten::div", "aten::sum"} <= set(names)
    assert names["aten::div"].calls == 2 and names["aten::sum"].calls == 2
    assert all(r.device == "cpu" and r.total_us >= 0 for r in rows)
    assert [r.total_us for r in rows] == sorted((r.total_us for r in rows), reverse=True)
    assert 0.99 <= sum(r.share for r in rows) <= 1.0 + 1e-9  # all rows kept: they add up


def test_time_outside_pytorch_ops_is_its_own_row():
    def forward():
        time.sleep(0.02)  # stands for a C++ extension called directly
        return torch.zeros(4)

    rows = cpu_breakdown(forward)
    assert rows[0].name == OUTSIDE_OPS and rows[0].total_us > 15_000 and rows[0].share > 0.9


def test_at_most_ten_rows():
    x = torch.randn(8)
    ops = [
        torch.sin,
        torch.cos,
        torch.tan,
        torch.exp,
        torch.log1p,
        torch.sqrt,
        torch.abs,
        torch.neg,
        torch.sigmoid,
        torch.tanh,
        torch.relu,
        torch.floor,
    ]

    def forward():
        return [op(x.abs() + 1) for op in ops]

    rows = cpu_breakdown(forward)
    assert len(rows) == TOP_KERNELS


def test_a_failing_call_is_a_note_not_an_error():
    notes: list[str] = []

    def forward():
        raise RuntimeError("kernel exploded")

    rows, count = kernel_breakdown(forward, "cpu", notes)
    assert rows == [] and count is None
    assert notes == ["torch.profiler breakdown failed: kernel exploded"]
