"""Shared inputs of the coder tests: KernelBench problems, targets, and the harness runner.

Imported as ``from tests.unit.agents.coders import fixtures as fx``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests import targets
from tests.support import assert_one_sentence, python_path
from tools.errors import ProblemError
from tools.records import Problem

HARNESS = Path(__file__).with_name("harness.py")

# The generators' view of the chips: the evaluator tests' records without the numbers the
# generators do not read (registers, peaks, device names), so seeds stay as written for them.
_PLAIN = {"registers_per_cu": 0, "peak_tflops": {}, "torch_device_names": []}
H100 = targets.H100.model_copy(update={"display_name": "NVIDIA H100 SXM", **_PLAIN})
MI300X = targets.MI300X.model_copy(update={"display_name": "AMD Instinct MI300X", **_PLAIN})
CPU = targets.CPU.model_copy(update={"vendor": "intel", "arch": "x86_64-avx2"})

_ROW = """import torch
import torch.nn as nn

M, N = {M}, {N}


class Model(nn.Module):
    def __init__(self):
        super(Model, self).__init__()

    def forward(self, x):
        return {expr}


def get_inputs():
    return [torch.randn(M, N)]


def get_init_inputs():
    return []
"""
_EXPR = {
    "softmax": "torch.softmax(x, dim=-1)",
    "log_softmax": "torch.log_softmax(x, dim=-1)",
    "sum": "torch.sum(x, dim=-1)",
    "mean": "torch.mean(x, dim=-1)",
    "max": "torch.max(x, dim=-1).values",
    "min": "torch.amin(x, dim=-1)",
    "sigmoid": "torch.sigmoid(x)",
    "tanh": "torch.tanh(x)",
    "cumsum": "torch.cumsum(x, dim=-1)",
    "gelu": "torch.nn.functional.gelu(x)",
    "silu": "torch.nn.functional.silu(x)",
    "relu": "torch.relu(x)",
}
ROW_OPS = (
    "softmax", "log_softmax", "sum", "mean", "max", "cumsum", "gelu", "silu", "relu",
    "layer_norm", "rms_norm", "min", "sigmoid", "tanh",
)  # fmt: skip
"""The row ops :func:`named_problem` builds (its expressions and the two norms)."""
_LINEAR = {"init_args": "k, n", "inputs": "[torch.randn(M, K)]", "init_inputs": "[K, N]"}
_MODULE = {
    "layer_norm": {
        "init_args": "n, eps",
        "init": "self.ln = nn.LayerNorm(n, eps=eps)",
        "expr": "self.ln(x)",
        "inputs": "[torch.randn(M, N) * 3 + 1]",
        "init_inputs": "[N, 1e-5]",
    },
    "rms_norm": {
        "init_args": "n, eps",
        "init": "self.weight = nn.Parameter(torch.ones(n))\n        self.eps = eps",
        "expr": "x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight",
        "inputs": "[torch.randn(M, N)]",
        "init_inputs": "[N, 1e-6]",
    },
    "linear_relu": {
        "init": "self.linear = nn.Linear(k, n)",
        "expr": "torch.relu(self.linear(x))",
        **_LINEAR,
    },
    "linear": {"init": "self.linear = nn.Linear(k, n)", "expr": "self.linear(x)", **_LINEAR},
}
"""The module ops :func:`named_problem` builds: the fields of their source template."""
_MODULE_SRC = """import torch
import torch.nn as nn

M, N, K = {M}, {N}, {K}


class Model(nn.Module):
    def __init__(self, {init_args}):
        super().__init__()
        {init}

    def forward(self, x):
        return {expr}


def get_inputs():
    return {inputs}


def get_init_inputs():
    return {init_inputs}
"""
_MATMUL = """import torch
import torch.nn as nn

M, N, K = {M}, {N}, {K}


class Model(nn.Module):
    def forward(self, A, B):
        return torch.matmul(A, B)


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, N)]


def get_init_inputs():
    return []
"""
CHAIN = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(n))
        self.act = nn.GELU(approximate="tanh")

    def forward(self, x, y):
        z = torch.relu(x * 2 + 1).sigmoid() - x
        z = self.act(z * self.scale) + torch.clamp(y, min=-0.5) ** 2
        return torch.where(z > 0.1, z, torch.tanh(y) / 3)


def get_inputs():
    return [torch.randn(37, 1000), torch.randn(37, 1000)]


def get_init_inputs():
    return [1000]
"""
SIMPLE_CHAIN = CHAIN.replace(
    """        z = torch.relu(x * 2 + 1).sigmoid() - x
        z = self.act(z * self.scale) + torch.clamp(y, min=-0.5) ** 2
        return torch.where(z > 0.1, z, torch.tanh(y) / 3)""",
    "        return torch.relu(x * 2 + 1).sigmoid() - x",
)
"""The brief's example chain: ``torch.relu(x * 2 + 1).sigmoid() - x``."""

