"""--max-mb on KernelBench-style files: lower-case module constants, validated, or said why not.

The files here are written for the test in KernelBench's own style (sizes as module-level
``batch_size = ...`` constants, no ``KEVOLVE_SIZES``).
"""

from __future__ import annotations

from pathlib import Path

from kevolve.bench_suite import SuiteEntry, prepare_file, resolve_suite
from tests.support import KERNELBENCH_SOFTMAX
from tools.problems.fit import fit_problem, validate_source
from tools.problems.resize import discovered_sizes, footprint_bytes

MIB = 2**20

ELEMENTWISE = KERNELBENCH_SOFTMAX.read_text()
"""KernelBench's softmax, 4096 x 393216 fp32 (6 GiB of input)."""

CONV = '''import torch
import torch.nn as nn

class Model(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, groups):
        super(Model, self).__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, groups=groups)

    def forward(self, x):
        return torch.relu(self.conv(x))

batch_size = 16
in_channels  = 32
out_channels = 64
depth, height = 32, 96; width = 96
kernel_size = 5
groups = 4
input_shape = (depth,)

def get_inputs():
    return [torch.rand(batch_size, in_channels, *input_shape, height, width)]

def get_init_inputs():
    return [in_channels, out_channels, kernel_size, groups]
'''

HARD_CODED_HEAD = '''import torch
import torch.nn as nn

class Model(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.fc = nn.Linear(3 * 64 * 64, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))

batch_size = 4096
num_classes = 1000
height = width = 64

def get_inputs():
    return [torch.rand(batch_size, 3, height, width)]

def get_init_inputs():
    return [num_classes]
'''

INLINE_SIZES = '''import torch
import torch.nn as nn

class Model(nn.Module):
    def forward(self, x):
        return x * 2

def get_inputs():
    return [torch.rand(4096, 4096)]

def get_init_inputs():
    return []
'''

ONLY_AT_ITS_SIZE = '''import torch
import torch.nn as nn

class Model(nn.Module):
    def forward(self, x):
        assert tuple(x.shape) == (4096, 4096), "this model only runs at its own size"
        return x * 2

batch_size = 4096
features = 4096

def get_inputs():
    return [torch.rand(batch_size, features)]

def get_init_inputs():
    return []
'''


def test_lower_case_constants_are_sizes_and_structural_ones_are_not():
    names = {s.name for s in discovered_sizes(CONV)}
    # input_shape = (depth,) follows depth; kernel_size and groups shape the op
    assert names == {"batch_size", "in_channels", "out_channels", "depth", "height", "width"}
    assert {s.name for s in discovered_sizes(ELEMENTWISE)} == {"batch_size", "dim"}
    literal = discovered_sizes("batch_size = 16\ninput_shape = (32768,)\nlayers = [3, 4, 23, 3]\n")
    assert {s.name for s in literal} == {"batch_size", "input_shape[0]"}


def test_a_6_gib_softmax_fits_one_mib_and_still_runs():
    fit = fit_problem(ELEMENTWISE, MIB)
    assert fit.resized and fit.note == "" and fit.bytes_before == 4096 * 393216 * 4
    assert fit.bytes_after <= MIB and footprint_bytes(fit.source) == fit.bytes_after
    assert validate_source(fit.source) == ""
    assert "def get_inputs():\n    x = torch.rand(batch_size, dim)" in fit.source  # code kept


def test_conv_sizes_shrink_together_and_keep_groups_and_kernel_valid():
    fit = fit_problem(CONV, MIB)
    assert fit.resized and fit.note == "" and fit.bytes_after <= MIB
    assert validate_source(fit.source) == ""
    assert "kernel_size = 5" in fit.source and "groups = 4" in fit.source
    sizes = {s.name: s.value for s in discovered_sizes(fit.source)}
    assert sizes["in_channels"] % 4 == 0 and sizes["out_channels"] % 4 == 0
    assert min(sizes["height"], sizes["width"], sizes["depth"]) >= 5


def test_a_size_the_model_hard_codes_is_pinned_and_the_others_shrink():
    fit = fit_problem(HARD_CODED_HEAD, MIB)
    assert fit.resized and validate_source(fit.source) == ""
    assert set(fit.pinned) == {"height", "width"}
    assert "height = width = 64" in fit.source
    sizes = {s.name: s.value for s in discovered_sizes(fit.source)}
    assert sizes["batch_size"] < 4096


def test_a_file_that_cannot_be_resized_says_why():
    inline = fit_problem(INLINE_SIZES, MIB)
    assert not inline.resized and inline.source == INLINE_SIZES
    assert "no module-level size constant" in inline.note
    stuck = fit_problem(ONLY_AT_ITS_SIZE, MIB)
    assert not stuck.resized and stuck.source == ONLY_AT_ITS_SIZE
    assert "fails to run" in stuck.note and "only runs at its own size" in stuck.note


def test_a_kernelbench_folder_and_its_levels_load_as_one_suite(tmp_path):
    for level, files in {"level1": {"1_Softmax.py": ELEMENTWISE, "10_Inline.py": INLINE_SIZES},
                         "level2": {"2_Conv3d_ReLU.py": CONV}}.items():  # fmt: skip
        (tmp_path / level).mkdir()
        for name, text in files.items():
            (tmp_path / level / name).write_text(text)
    suite = resolve_suite(tmp_path)
    assert [e.name for e in suite.entries] == [
        "level1/1_Softmax", "level1/10_Inline", "level2/2_Conv3d_ReLU"
    ]
    level1 = resolve_suite(tmp_path / "level1")
    assert [e.name for e in level1.entries] == ["1_Softmax", "10_Inline"]
    out = tmp_path / "out"
    path, factor, note = prepare_file(suite, suite.entries[0], out, max_mb=1)
    assert path == out / "level1" / "1_Softmax.py" and factor < 1 and note == ""
    _, factor, note = prepare_file(suite, suite.entries[1], out, max_mb=1)
    assert factor == 1.0 and "not resized" in note


def test_scale_on_a_kernelbench_file_resizes_its_constants(tmp_path):
    (tmp_path / "1_Softmax.py").write_text(ELEMENTWISE)
    suite = resolve_suite(tmp_path)
    path, factor, note = prepare_file(suite, SuiteEntry(file="1_Softmax.py", family="softmax"),
                                      tmp_path / "out", scale=0.001)  # fmt: skip
    assert note == "" and factor == 0.001
    assert "batch_size = 4\n" in path.read_text() and "dim = 393\n" in path.read_text()
    assert Path(path).parent == tmp_path / "out"
