"""Load the reference and candidate modules and build their models, KernelBench style.

Runs inside the worker only. The reference is loaded from a file with a random name and is
never registered in ``sys.modules``, so the candidate has no name to import it by.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import torch


def load_module(path: Path, *, register: bool) -> ModuleType:
    """Execute a Python file as a fresh module with a random name.

    Args:
        path: The source file.
        register: Put the module in ``sys.modules`` (needed by Triton's JIT and dataclasses
            in the candidate; never done for the reference).

    Returns:
        The executed module.
    """
    name = f"_kevolve_{path.stem.strip('_')}_{secrets.token_hex(6)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path.name} as a module")
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def map_tensors(obj: Any, fn) -> Any:
    """Apply ``fn`` to every tensor in a nest of tuples, lists and dicts."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple):
        return tuple(map_tensors(o, fn) for o in obj)
    if isinstance(obj, list):
        return [map_tensors(o, fn) for o in obj]
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    return obj


def tensors_in(obj: Any) -> list[torch.Tensor]:
    """Every tensor in a nest of tuples, lists and dicts, in order."""
    found: list[torch.Tensor] = []
    map_tensors(obj, found.append)
    return found


def clone_tree(obj: Any) -> Any:
    """Deep copy of every tensor in ``obj`` (same strides, new storage)."""
    return map_tensors(obj, lambda t: t.detach().clone())


def draw_inputs(reference: ModuleType, seed: int, device: str) -> list[Any]:
    """Fresh inputs: ``torch.manual_seed(seed); get_inputs()``, moved to ``device``."""
    torch.manual_seed(seed)
    inputs = list(reference.get_inputs())
    return map_tensors(inputs, lambda t: t.to(device))


def build_models(
    reference: ModuleType, candidate: ModuleType, device: str, seed: int
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Build ``Model`` and ``ModelNew`` from the same seed, so parameters created in the
    same order are equal, and move both to ``device``."""
    torch.manual_seed(seed)
    ref = reference.Model(*reference.get_init_inputs())
    torch.manual_seed(seed)
    new = candidate.ModelNew(*reference.get_init_inputs())
    return ref.to(device), new.to(device)


def nbytes(obj: Any) -> int:
    """Bytes held by the tensors in ``obj`` (each tensor's own elements)."""
    return sum(t.numel() * t.element_size() for t in tensors_in(obj))