ZOO = """import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.silu = nn.SiLU()
        self.leaky = nn.LeakyReLU(0.3)
        self.softplus = nn.Softplus(beta=1.5, threshold=4.0)
        self.hardtanh = nn.Hardtanh(-0.6, 0.8)
        self.register_buffer("shift", torch.linspace(-1, 1, 1000))

    def forward(self, x, y):
        a = F.leaky_relu(x, 0.2) + F.elu(y, alpha=0.7) - F.softplus(x, beta=2.0, threshold=5.0)
        b = F.mish(y) * F.hardsigmoid(x) + F.hardswish(y) - F.hardtanh(x, -0.3, 0.4)
        b = b + F.relu6(y * 4)
        c = torch.log(torch.abs(x) + 1) + torch.sqrt(x * x + 0.5) - torch.rsqrt(y * y + 0.5)
        d = torch.sin(x) * torch.cos(y) + torch.erf(x) - torch.reciprocal(y * y + 1)
        d = d + torch.square(y)
        e = torch.maximum(a, b) - torch.minimum(c, d) + torch.add(x, y, alpha=0.5) + (-x) / 2
        f = self.silu(e) + self.leaky(d) - self.softplus(c) * self.hardtanh(b)
        f = f + x.exp().clamp(max=2.0)
        g = torch.where(x >= 0.1, f, torch.where(y <= -0.2, d.neg(), c.pow(3) / 10)) - self.shift
        h = torch.where(y < x, 1.0, y.abs().sigmoid())
        return torch.where(x != 0.5, g, torch.exp(-x * x)) + h


def get_inputs():
    return [torch.randn(37, 1000), torch.randn(37, 1000)]


def get_init_inputs():
    return []
"""
"""A chain that exercises every fusable op family (activations, math, comparisons, modules)."""

OUTER = CHAIN.replace(
    "return [torch.randn(37, 1000), torch.randn(37, 1000)]",
    "return [torch.randn(37, 1), torch.randn(1, 1000)]",
).replace(
    """        z = torch.relu(x * 2 + 1).sigmoid() - x
        z = self.act(z * self.scale) + torch.clamp(y, min=-0.5) ** 2
        return torch.where(z > 0.1, z, torch.tanh(y) / 3)""",
    "        return torch.sigmoid(x) * y + self.scale",
)
"""No operand has the output's shape: (37, 1) and (1, 1000) broadcast to (37, 1000)."""


def named_problem(
    op: str, M: int = 37, N: int = 1000, K: int = 0, dtype: str = "float32", **params: Any
) -> Problem:
    """A KernelBench problem for a named op, shaped as tools/problems will generate it."""
    if op in _EXPR:
        source = _ROW.format(M=M, N=N, expr=_EXPR[op])
        shapes = [[M, N]]
    elif op == "matmul":
        source, shapes = _MATMUL.format(M=M, N=N, K=K), [[M, K], [K, N]]
    else:
        source = _MODULE_SRC.format(M=M, N=N, K=K, **_MODULE[op])
        shapes = [[M, K]] if op.startswith("linear") else [[M, N]]
    defaults = {
        "layer_norm": {"eps": 1e-5},
        "rms_norm": {"eps": 1e-6},
        "linear_relu": {"bias": True},
        "linear": {"bias": True},
    }.get(op, {})
    if op in _EXPR and op not in ("gelu", "silu", "relu", "sigmoid", "tanh"):
        defaults = {"dim": -1}
    return Problem(
        name=op,
        source=source,
        op=op,
        params={"M": M, "N": N, "K": K, **defaults, **params},
        dtype=dtype,
        shapes=shapes,
        op_family="",
        origin=f"op:{op}",
    )


def chain_problem(source: str = CHAIN, name: str = "chain") -> Problem:
    """A file problem (``op`` None) whose Model is a pointwise chain."""
    return Problem(
        name=name, source=source, op=None, shapes=[[37, 1000], [37, 1000]], origin="test"
    )


