"""Memory-safe correctness: chunked comparisons, NaN shown, named rejection rules,
tolerances that know reduction length, out-of-memory recognised, admission by memory."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from tools.evaluator import chunked
from tools.evaluator.admission import Ledger, admits, footprint_key, reservation_bytes
from tools.evaluator.correctness import POISON_BYTE, bitwise_equal, compare_outputs
from tools.evaluator.memory import (
    LiveTensorBytes,
    is_out_of_memory,
    poison_block_sizes,
    wipe,
)
from tools.evaluator.tolerances import ReductionProbe, output_scale, tolerance_for


@pytest.fixture(autouse=True)
def _one_thread():
    """Many small ops: OpenMP threads only add contention on a shared CI machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- chunked comparison -------------------------------------------------------------------


def test_chunked_comparison_matches_the_whole_tensor_answer(monkeypatch):
    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", 1000)
    torch.manual_seed(0)
    ref = torch.randn(40, 30, 20).transpose(0, 2)  # non-contiguous, 24,000 elements
    new = ref.clone()
    new[7, 3, 11] += 1.0
    new[19, 29, 39] += 2.0
    c = compare_outputs(ref, new)
    assert not c.ok and "2 of 24000" in c.message and "(7, 3, 11)" in c.message
    assert c.max_abs_err == pytest.approx(2.0, rel=1e-5)
    assert output_scale(ref) == pytest.approx(float(ref.pow(2).mean().sqrt()), rel=1e-6)
    assert bitwise_equal(ref, ref.contiguous()) and not bitwise_equal(ref, new)


def test_comparison_of_a_large_output_needs_bounded_extra_memory(monkeypatch):
    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", 1 << 14)
    n = 1 << 20  # 4 MiB of fp32 per tensor, 64 pieces
    ref = torch.randn(n)
    new = ref + 1e-7
    new[-1] = float("nan")
    with LiveTensorBytes() as m:
        c = compare_outputs(ref, new)
        same = bitwise_equal(ref, new)
    assert not c.ok and c.nonfinite == 1 and not same
    # the whole-tensor comparison held several full-size float copies and masks (> 4 x 4 MiB);
    # piece by piece it holds a few pieces of 64 KiB
    assert m.peak < 8 * (1 << 14) * 4, m.peak


# -- NaN shown, named rules -----------------------------------------------------------------


def test_all_nan_output_is_counted_not_reported_as_zero_error():
    ref = torch.randn(1024)
    new = torch.full_like(ref, float("nan"))
    c = compare_outputs(ref, new)
    assert not c.ok and c.nonfinite == 1024 and "nonfinite_output" in c.flags
    assert "1024 of 1024 elements non-finite where the reference is finite (1024 NaN" in c.message
    assert "over the 0 elements finite in both" in c.message


def test_untouched_poisoned_output_is_named_output_not_written():
    ref = torch.randn(64, 32)
    new = ref.clone()
    wipe(new, POISON_BYTE)  # what the worker leaves in free memory
    c = compare_outputs(ref, new)
    assert not c.ok and "output_not_written" in c.flags and c.not_written == 64 * 32
    assert c.message.startswith("output: output not written: 2048 of 2048")
    half = ref.clone()
    wipe(half[32:], POISON_BYTE)
    assert compare_outputs(ref, half).not_written == 32 * 32
    # a canonical NaN where the reference has NaN is a match, not an unwritten element
    nan_ref = torch.tensor([float("nan"), 1.0])
    assert compare_outputs(nan_ref, nan_ref.clone()).ok


# -- tolerance by reduction length -------------------------------------------------------------


def test_reduction_probe_counts_the_longest_sum():
    cases = [
        (lambda: torch.randn(4, 3000) @ torch.randn(3000, 2), 3000),
        (lambda: torch.mv(torch.randn(4, 5000), torch.randn(5000)), 5000),
        (lambda: torch.nn.functional.linear(torch.randn(2, 700), torch.randn(3, 700)), 700),
        (lambda: torch.nn.functional.conv2d(
            torch.randn(1, 6, 9, 9), torch.randn(4, 3, 3, 3), groups=2), 27),
        (lambda: torch.nn.functional.layer_norm(torch.randn(2, 5, 7), (5, 7)), 35),
        (lambda: torch.softmax(torch.randn(3, 900), dim=-1), 900),
        (lambda: torch.randn(6, 400).sum(dim=1), 400),
        (lambda: torch.relu(torch.randn(1000)), 1),
    ]  # fmt: skip
    for fn, expected in cases:
        with ReductionProbe() as p:
            fn()
        assert p.longest == expected, (expected, p.longest, p.op)


