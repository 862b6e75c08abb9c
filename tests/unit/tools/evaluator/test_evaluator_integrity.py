"""The timing harness checks outputs while timing and notices run-time tampering (in-process)."""

from __future__ import annotations

import contextlib
import math
import statistics
import types
from collections.abc import Iterator

import pytest
import torch

from tools.evaluator import timing
from tools.evaluator.integrity import Seal
from tools.evaluator.timing import (
    Budget,
    Checks,
    LazyOutput,
    materialise,
    miss_probability,
    time_cpu,
)

BUDGET = Budget(warmup_ms=1.0, rep_ms=5.0, min_reps=120, max_reps=120)


def _softmax_checks(samples: int) -> tuple[Checks, list[int]]:
    gen = torch.Generator().manual_seed(1234)
    checked: list[int] = []

    def draw():
        return [torch.randn(8, 32, generator=gen)]

    def verify(pristine, inputs, out, where):
        checked.append(1)
        if not torch.allclose(out, torch.softmax(pristine[0], dim=-1)):
            raise AssertionError(f"{where}: wrong")

    return Checks(samples=samples, draw=draw, verify=verify), checked


def test_timed_calls_are_compared_and_an_intermittent_error_is_caught():
    calls = [0]

    def one_in_five(x):
        calls[0] += 1
        return torch.softmax(x if calls[0] % 5 else x * 2, dim=-1)

    checks, _ = _softmax_checks(60)
    sets = [[torch.randn(8, 32)] for _ in range(4)]
    with pytest.raises(AssertionError, match="timed call"):  # misses with p = 0.8**60 ~ 2e-6
        time_cpu(one_in_five, sets, BUDGET, checks=checks)


def test_honest_series_is_checked_on_fresh_and_rewritten_inputs():
    checks, checked = _softmax_checks(40)
    sets = [[torch.randn(8, 32)] for _ in range(4)]
    t = time_cpu(lambda x: torch.softmax(x, dim=-1), sets, BUDGET, checks=checks)
    assert t.reps == 120 and t.checked == 40 == len(checked)
    assert len(t.fresh_ms) + len(t.rewritten_ms) == 40
    assert t.fresh_ms and t.rewritten_ms  # both groups (each call is a fair coin: 2 * 0.5**40)


def test_pointer_cache_fails_on_a_buffer_refilled_in_place():
    cache: dict[int, torch.Tensor] = {}

    def memo(x):
        return cache.setdefault(x.data_ptr(), torch.softmax(x, dim=-1))

    checks, _ = _softmax_checks(40)
    with pytest.raises(AssertionError):  # some checked call gets fresh values: 1 - 0.5**40
        time_cpu(memo, [[torch.randn(8, 32)] for _ in range(4)], BUDGET, checks=checks)


def test_outputs_must_be_plain_tensors():
    class Sub(torch.Tensor):
        pass

    class Lazy(list):
        pass

    materialise((torch.ones(2), [torch.ones(1), None, 3], {"a": torch.ones(1)}))
    for bad in (torch.ones(2).as_subclass(Sub), Lazy([torch.ones(1)]), object()):
        with pytest.raises(LazyOutput, match="not a plain torch.Tensor"):
            materialise(bad)


def test_miss_probability_is_the_product_of_independent_misses():
    assert miss_probability(1 / 5, 90) == pytest.approx(0.8**90)
    assert miss_probability(1 / 20, 90) < 0.01 < miss_probability(1 / 20, 60)


@contextlib.contextmanager
def _swapped(obj: object, name: str, value: object) -> Iterator[None]:
    """``obj.<name>`` set to ``value`` for the block, then put back."""
    saved = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, saved)


def _floor_redirected_to_ceil() -> contextlib.AbstractContextManager[None]:
    """``math.floor``'s C function pointer overwritten in memory with ``math.ceil``'s."""
    import ctypes

    def slot(fn: object) -> ctypes.c_void_p:
        return ctypes.c_void_p.from_address(id(fn) + 2 * ctypes.sizeof(ctypes.c_void_p))

    return _swapped(slot(math.floor), "value", slot(math.ceil).value)


@pytest.mark.parametrize(
    ("tampered", "words"),
    [
        (lambda: _swapped(timing, "_perf_counter", lambda: 0.0),
         "tools.evaluator.timing._perf_counter was replaced"),
        # a code swap keeps the function's identity
        (lambda: _swapped(statistics.median, "__code__", (lambda data: 0.0).__code__),
         "statistics.median was altered in place"),
        (_floor_redirected_to_ceil, "math.floor was altered in place"),
    ],
    ids=["replaced-module-global", "code-swap", "builtin-redirected-in-memory"],
)  # fmt: skip
def test_seal_sees_tampering_and_is_clean_once_it_is_undone(tampered, words):
    seal = Seal.take()
    assert seal.verify() is None
    with tampered():
        assert words in (seal.verify() or "")
    assert seal.verify() is None


def test_seal_sees_a_mode_left_on_the_stack_and_signs_values():
    from torch.overrides import TorchFunctionMode

    seal = Seal.take()
    mode = TorchFunctionMode()
    mode.__enter__()
    try:
        assert "torch function modes: 0 before" in (seal.verify() or "")
        assert seal.verify(state=False) is None
    finally:
        mode.__exit__(None, None, None)
    mac = seal.sign((1.0, 0.1, 10, 3))
    assert seal.signed((1.0, 0.1, 10, 3), mac)
    assert not seal.signed((0.01, 0.1, 10, 3), mac)
    assert not Seal.take().signed((1.0, 0.1, 10, 3), mac)  # another evaluation's key
    assert isinstance(seal.entries, dict) and not isinstance(seal, types.ModuleType)


def test_fresh_versus_rewritten_test_separates_a_cache_from_noise():
    import random

    from tools.evaluator.diagnose import slower_p_value

    rng = random.Random(7)
    noise = [rng.lognormvariate(0, 0.5) for _ in range(90)]
    assert slower_p_value(noise[:45], noise[45:]) > 1e-3  # one distribution: no verdict
    cached = [0.02 * rng.lognormvariate(0, 0.5) for _ in range(45)]
    assert slower_p_value(noise[:45], cached) < 1e-12  # recomputed on fresh values only
    assert slower_p_value(cached, noise[:45]) > 0.99
    assert slower_p_value([1.0] * 10, [1.0] * 10) == 1.0