FP16 = {"dtype": "float16", "atol": 2e-2, "rtol": 2e-2}
"""The fields of a half-precision harness case, at the usual fp16 tolerance."""


def case(case_id: str, reference: Any, candidate: str, **fields: Any) -> dict[str, Any]:
    """One harness case: a reference (a problem or its source) against a candidate source.

    Seed 0 unless ``seeds`` is given; a problem's dtype is the case's unless ``dtype`` is
    given; other ``fields`` (tolerances, ``targets``, flags) are passed through.
    """
    if isinstance(reference, Problem):
        fields.setdefault("dtype", reference.dtype)
        reference = reference.source
    return {"id": case_id, "reference": reference, "candidate": candidate, "seeds": [0], **fields}


def broken(case_id: str, case: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``case`` with its draft broken on purpose (``old`` replaced by ``new``), as ``case_id``."""
    assert old in case["candidate"], old
    return case | {"id": case_id, "candidate": case["candidate"].replace(old, new)}


def assert_refused(
    analyze: Any, problem: Problem, words: str = "", coder: Any = None, target: Any = H100
) -> str:
    """``analyze(problem)`` refuses with a one-sentence ``ProblemError`` that matches
    ``words``, and ``coder`` (when given) does not support the problem; the message."""
    with pytest.raises(ProblemError, match=words) as info:
        analyze(problem)
    message = str(info.value)
    assert_one_sentence(message)
    if coder is not None:
        assert not coder.supports(problem, target)
    return message


def assert_self_contained(source: str, *forbidden: str) -> None:
    """A draft module stands alone: it defines ``ModelNew`` and compiles, and outside the
    ``ModelNew`` name it names neither the reference's ``Model`` nor ``get_inputs``, has no
    ``try:``, and contains none of ``forbidden``."""
    assert "class ModelNew(nn.Module)" in source, source[:2000]
    rest = source.replace("class ModelNew", "").replace("ModelNew(", "")
    for word in ("Model(", "get_inputs", "try:", *forbidden):
        assert word not in rest, word
    compile(source, "<draft>", "exec")


def run_script(
    script: str | Path, spec: Any, tmp: Path, *, interpret: bool = False, timeout: float = 600
) -> Any:
    """Run a Python script (its path, or its source) in a fresh subprocess; its JSON answer.

    The script gets the path of a file holding ``spec`` as JSON as its one argument and
    prints its answer as JSON on its last line. It runs in ``tmp`` with the repository on
    ``PYTHONPATH`` (so it can import ``tests.support`` and the test helpers) and its caches
    there, under ``TRITON_INTERPRET=1`` only when ``interpret`` is set: the interpreter is
    chosen when triton is imported, hence the fresh process.
    """
    if isinstance(script, str):
        fd, name = tempfile.mkstemp(prefix="script_", suffix=".py", dir=tmp)
        os.close(fd)
        Path(name).write_text(script)
        script = Path(name)
    fd, name = tempfile.mkstemp(prefix="spec_", suffix=".json", dir=tmp)
    os.close(fd)
    Path(name).write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env |= {
        "PYTHONPATH": python_path(),
        "TRITON_CACHE_DIR": str(tmp / "triton_cache"),
        "TORCH_EXTENSIONS_DIR": str(tmp / "torch_extensions"),
        "TRITON_DEFAULT_FP_FUSION": "1",
        "OMP_NUM_THREADS": "2",
    }
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    proc = subprocess.run(
        [sys.executable, str(script), name],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=tmp,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"{script.name} failed (rc={proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_harness(
    mode: str,
    cases: list[dict[str, Any]],
    tmp: Path,
    interpret: bool = False,
    timeout: float = 600,
    harness: Path = HARNESS,
) -> dict[str, dict[str, Any]]:
    """Run ``harness.py`` (or another ``harness``) once over many cases; results by case id."""
    return run_script(
        harness, {"mode": mode, "cases": cases}, tmp, interpret=interpret, timeout=timeout
    )


def run_all_ok(mode: str, cases: list[dict[str, Any]], tmp: Path, **options: Any) -> dict:
    """:func:`run_harness` (same ``options``), asserting that every case (ids are unique) gave
    a result and passed (the failed ones are the message); the results by case id."""
    results = run_harness(mode, cases, tmp, **options)
    failed = {k: v for k, v in results.items() if not v["ok"]}
    assert sorted(results) == sorted(c["id"] for c in cases) and not failed, failed
    return results
