"""Named ops generate runnable KernelBench files; files load with shapes, dtype and op."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest
import torch
import torch.nn.functional as F

from tests import support
from tools.errors import ProblemError
from tools.problems.loader import load_problem, load_problem_file, parse_shape
from tools.problems.ops import OP_FAMILIES, _environment, list_ops

MNK_OPS = {"matmul", "linear", "linear_relu"}

REQUIRED_PARAMS = {
    "softmax": {"dim": -1}, "log_softmax": {"dim": -1}, "layer_norm": {"eps": 1e-5},
    "rms_norm": {"eps": 1e-6}, "gelu": {"approximate": "none"}, "silu": {}, "relu": {},
    "sum": {"dim": -1}, "mean": {"dim": -1}, "max": {"dim": -1}, "cumsum": {"dim": -1},
    "matmul": {}, "linear_relu": {"bias": True},
}  # fmt: skip
"""The op names and params the coders rely on (the contract of tools/problems/ops.py)."""

REQUIRED_FAMILIES = {
    "softmax": "softmax", "log_softmax": "softmax", "layer_norm": "norm", "rms_norm": "norm",
    "gelu": "pointwise", "silu": "pointwise", "relu": "pointwise", "sum": "reduction",
    "mean": "reduction", "max": "reduction", "cumsum": "scan", "matmul": "matmul",
    "linear_relu": "matmul",
}  # fmt: skip


def _randomise_parameters(model: torch.nn.Module) -> None:
    """Give every parameter random values so a kernel that ignores one would be caught."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))


def _reference(op: str, model: torch.nn.Module, inputs: list[torch.Tensor]) -> torch.Tensor:
    """What each named op must compute, written independently of the templates."""
    x = inputs[0]
    params = dict(model.named_parameters())
    return {
        "softmax": lambda: torch.softmax(x, -1),
        "log_softmax": lambda: torch.log_softmax(x, -1),
        "layer_norm": lambda: F.layer_norm(
            x, (x.shape[-1],), params["ln.weight"], params["ln.bias"], 1e-5
        ),
        "rms_norm": lambda: x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6)
        * params["weight"],
        "gelu": lambda: F.gelu(x),
        "silu": lambda: x * torch.sigmoid(x),
        "relu": lambda: torch.clamp(x, min=0),
        "sigmoid": lambda: 1 / (1 + torch.exp(-x)),
        "tanh": lambda: torch.tanh(x),
        "sum": lambda: x.sum(-1),
        "mean": lambda: x.mean(-1),
        "max": lambda: x.max(-1).values,
        "min": lambda: x.min(-1).values,
        "argmax": lambda: x.max(-1).indices,
        "cumsum": lambda: torch.cumsum(x, -1),
        "matmul": lambda: x @ inputs[1],
        "linear": lambda: x @ params["linear.weight"].T + params["linear.bias"],
        "linear_relu": lambda: torch.relu(x @ params["linear.weight"].T + params["linear.bias"]),
        "mse_loss": lambda: ((x - inputs[1]) ** 2).mean(),
        "cross_entropy": lambda: -torch.log_softmax(x, -1)[torch.arange(len(x)), inputs[1]].mean(),
    }[op]()


