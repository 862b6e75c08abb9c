"""Load the reference and candidate modules and build their models, KernelBench style.

Runs inside the worker only. The reference is loaded from a file with a random name and is
never registered in ``sys.modules``, so the candidate has no name to import it by.
"""

from __future__ import annotations

import importlib.util
import random
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


def seed_everything(seed: int) -> None:
    """Seed torch (every device), Python's ``random`` and NumPy's global generator, so a
    ``get_inputs`` that draws lengths with any of them draws the same again for a seed."""
    torch.manual_seed(seed)
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with torch's usual installs
        return
    np.random.seed(seed % (2**32))


def draw_inputs(reference: ModuleType, seed: int, device: str) -> list[Any]:
    """Fresh inputs for ``seed``: ``get_inputs()`` with every generator seeded
    (``seed_everything``), created on ``device`` directly where ``get_inputs`` allows it.

    Factory calls (``torch.randn``, ``torch.randint``, ...) run under ``torch.device(device)``
    so a multi-GB input is drawn on the GPU, never built on the host and copied; a
    ``get_inputs`` that fails there (host-only code) is drawn on the host and moved. The
    same seed gives the same inputs on the same device, sizes included (jagged problems).
    """
    if device != "cpu":
        seed_everything(seed)
        try:
            with torch.device(device):
                inputs = list(reference.get_inputs())
            return map_tensors(inputs, lambda t: t.to(device))
        except Exception as e:  # noqa: BLE001 - host-only get_inputs: draw on the host below
            from tools.evaluator.memory import is_out_of_memory

            if is_out_of_memory(e):
                raise
    seed_everything(seed)
    inputs = list(reference.get_inputs())
    return map_tensors(inputs, lambda t: t.to(device))


def _layout(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return ("T", tuple(obj.shape), obj.dtype, obj.device.type)
    if isinstance(obj, (tuple, list)):
        return [_layout(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _layout(v) for k, v in sorted(obj.items())}
    return repr(obj)


def same_layout(a: Any, b: Any) -> bool:
    """True when two input nests differ only in tensor values: same structure, tensor
    shapes, dtypes and devices, and equal non-tensor leaves (lengths, flags)."""
    return _layout(a) == _layout(b)


STAT_BUFFERS = ("running_mean", "running_var")
"""Buffers perturbed with the parameters (norm-layer statistics). Rationale: other buffers
(a causal mask, a position table) often encode structure an honest kernel may hard-code."""

PERTURB_SCALE = 0.1
"""Each perturbed value moves by up to this fraction of its tensor's RMS (by up to 0.1 when
the tensor is all zeros): a ones-weight becomes 0.9..1.1, a running variance stays > 0."""


def _perturbable(module: torch.nn.Module) -> list[torch.Tensor]:
    """Floating parameters, then the norm-statistics buffers, in registration order."""
    found = [p for p in module.parameters() if p.is_floating_point()]
    found += [
        b
        for name, b in module.named_buffers()
        if b.is_floating_point() and name.rsplit(".", 1)[-1] in STAT_BUFFERS
    ]
    return found


def perturb_parameters(ref: torch.nn.Module, new: torch.nn.Module, seed: int) -> str | None:
    """Replace default weights (LayerNorm's ones and zeros) by seeded random values in both
    models, so a candidate that ignores a weight or bias fails.

    The reference's floating parameters and norm statistics each move by a uniform random
    fraction (``PERTURB_SCALE``) of their RMS; the same values are copied into ``ModelNew``'s
    tensors in registration order when both lists match one to one in shape. A ``ModelNew``
    with no such tensors cannot take real weights, so only the reference moves.

    Returns:
        ``None`` when both models were perturbed (or had nothing to perturb), else a note
        on why the KernelBench behaviour (equal seeded init, no perturbation) was kept.
    """
    ref_ts, new_ts = _perturbable(ref), _perturbable(new)
    if not ref_ts:
        return None
    if new_ts and [tuple(t.shape) for t in ref_ts] != [tuple(t.shape) for t in new_ts]:
        return (
            "parameters not randomised: ModelNew's parameters do not match the reference's "
            "one to one in shape, so both keep their seeded initialisation (KernelBench)"
        )
    gen = torch.Generator().manual_seed(seed + 0x5EED)
    with torch.no_grad():
        for i, t in enumerate(ref_ts):
            finite = torch.isfinite(t)
            vals = t.detach().float().cpu()
            kept = vals[finite.cpu()]
            rms = float(kept.pow(2).mean().sqrt()) if kept.numel() else 0.0
            noise = torch.rand(t.shape, generator=gen) * 2 - 1
            moved = torch.where(finite.cpu(), vals + PERTURB_SCALE * (rms or 1.0) * noise, vals)
            t.copy_(moved.to(t.dtype))
            if new_ts:
                new_ts[i].copy_(t.to(new_ts[i].device, new_ts[i].dtype))
    if not new_ts:
        return (
            "ModelNew holds no parameters, so it cannot take the reference's weights; only "
            "the reference's were randomised"
        )
    return None


def build_models(
    reference: ModuleType, candidate: ModuleType, device: str, seed: int
) -> tuple[torch.nn.Module, torch.nn.Module, str | None]:
    """Build ``Model`` and ``ModelNew`` from the same seed (parameters created in the same
    order are equal), randomise their weights (``perturb_parameters``), move both to
    ``device``, and return them with the randomisation note (``None`` when all went well)."""
    torch.manual_seed(seed)
    ref = reference.Model(*reference.get_init_inputs())
    torch.manual_seed(seed)
    new = candidate.ModelNew(*reference.get_init_inputs())
    note = perturb_parameters(ref, new, seed)
    return ref.to(device), new.to(device), note


def nbytes(obj: Any) -> int:
    """Bytes held by the tensors in ``obj`` (each tensor's own elements)."""
    return sum(t.numel() * t.element_size() for t in tensors_in(obj))
