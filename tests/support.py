"""Paths the tests share, and the one loader of Python files written at test time.

Helper modules of the tests are imported normally (``tests`` is a package); only kernel
sources and fixtures that live as plain files (a generated candidate, a problem file) go
through :func:`load_module`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
"""The repository root."""
SUITE = REPO / "evals" / "problems" / "kernelbench_h100"
"""The KernelBench H100 problem suite."""
FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""Kernel and problem files shared by the unit, adversarial and GPU tests."""
EVALUATOR_FIXTURES = FIXTURES / "evaluator"
ADVERSARIAL_FIXTURES = REPO / "tests" / "adversarial" / "fixtures"
SOFTMAX_PROBLEM = EVALUATOR_FIXTURES / "softmax_problem.py"
"""The softmax problem most evaluator tests run candidates against."""

ELEMENTWISE = """import torch
from torch import nn

ROWS, COLS = {rows}, 1024


class Model(nn.Module):
    def forward(self, x):
        return torch.relu(x) * 2.0 + 1.0


def get_inputs():
    return [torch.randn(ROWS, COLS)]


def get_init_inputs():
    return []
"""
"""A memory-bound problem of ``rows`` x 1024 fp32 numbers (``ELEMENTWISE.format(rows=...)``)."""


def load_module(path: Path | str, name: str | None = None, *, register: bool = False) -> ModuleType:
    """Import the Python file at ``path`` as module ``name`` (default: the file's stem).

    ``register`` puts it in ``sys.modules`` first, which Triton's JIT and dataclasses need
    to find a module's source and globals again.
    """
    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