def _run(source: str) -> tuple[torch.nn.Module, list[Any], Any]:
    """Run a problem the way KernelBench's harness does: exec, Model(*init), forward."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "problem.py", "exec"), namespace)
    torch.manual_seed(0)
    model = namespace["Model"](*namespace["get_init_inputs"]())
    _randomise_parameters(model)
    inputs = namespace["get_inputs"]()
    return model, inputs, model(*inputs)


def _small_shape(op: str) -> str:
    return "8x16x4" if op in MNK_OPS else "8x16"


def test_required_ops_names_params_and_families() -> None:
    ops = list_ops()
    for op, params in REQUIRED_PARAMS.items():
        problem = load_problem(op, shape=_small_shape(op))
        assert op in ops
        assert {k: problem.params[k] for k in params} == params, op
        assert problem.op_family == REQUIRED_FAMILIES[op] == OP_FAMILIES[op]


@pytest.mark.parametrize("op", list_ops())
def test_generated_op_runs_and_matches_torch(op: str) -> None:
    problem = load_problem(op, shape=_small_shape(op))
    model, inputs, out = _run(problem.source)
    assert problem.op == op and problem.name == op and problem.origin == f"op:{op}"
    assert problem.shapes == [list(t.shape) for t in inputs]
    assert problem.dtype == "float32"
    assert inputs[0].float().std() > 0.5  # torch.randn, never zeros
    torch.testing.assert_close(out, _reference(op, model, inputs))


@pytest.mark.parametrize("op", list_ops())
def test_default_shapes_are_documented_sizes(op: str) -> None:
    problem = load_problem(op)
    if op in MNK_OPS:
        assert (problem.params["M"], problem.params["N"], problem.params["K"]) == (2048,) * 3
        assert problem.shapes[0] == [2048, 2048]
    else:
        assert problem.shapes[0] == [4096, 8192]
        assert (problem.params["M"], problem.params["N"]) == (4096, 8192)


def test_row_shape_override_with_more_dims_keeps_last_dim_as_row() -> None:
    problem = load_problem("softmax", shape="2x3x16")
    _, inputs, out = _run(problem.source)
    assert problem.shapes == [[2, 3, 16]]
    assert (problem.params["M"], problem.params["N"]) == (6, 16)
    torch.testing.assert_close(out.sum(-1), torch.ones(2, 3))


def test_matmul_shape_is_m_n_k() -> None:
    problem = load_problem("matmul", shape="8x16x4")
    _, _, out = _run(problem.source)
    assert problem.shapes == [[8, 4], [4, 16]]
    assert problem.params == {"M": 8, "N": 16, "K": 4}
    assert out.shape == (8, 16)


def test_linear_relu_shape_is_batch_out_in() -> None:
    problem = load_problem("linear_relu", shape="8x16x4")
    model, _, out = _run(problem.source)
    assert problem.shapes == [[8, 4]]
    assert (model.linear.in_features, model.linear.out_features) == (4, 16)
    assert out.shape == (8, 16) and bool((out >= 0).all())


@pytest.mark.parametrize(("op", "shape", "needle"), [
    ("matmul", "8x16", "MxNxK"),
    ("linear_relu", "8x16x4x2", "MxNxK"),
    ("cross_entropy", "2x8x16", "MxN"),
])  # fmt: skip
def test_shape_of_wrong_rank_is_one_sentence(op: str, shape: str, needle: str) -> None:
    with pytest.raises(ProblemError, match=needle) as info:
        load_problem(op, shape=shape)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "dims"), [
    ("4096x8192", [4096, 8192]), ("4096,8192", [4096, 8192]), ("(4, 8)", [4, 8]),
    ("4 x 8 x 2", [4, 8, 2]), ("16", [16]), ("2X3", [2, 3]),
])  # fmt: skip
def test_parse_shape_accepts(text: str, dims: list[int]) -> None:
    assert parse_shape(text) == dims


@pytest.mark.parametrize("text", ["", "4096xabc", "0x4", "-1x4", "4x", "4.5x2"])
def test_parse_shape_rejects(text: str) -> None:
    with pytest.raises(ProblemError, match="positive integers"):
        parse_shape(text)


@pytest.mark.parametrize(("given", "expected", "torch_dtype"), [
    ("fp16", "float16", torch.float16), ("half", "float16", torch.float16),
    ("bf16", "bfloat16", torch.bfloat16), ("torch.bfloat16", "bfloat16", torch.bfloat16),
    ("FP32", "float32", torch.float32),
])  # fmt: skip
def test_dtype_override(given: str, expected: str, torch_dtype: torch.dtype) -> None:
    for op in ("layer_norm", "rms_norm", "linear_relu"):  # parameters must follow the dtype
        problem = load_problem(op, shape=_small_shape(op), dtype=given)
        _, inputs, out = _run(problem.source)
        assert problem.dtype == expected
        assert inputs[0].dtype == torch_dtype and out.dtype == torch_dtype


def test_unsupported_dtype_is_one_sentence() -> None:
    with pytest.raises(ProblemError, match="float32, float16 or bfloat16") as info:
        load_problem("softmax", dtype="int8")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("alias", "op"), [
    ("log-softmax", "log_softmax"), ("LogSoftmax", "log_softmax"), ("logsoftmax", "log_softmax"),
    ("layernorm", "layer_norm"), ("LayerNorm", "layer_norm"), ("rmsnorm", "rms_norm"),
    ("RMSNorm", "rms_norm"), ("linear+relu", "linear_relu"), ("linear_relu", "linear_relu"),
    ("mm", "matmul"), ("MM", "matmul"), ("torch.softmax", "softmax"), ("F.gelu", "gelu"),
    ("swish", "silu"), ("amax", "max"), ("  Softmax ", "softmax"),
    ("cross-entropy", "cross_entropy"),
])  # fmt: skip
def test_aliases(alias: str, op: str) -> None:
    assert load_problem(alias, shape=_small_shape(op)).op == op


def test_unknown_op_lists_known_ops_and_file_paths() -> None:
    with pytest.raises(ProblemError) as info:
        load_problem("softmaxx")
    message = str(info.value)
    assert "softmaxx" in message and ".py" in message and "\n" not in message
    assert all(op in message for op in list_ops())


def test_templates_fail_loudly_on_a_missing_variable() -> None:
    with pytest.raises(jinja2.UndefinedError):
        _environment().get_template("unary.py.j2").render(op="softmax")


KERNELBENCH_SOFTMAX = (
    support.KERNELBENCH_SOFTMAX.read_text()
    .replace("batch_size = 4096", "batch_size = 16")
    .replace("dim = 393216", "dim = 16384")
)
"""KernelBench's softmax file, at 16 x 16384."""


