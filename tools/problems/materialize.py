"""Run a KernelBench problem's source cheaply: on the meta device, or on CPU under a byte cap.

Reading a problem's input shapes must not allocate its tensors: a 100000x100000 input is
40 GB. Everything here runs under :func:`meta_device`, which sends every tensor to
``torch.device("meta")`` -- even one created with an explicit ``device="cuda"`` or moved with
``.cuda()`` / ``.to(device)`` -- so shapes and dtypes are known without any storage.
When the meta device cannot run a file (a data-dependent ``.item()``, an op without a meta
kernel), :func:`cpu_guard` runs it for real on CPU but refuses any allocation past a cap.

The source is executed in this process: a problem file is the user's own reference code,
trusted like any script they run; candidates (untrusted) go through the sandboxed evaluator.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import sys
import types
from collections.abc import Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

CPU_FALLBACK_MAX_BYTES = 512 * 2**20
"""Most bytes the CPU fallback may allocate in total before it is stopped."""

_counter = itertools.count()


class AllocationCapExceeded(RuntimeError):
    """The CPU fallback tried to allocate more than its cap."""


@functools.lru_cache(1)
def _constructors() -> frozenset[Any]:
    """Torch factory functions that take a ``device`` argument."""
    names = (
        "empty", "empty_strided", "empty_permuted", "ones", "zeros", "full", "arange",
        "linspace", "logspace", "eye", "rand", "randn", "randint", "randperm", "range",
        "tensor", "as_tensor", "asarray", "scalar_tensor", "tril_indices", "triu_indices",
        "empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like",
        "randint_like", "normal",
    )  # fmt: skip
    return frozenset(getattr(torch, n) for n in names if hasattr(torch, n))


def _dtype_in(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.dtype | None:
    """The dtype a ``Tensor.to`` call asks for, if any."""
    if isinstance(kwargs.get("dtype"), torch.dtype):
        return kwargs["dtype"]
    for a in args[1:]:
        if isinstance(a, torch.dtype):
            return a
        if isinstance(a, torch.Tensor):
            return a.dtype
    return None


class _PinToMeta(TorchFunctionMode):
    """Keeps every tensor on the meta device, whatever device the code names."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = dict(kwargs or {})
        if func in _constructors():
            kwargs["device"] = "meta"
            kwargs.pop("pin_memory", None)
        elif func in (torch.Tensor.cuda, torch.Tensor.cpu):
            return args[0]
        elif func is torch.Tensor.to:
            dtype = _dtype_in(args, kwargs)
            return args[0] if dtype is None else func(args[0], dtype)
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_device() -> Iterator[None]:
    """Run the body with every new tensor on the meta device (no storage is allocated).

    Yields:
        Nothing; use as ``with meta_device(): ...``.
    """
    with torch.device("meta"), _PinToMeta():
        yield


def _size_request(args: Any) -> int:
    """Largest element count among the integer size lists in a factory call's arguments."""
    largest = 0
    for a in args:
        is_size = isinstance(a, (list, tuple)) and a
        if is_size and all(isinstance(d, (int, torch.SymInt)) for d in a):
            largest = max(largest, math.prod(int(d) for d in a))
    return largest


class _ByteCap(TorchDispatchMode):
    """Stops a CPU run before one allocation, or all of them together, pass a byte cap."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.used_bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        if not any(isinstance(a, torch.Tensor) for a in flat):
            dtype = kwargs.get("dtype") or torch.get_default_dtype()
            itemsize = torch.empty((), dtype=dtype, device="meta").element_size()
            self._charge(_size_request(args) * itemsize, func, commit=False)
        out = func(*args, **kwargs)
        outs, _ = tree_flatten(out)
        self._charge(sum(t.nbytes for t in outs if isinstance(t, torch.Tensor)), func, commit=True)
        return out

    def _charge(self, nbytes: int, func: Any, *, commit: bool) -> None:
        if self.used_bytes + nbytes > self.max_bytes:
            raise AllocationCapExceeded(
                f"{func} would take the CPU fallback past {self.max_bytes // 2**20} MiB"
            )
        if commit:
            self.used_bytes += nbytes


@contextlib.contextmanager
def cpu_guard(max_bytes: int = CPU_FALLBACK_MAX_BYTES) -> Iterator[None]:
    """Run the body on CPU for real, raising :class:`AllocationCapExceeded` past ``max_bytes``.

    Args:
        max_bytes: Total bytes of tensor outputs allowed, checked before each factory call.

    Yields:
        Nothing; use as ``with cpu_guard(): ...``.
    """
    with torch.device("cpu"), _ByteCap(max_bytes):
        yield


def exec_source(source: str, filename: str) -> dict[str, Any]:
    """Execute problem source as a fresh module and return its namespace.

    Run it inside :func:`meta_device` or :func:`cpu_guard`; this function sets neither.
    The module is registered in ``sys.modules`` only while its top level runs (so that
    decorators such as ``dataclass`` can find it).

    Args:
        source: KernelBench Python source.
        filename: Name shown in tracebacks.

    Returns:
        The module's global namespace.
    """
    name = f"_kevolve_problem_{next(_counter)}"
    module = types.ModuleType(name)
    module.__file__ = filename
    code = compile(source, filename, "exec")
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    finally:
        sys.modules.pop(name, None)
    return module.__dict__


def call_get_inputs(namespace: dict[str, Any]) -> list[Any]:
    """Call the namespace's ``get_inputs()`` and return its items as a list."""
    inputs = namespace["get_inputs"]()
    if isinstance(inputs, torch.Tensor):
        return [inputs]
    return list(inputs)


def build_model(namespace: dict[str, Any]) -> torch.nn.Module:
    """Construct ``Model(*get_init_inputs())`` from the namespace (under the caller's device)."""
    init = namespace["get_init_inputs"]()
    init_args = list(init) if isinstance(init, (list, tuple)) else [init]
    return namespace["Model"](*init_args)


def instantiate(source: str, filename: str) -> tuple[torch.nn.Module, list[Any]]:
    """The reference ``Model`` of ``source`` and its ``get_inputs()``, under the caller's device.

    The inputs are drawn before the model is built (its weights come after them from the
    same random stream), the order every caller relies on.
    """
    namespace = exec_source(source, filename)
    inputs = call_get_inputs(namespace)
    return build_model(namespace), inputs


def footprint(model: torch.nn.Module, inputs: list[Any]) -> int:
    """Bytes of the input tensors plus the model's parameters and buffers."""
    tensors = [x for x in inputs if isinstance(x, torch.Tensor)]
    tensors += list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
