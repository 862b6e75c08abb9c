"""resize_source rewrites declared size constants only, within their steps; fit_source shrinks."""

from __future__ import annotations

import pytest

from tools.errors import ProblemError
from tools.problems.resize import (
    declared_sizes,
    fit_source,
    has_declared_sizes,
    irregular_overrides,
    resize_source,
    snap,
)

SOURCE = '''"""a problem"""
import torch
import torch.nn as nn

GROUPS = 8
BATCH = 64  # rows
CHANNELS = 256
HEAD_DIM: int = 2**6
BIG = 64 * 1024
KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": GROUPS, "BIG": 16}
EPS = 1e-5


class Model(nn.Module):
    def forward(self, x):
        return x * 2


def get_inputs():
    return [torch.randn(BATCH, CHANNELS)]


def get_init_inputs():
    return []
'''


def test_declared_sizes_read_the_dict_and_resolve_named_steps():
    sizes = {s.name: (s.value, s.granularity) for s in declared_sizes(SOURCE)}
    assert sizes == {"BATCH": (64, 1), "CHANNELS": (256, 8), "BIG": (65536, 16)}
    assert has_declared_sizes(SOURCE)


def test_factor_scales_declared_sizes_and_keeps_everything_else():
    out = resize_source(SOURCE, 0.5)
    assert "BATCH = 32  # rows\n" in out
    assert "CHANNELS = 128\n" in out
    assert "BIG = 32768\n" in out
    # Undeclared constants, comments and code stay byte for byte.
    for kept in (
        "GROUPS = 8\n",
        "HEAD_DIM: int = 2**6\n",
        "EPS = 1e-5\n",
        'KEVOLVE_SIZES = {"BATCH": 1, "CHANNELS": GROUPS, "BIG": 16}\n',
        "return x * 2\n",
    ):
        assert kept in out
    assert len(out.splitlines()) == len(SOURCE.splitlines())


def test_tiny_factor_keeps_every_size_at_least_its_step():
    out = resize_source(SOURCE, 1e-6)
    sizes = {s.name: s.value for s in declared_sizes(out)}
    assert sizes == {"BATCH": 1, "CHANNELS": 8, "BIG": 16}


def test_sizes_snap_to_multiples_of_their_step():
    out = resize_source(SOURCE, 0.3)  # 256 * 0.3 = 76.8 -> 80 (a multiple of 8)
    assert {s.name: s.value for s in declared_sizes(out)}["CHANNELS"] == 80
    assert snap(76.8, 8) == 80 and snap(0.2, 8) == 8 and snap(5.0, 1) == 5


def test_overrides_set_exact_sizes_and_reject_bad_ones():
    out = resize_source(SOURCE, {"BATCH": 7, "CHANNELS": 24})
    assert "BATCH = 7  # rows" in out and "CHANNELS = 24\n" in out and "BIG = 64 * 1024" in out
    with pytest.raises(ProblemError, match="multiple of 8"):
        resize_source(SOURCE, {"CHANNELS": 12})
    with pytest.raises(ProblemError, match="not a resizable size"):
        resize_source(SOURCE, {"GROUPS": 4})
    with pytest.raises(ProblemError, match="positive"):
        resize_source(SOURCE, {"BATCH": 0})
    with pytest.raises(ProblemError, match="positive number"):
        resize_source(SOURCE, -1.0)


def test_a_file_without_the_dict_resizes_every_upper_case_int():
    plain = "import torch\nN = 100\nM: int = 10\nscale = 3\nget_inputs = None\n"
    assert not has_declared_sizes(plain)
    out = resize_source(plain, 0.5)
    assert "N = 50\n" in out and "M: int = 5\n" in out and "scale = 3\n" in out
    assert irregular_overrides(plain, lambda d: d // 2 + 3) is None


def test_a_bad_sizes_dict_is_one_clear_error():
    with pytest.raises(ProblemError, match="not a module-level int"):
        declared_sizes("N = 4\nKEVOLVE_SIZES = {'M': 1}\n")
    with pytest.raises(ProblemError, match="positive int step"):
        declared_sizes("N = 4\nKEVOLVE_SIZES = {'N': 0}\n")
    with pytest.raises(ProblemError, match="does not parse"):
        resize_source("N = (\n", 0.5)


def test_irregular_overrides_follow_the_rule_and_the_steps():
    over = irregular_overrides(SOURCE, lambda d: d // 2 + 3)
    assert over == {"BATCH": 35, "CHANNELS": 128, "BIG": 32768}
    tiny = "N = 1\nKEVOLVE_SIZES = {'N': 1}\n"
    assert irregular_overrides(tiny, lambda d: d) is None


def test_fit_source_shrinks_to_the_byte_budget_on_the_meta_device():
    big = SOURCE.replace("BATCH = 64", "BATCH = 65536")  # 65536 x 256 fp32 = 64 MiB
    small, factor = fit_source(big, 1 << 20)
    sizes = {s.name: s.value for s in declared_sizes(small)}
    assert sizes["BATCH"] * sizes["CHANNELS"] * 4 <= 1 << 20
    assert 0 < factor < 1
    same, one = fit_source(SOURCE, 1 << 30)
    assert same == SOURCE and one == 1.0