def test_tolerance_grows_with_reduction_length_and_still_catches_cheats():
    torch.manual_seed(0)
    assert tolerance_for(torch.float32, 4096) == tolerance_for(torch.float32)
    wide = tolerance_for(torch.float32, 1 << 20)
    assert 2e-4 < wide.atol < 5e-4 and "1048576 terms" in wide.reason
    ref = torch.randn(4096)
    rms = float(ref.pow(2).mean().sqrt())
    # the mat-vec of K = 2**20: honest reordering errors of ~2e-4 x RMS on the outputs
    honest = ref + 2e-4 * rms * torch.sign(torch.randn(4096))
    assert not compare_outputs(ref, honest).ok  # the fixed fp32 tolerance rejected it
    assert compare_outputs(ref, honest, reduction_length=1 << 20).ok
    assert not compare_outputs(ref, honest, reduction_length=4096).ok
    # cheats stay rejected at that length: an output scaled by 1.001, and TF32 inputs
    assert not compare_outputs(ref, ref * 1.001, reduction_length=1 << 20).ok
    a, x = torch.randn(16, 1 << 20), torch.randn(1 << 20)
    exact = (a.double() @ x.double()).float()

    def tf32(t: torch.Tensor) -> torch.Tensor:
        return (t.view(torch.int32) & ~0x1FFF).view(torch.float32)

    low = (tf32(a).double() @ tf32(x).double()).float()
    assert not compare_outputs(exact, low, reduction_length=1 << 20).ok
    # a true fp32 sequential sum of the same products is accepted
    seq = np.cumsum((a * x).numpy(), axis=-1, dtype=np.float32)[:, -1].copy()
    assert compare_outputs(exact, torch.from_numpy(seq), reduction_length=1 << 20).ok


def test_tf32_at_small_k_is_rejected():
    torch.manual_seed(1)
    a, b = torch.randn(64, 512), torch.randn(512, 64)

    def tf32(t: torch.Tensor) -> torch.Tensor:
        return (t.view(torch.int32) & ~0x1FFF).view(torch.float32)

    ref = (a.double() @ b.double()).float()
    low = (tf32(a).double() @ tf32(b).double()).float()
    assert not compare_outputs(ref, low, reduction_length=512).ok


# -- out of memory, poison, admission --------------------------------------------------------


def test_out_of_memory_is_recognised_through_causes():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    # the CPU sandbox's own address-space cap is the candidate's limit, not the machine's
    cpu_cap = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried")
    assert not is_out_of_memory(cpu_cap)
    wrapped = ValueError("kernel failed")
    wrapped.__cause__ = torch.OutOfMemoryError("x")
    assert is_out_of_memory(wrapped)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_simulated_device_limit_raises_out_of_memory_and_tracks_peak():
    with LiveTensorBytes() as m:
        a = torch.empty(1 << 20, dtype=torch.uint8)
        b = a.clone()
        del a, b
        c = torch.empty(1 << 10, dtype=torch.uint8)
    assert m.peak >= 2 << 20 and m.live == c.numel()
    with pytest.raises(torch.OutOfMemoryError, match="simulated device"):
        with LiveTensorBytes(limit_bytes=1 << 20):
            torch.zeros(2 << 20, dtype=torch.uint8)


def test_poison_covers_only_blocks_a_request_can_get():
    snapshot = [
        {"segment_type": "large", "blocks": [
            {"size": 8 << 20, "state": "inactive"},
            {"size": 4 << 20, "state": "active_allocated"},
            {"size": 512 << 10, "state": "inactive"},  # a large-pool remainder: never handed out
        ]},
        {"segment_type": "small", "blocks": [
            {"size": 1024, "state": "inactive"}, {"size": 512, "state": "active_allocated"},
        ]},
    ]  # fmt: skip
    assert poison_block_sizes(snapshot) == [8 << 20, 1024]


def test_admission_decision_is_a_pure_function_of_memory():
    gib = 1 << 30
    assert admits(70 * gib, [], 80 * gib)  # alone: always
    assert admits(30 * gib, [30 * gib], 80 * gib)
    assert not admits(30 * gib, [30 * gib, 30 * gib], 80 * gib)
    assert not admits(1, [1], 80 * gib, exclusive=True)
    assert not admits(1, [1], 80 * gib, held_exclusive=True)
    assert not admits(1, [], 80 * gib, exclusive_waiting=True)
    assert admits(1, [], 80 * gib, exclusive=True, exclusive_waiting=True)
    assert reservation_bytes(10 * gib, "cuda") > 10 * gib


def test_ledger_admits_side_by_side_only_as_far_as_memory_fits(tmp_path):
    gib = 1 << 30
    ledger = Ledger(tmp_path / "ledger.json", lambda device: 80 * gib)  # a fake 80 GB device
    order: list[str] = []

    def second() -> None:
        with ledger.hold("cuda", 45 * gib, exclusive=False) as g:
            order.append(f"second after {g.waited_s:.1f}")

    with ledger.hold("cuda", 45 * gib, exclusive=False):
        with ledger.hold("cuda", 30 * gib, exclusive=False):  # 75 of 80: fits beside
            order.append("third")
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.6)
        order.append("first done")  # 45 + 45 > 80: the second waits for the first
    t.join(timeout=10)
    assert order[0] == "third" and order[1] == "first done" and order[2].startswith("second")
    key = footprint_key("src", "h100", "cuda")
    assert ledger.footprint(key) is None
    ledger.record(key, 5 * gib)
    ledger.record(key, 3 * gib)
    assert ledger.footprint(key) == 5 * gib
    ledger.record(key, None, alone=True)
    assert ledger.footprint(key) == -1