def test_kernelbench_file_loads_with_shapes_and_inferred_op(tmp_path: Path) -> None:
    path = tmp_path / "23_Softmax.py"
    path.write_text(KERNELBENCH_SOFTMAX)
    problem = load_problem(str(path))
    assert problem.name == "23_Softmax"
    assert problem.origin == str(path.resolve())
    assert problem.source == KERNELBENCH_SOFTMAX
    assert problem.shapes == [[16, 16384]] and problem.dtype == "float32"
    assert (problem.op, problem.op_family) == ("softmax", "softmax")
    assert problem.params == {"dim": 1, "M": 16, "N": 16384}
    assert load_problem_file(path) == problem


def test_overrides_on_a_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.py"
    path.write_text(KERNELBENCH_SOFTMAX)
    with pytest.raises(ProblemError, match="named ops only"):
        load_problem(str(path), shape="4x4")


def test_missing_file_is_named() -> None:
    with pytest.raises(ProblemError, match="nowhere.py"):
        load_problem("nowhere.py")


_GOOD_PARTS = {
    "Model": "class Model(nn.Module):\n    def forward(self, x):\n        return x * 2\n",
    "get_inputs": "def get_inputs():\n    return [torch.randn(4, 8)]\n",
    "get_init_inputs": "def get_init_inputs():\n    return []\n",
}


def _file_without(tmp_path: Path, *missing: str) -> Path:
    parts = [text for name, text in _GOOD_PARTS.items() if name not in missing]
    path = tmp_path / "broken.py"
    path.write_text("import torch\nimport torch.nn as nn\n\n" + "\n".join(parts))
    return path


@pytest.mark.parametrize("missing", [("Model",), ("get_inputs",), ("get_init_inputs",),
                                     ("get_inputs", "get_init_inputs")])  # fmt: skip
