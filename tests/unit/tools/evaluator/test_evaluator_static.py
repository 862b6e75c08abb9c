"""Static checks: each rule fires on its hack and stays quiet on honest candidates."""

from __future__ import annotations

import pytest

from tests.support import EVALUATOR_FIXTURES, TRITON_SOFTMAX
from tools.evaluator.static_checks import check_source

FIXTURES = EVALUATOR_FIXTURES

MODEL_NEW = "import torch\nimport torch.nn as nn\nclass ModelNew(nn.Module):\n    pass\n"


@pytest.mark.parametrize("path", [FIXTURES / "pytorch_softmax.py", TRITON_SOFTMAX], ids=["pytorch", "triton"])
def test_honest_candidates_pass(path):
    assert check_source(path.read_text()) == []


@pytest.mark.parametrize(
    ("snippet", "rule"),
    [
        ("y = Model()(x)", "reference_model_used"),
        ("y = get_inputs()", "reference_model_used"),
        ("y = getattr(m, 'Model')", "reference_model_used"),
        ("try:\n    pass\nexcept Exception:\n    pass", "no_try"),
        ("import threading", "concurrency"),
        ("from multiprocessing import Pool", "concurrency"),
        ("s = torch.cuda.Stream()", "streams"),
        ("import torch.cuda as tc\ns = tc.Stream()", "streams"),
        ("import time\ntime.perf_counter = lambda: 0", "module_patching"),
        ("import time as t\nt.time = None", "module_patching"),
        ("torch.allclose = lambda *a, **k: True", "module_patching"),
        ("torch.cuda.Event.elapsed_time = None", "module_patching"),
        ("import triton.testing\ntriton.testing.do_bench = None", "module_patching"),
        ("setattr(torch, 'isclose', None)", "module_patching"),
        ("import os\nos.environ['TRITON_INTERPRET'] = '0'", "module_patching"),
        ("import sys\nm = sys.modules", "introspection"),
        ("import gc", "introspection"),
        ("exec('x = 1')", "dynamic_code"),
        ("import os\nos._exit(0)", "process_control"),
        ("import subprocess", "process_control"),
        ("from tools.evaluator import worker", "evaluator_access"),
        ("import ctypes", "introspection"),
        ("m = torch.sys.modules", "introspection"),
        ("m = getattr(torch, 'sys')", "introspection"),
        ("name = 'sys'\nm = getattr(torch, name)", "introspection"),
        ("import statistics\nd = getattr(statistics, '__di' + 'ct__')", "introspection"),
        ("def f():\n    pass\nc = f.__code__", "introspection"),
        ("g = (lambda: (yield))()\nfr = g.gi_frame", "introspection"),
        ("b = __builtins__['open']", "introspection"),
    ],
)
def test_rule_fires(snippet, rule):
    violations = check_source(MODEL_NEW + snippet + "\n")
    assert rule in {v.rule for v in violations}, violations
    assert all(v.line > 0 for v in violations)


def test_missing_model_new_and_syntax_error():
    assert [v.rule for v in check_source("import torch\nclass Other:\n    pass\n")] == [
        "defines_model_new"
    ]
    assert [v.rule for v in check_source("def broken(:\n")] == ["syntax"]


def test_own_helpers_named_like_reference_functions_are_allowed():
    src = MODEL_NEW + "def get_inputs():\n    return []\nx = get_inputs()\n"
    assert check_source(src) == []


def test_reference_ops_policy():
    src = MODEL_NEW + "def f(x):\n    return torch.softmax(x, -1), torch.empty_like(x)\n"
    assert check_source(src, allow_reference_ops=True) == []
    violations = check_source(src, allow_reference_ops=False)
    assert [v.rule for v in violations] == ["reference_op_used"]
    assert "torch.softmax" in violations[0].message


def test_network_and_file_access_are_rejected():
    cases = {
        "import socket\n": "network",
        "from urllib.request import urlopen\n": "network",
        "data = open('/tmp/x').read()\n": "filesystem_access",
        "import os\nnames = os.listdir('..')\n": "filesystem_access",
        "import numpy as np\nref = np.load('out.npy')\n": "filesystem_access",
        "import torch as t\nt.save({}, '/tmp/leak.pt')\n": "filesystem_access",
        "from pathlib import Path\n": "filesystem_access",
    }
    for snippet, rule in cases.items():
        assert rule in [v.rule for v in check_source(MODEL_NEW + snippet)], snippet
    # A method that happens to be called ``open`` is not file access.
    assert check_source(MODEL_NEW + "def f(door):\n    return door.open()\n") == []
