"""Paths the tests share, the one loader of Python files written at test time, and the
environment of a subprocess that runs the repository's code.

Helper modules of the tests are imported normally (``tests`` is a package); only kernel
sources and fixtures that live as plain files (a generated candidate, a problem file) go
through :func:`load_module`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
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
FEWSHOT = REPO / "agents" / "llm_coder" / "fewshot"
"""The LLM coder's few-shot files: real problems and kernels the models are shown."""
SOFTMAX_PROBLEM = FEWSHOT / "reference_softmax.py"
"""The softmax problem (64 x 1000) most evaluator tests run candidates against: the reference
of the coder's few-shot examples, so the example shown to the models is one the tests check."""
TRITON_SOFTMAX = FEWSHOT / "triton_softmax.py"
"""An honest Triton candidate for it (the coder's few-shot Triton answer)."""
KERNELBENCH_SOFTMAX = FIXTURES / "kernelbench" / "23_Softmax.py"
"""KernelBench's own softmax file (level 1, sizes as lower-case module constants)."""

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


IMPORTS = ("torch", "torch.nn as nn", "torch.nn.functional as F")
"""The imports of a problem file :func:`model_source` writes, unless told others."""


def _block(code: str, indent: int = 8) -> str:
    """Lines of code at the indent of a method body (8 spaces), their own nesting kept."""
    return textwrap.indent(textwrap.dedent(code).strip("\n"), " " * indent)


def model_source(
    forward: str,
    inputs: str,
    *,
    args: str = "x",
    init: str = "",
    params: str = "",
    init_inputs: str = "",
    constants: str = "",
    prepare: str = "",
    imports: tuple[str, ...] = IMPORTS,
) -> str:
    """A KernelBench problem file: a ``Model(nn.Module)`` and the functions that build it.

    ``forward`` is the body of ``forward(self, <args>)``; ``init`` the lines that
    ``__init__(self, <params>)`` runs after ``super().__init__()`` (a model with neither has
    no ``__init__``); both are re-indented, their own nesting kept. ``get_inputs`` runs
    ``prepare`` (lines that build what the inputs need) and returns ``[<inputs>]``;
    ``get_init_inputs`` returns ``[<init_inputs>]``; ``constants`` (module-level lines)
    follow the ``imports``.
    """
    head = "".join(f"import {name}\n" for name in imports)
    head += f"\n{_block(constants, 0)}\n" if constants.strip() else ""
    before = f"{_block(prepare, 4)}\n" if prepare.strip() else ""
    constructor = ""
    if init.strip() or params:
        init_lines = f"{_block(init)}\n" if init.strip() else ""
        constructor = (
            f"    def __init__(self{', ' + params if params else ''}):\n"
            f"        super().__init__()\n{init_lines}\n"
        )
    return (
        f"{head}\n\nclass Model(nn.Module):\n{constructor}"
        f"    def forward(self, {args}):\n{_block(forward)}\n\n\n"
        f"def get_inputs():\n{before}    return [{inputs}]\n\n\n"
        f"def get_init_inputs():\n    return [{init_inputs}]\n"
    )


CLI = [sys.executable, "-m", "kevolve.cli"]
"""The ``kevolve`` command, as a subprocess of this interpreter."""


def python_path() -> str:
    """``PYTHONPATH`` for a subprocess: the repository first, then the caller's own entries."""
    return os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])


def cli_env(data_dir: Path | str, **settings: object) -> dict[str, str]:
    """The environment of a ``kevolve`` subprocess over its own ``data_dir``.

    No settings file, no knowledge base, no model from the caller's ``KEVOLVE_LLM_*``
    variables, the repository importable; each of ``settings`` becomes a ``KEVOLVE_<NAME>``
    variable (``max_concurrency=1`` -> ``KEVOLVE_MAX_CONCURRENCY=1``) and may override those.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEVOLVE_LLM_")}
    env |= {
        "KEVOLVE_DATA_DIR": str(data_dir),
        "KEVOLVE_CONFIG": str(Path(data_dir) / "none.toml"),
        "KEVOLVE_USE_KNOWLEDGE": "false",
        "PYTHONPATH": python_path(),
    }
    return env | {f"KEVOLVE_{name.upper()}": str(value) for name, value in settings.items()}


def assert_one_sentence(message: str) -> None:
    """``message`` is one sentence: one line, ending in a full stop, with no other inside."""
    assert message.endswith(".") and message.count(". ") == 0 and "\n" not in message, message


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