def test_malformed_file_names_what_is_missing_in_one_line(
    tmp_path: Path, missing: tuple[str, ...]
) -> None:
    with pytest.raises(ProblemError) as info:
        load_problem_file(_file_without(tmp_path, *missing))
    message = str(info.value)
    assert "\n" not in message and "broken.py" in message
    assert all(f"no `{name}" in message for name in missing)
    present = [name for name in _GOOD_PARTS if name not in missing]
    assert not any(f"no `{name}" in message for name in present)


def test_model_defined_as_function_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.py"
    path.write_text("def Model():\n    pass\n" + _GOOD_PARTS["get_inputs"]
                    + _GOOD_PARTS["get_init_inputs"])  # fmt: skip
    with pytest.raises(ProblemError, match="`Model` as a function, not a class"):
        load_problem_file(path)


def test_syntax_error_gives_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("import torch\n\ndef get_inputs(:\n    return []\n")
    with pytest.raises(ProblemError, match="bad.py has a syntax error at line 3") as info:
        load_problem_file(path)
    assert "\n" not in str(info.value)


def test_failing_get_inputs_is_one_sentence_with_the_cause(tmp_path: Path) -> None:
    path = tmp_path / "raises.py"
    source = "".join(_GOOD_PARTS.values()).replace(
        "return [torch.randn(4, 8)]", "raise ValueError('no inputs today\\nsecond line')"
    )
    path.write_text("import torch\nimport torch.nn as nn\n" + source)
    with pytest.raises(ProblemError, match="ValueError: no inputs today") as info:
        load_problem_file(path)
    assert "\n" not in str(info.value)


def test_meta_loading_does_not_allocate(tmp_path: Path) -> None:
    path = tmp_path / "huge.py"
    path.write_text(
        "import torch\nimport torch.nn as nn\n"
        "class Model(nn.Module):\n"
        "    def __init__(self, k, n):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(k, n)\n"
        "    def forward(self, x):\n"
        "        return torch.relu(self.fc(x))\n"
        "def get_inputs():\n"
        "    return [torch.randn(100000, 100000, device='cuda')]\n"  # 40 GB, on no GPU
        "def get_init_inputs():\n"
        "    return [100000, 100000]\n"
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    problem = load_problem_file(path)
    assert time.perf_counter() - start < 5.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 512 * 1024  # KiB
    assert problem.shapes == [[100000, 100000]]
    assert problem.op == "linear_relu"
    assert problem.params == {"bias": True, "M": 100000, "N": 100000, "K": 100000}


def test_cpu_fallback_when_meta_cannot_run(tmp_path: Path) -> None:
    path = tmp_path / "item.py"
    path.write_text(
        "import torch\nimport torch.nn as nn\n"
        "class Model(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.cumsum(x, dim=-1)\n"
        "def get_inputs():\n"
        "    rows = int(torch.tensor([6]).item())\n"  # data-dependent: impossible on meta
        "    return [torch.randint(0, 4, (rows,)), torch.randn(rows, 8).half()]\n"
        "def get_init_inputs():\n"
        "    return []\n"
    )
    problem = load_problem_file(path)
    assert problem.shapes == [[6], [6, 8]]
    assert problem.dtype == "float16"  # the first floating input, not the first input


def test_cpu_fallback_refuses_huge_inputs(tmp_path: Path) -> None:
    path = tmp_path / "item_huge.py"
    path.write_text(
        "import torch\nimport torch.nn as nn\n"
        "class Model(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x\n"
        "def get_inputs():\n"
        "    rows = int(torch.tensor([100000]).item())\n"
        "    return [torch.randn(rows, 100000)]\n"
        "def get_init_inputs():\n"
        "    return []\n"
    )
    start = time.perf_counter()
    with pytest.raises(ProblemError, match="too large") as info:
        load_problem_file(path)
    assert time.perf_counter() - start < 5.0
    assert "\n" not in str(info.value)
