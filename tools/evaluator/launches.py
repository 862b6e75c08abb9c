"""Record the Triton kernels a candidate launches (worker only; patches Triton in-process).

Under ``TRITON_INTERPRET=1`` the launcher is ``InterpretedFunction.run``; on a GPU it is
``JITFunction.run``. While ``recording()`` is active, each launch is captured with what an
ahead-of-time compile needs: the kernel's module and qualified name, its Triton signature
strings (``*fp32``, ``i32``, ``constexpr`` ...), constexpr values, which arguments are
16-byte aligned, ``num_warps``, ``num_stages`` and the concrete grid. On a GPU the compiled
kernel's registers, spills and shared memory are read too. The patch is removed on exit, so
timed calls run the unpatched launcher.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

_DTYPE_NAMES = {
    "float32": "fp32",
    "float16": "fp16",
    "bfloat16": "bf16",
    "float64": "fp64",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "bool": "i1",
    "float8_e4m3fn": "fp8e4nv",
    "float8_e5m2": "fp8e5",
}


@dataclass(kw_only=True)
class LaunchRecord:
    """One Triton kernel launch, as plain data."""

    kernel: str
    qualname: str
    module: str
    arg_names: list[str]
    signature: dict[str, str]
    constexprs: dict[str, Any]
    aligned: list[str]
    """Arguments divisible by 16 (pointers by address, integers by value)."""
    num_warps: int | None = None
    num_stages: int | None = None
    """Launch options as given (``None``: the backend's default, read back after compiling)."""
    grid: list[int] = field(default_factory=lambda: [1, 1, 1])
    tensor_arg_bytes: int = 0
    """Bytes of the distinct tensors passed to the launch (a traffic estimate)."""
    unsupported: str = ""
    """Why this launch cannot be compiled ahead of time, if it cannot."""
    registers: int | None = None
    spills: int | None = None
    shared_bytes: int | None = None

    def key(self) -> tuple[str, str, str, str, int | None, int | None]:
        """Identity of the compiled variant (same key, same binary)."""
        return (
            self.module,
            self.qualname,
            repr(sorted(self.signature.items())),
            repr(sorted(self.constexprs.items(), key=lambda kv: kv[0])),
            self.num_warps,
            self.num_stages,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _is_constexpr(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.strip().endswith("constexpr") or "constexpr" in getattr(annotation, "__name__", "")


def _mangle(arg: Any, specialize: bool) -> str:
    try:
        from triton.runtime.jit import mangle_type

        return str(mangle_type(arg, specialize))
    except Exception:  # older/newer Triton without mangle_type: our own mapping
        if hasattr(arg, "data_ptr") and hasattr(arg, "dtype"):
            return "*" + _DTYPE_NAMES.get(str(arg.dtype).replace("torch.", ""), "fp32")
        if isinstance(arg, bool):
            return "i1"
        if isinstance(arg, int):
            if specialize and arg == 1:
                return "constexpr"
            return "i32" if -(2**31) <= arg < 2**31 else "i64"
        if isinstance(arg, float):
            return "fp32"
        raise


def _json_constexpr(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    name = getattr(value, "name", None)
    if name is not None and type(value).__name__ == "dtype":
        return {"dtype": str(name)}
    inner = getattr(value, "value", None)
    if inner is not None and type(value).__name__ == "constexpr":
        return _json_constexpr(inner)
    raise TypeError(f"constexpr of type {type(value).__name__} cannot be recorded")


def _describe(fn: Callable, jit_obj: Any, args: tuple, kwargs: dict, grid: Any) -> LaunchRecord:
    sig = inspect.signature(fn)
    names = list(sig.parameters)
    params_kw = {k: v for k, v in kwargs.items() if k in sig.parameters}
    bound = sig.bind_partial(*args, **params_kw)
    bound.apply_defaults()
    values = dict(bound.arguments)
    annotations = {k: p.annotation for k, p in sig.parameters.items()}
    no_spec = set(getattr(jit_obj, "kwargs", {}).get("do_not_specialize") or [])
    no_spec |= set(getattr(jit_obj, "do_not_specialize", None) or [])
    rec = LaunchRecord(
        kernel=fn.__name__,
        qualname=fn.__qualname__,
        module=fn.__module__,
        arg_names=names,
        signature={},
        constexprs={},
        aligned=[],
        num_warps=int(kwargs["num_warps"]) if kwargs.get("num_warps") else None,
        num_stages=int(kwargs["num_stages"]) if kwargs.get("num_stages") else None,
    )
    storages: dict[int, int] = {}
    for i, name in enumerate(names):
        value = values.get(name)
        try:
            if _is_constexpr(annotations[name]) or value is None:
                rec.signature[name] = "constexpr"
                rec.constexprs[name] = _json_constexpr(value)
                continue
            specialize = name not in no_spec and i not in no_spec
            ty = _mangle(value, specialize)
            rec.signature[name] = ty
            if ty == "constexpr":
                rec.constexprs[name] = _json_constexpr(value)
            elif hasattr(value, "data_ptr"):
                if value.data_ptr() % 16 == 0:
                    rec.aligned.append(name)
                storage = value.untyped_storage()
                storages[storage.data_ptr()] = storage.nbytes()
            elif isinstance(value, int) and not isinstance(value, bool) and value % 16 == 0:
                rec.aligned.append(name)
        except Exception as e:  # noqa: BLE001 - record what cannot be compiled later, keep running
            rec.unsupported = rec.unsupported or f"argument '{name}': {e}"
    rec.tensor_arg_bytes = sum(storages.values())
    try:
        g = grid(values) if callable(grid) else grid
        g = tuple(int(x) for x in (g if isinstance(g, (tuple, list)) else (g,)))
        rec.grid = list(g + (1,) * (3 - len(g)))
    except Exception as e:  # noqa: BLE001 - candidate or torch code may raise anything
        rec.unsupported = rec.unsupported or f"grid: {e}"
    return rec


class LaunchRecorder:
    """Collects ``LaunchRecord``s; ``on_enter``/``on_exit`` run around each launch."""

    def __init__(self) -> None:
        self.records: list[LaunchRecord] = []
        self.on_enter: list[Callable[[], None]] = []
        self.on_exit: list[Callable[[], None]] = []
        self._resources: dict[int, dict[str, Any]] = {}

    def distinct(self) -> list[LaunchRecord]:
        """One record per compiled variant, in first-launch order."""
        seen: dict[tuple, LaunchRecord] = {}
        for r in self.records:
            seen.setdefault(r.key(), r)
        return list(seen.values())

    def _wrap(self, original: Callable, interpret: bool) -> Callable:
        recorder = self

        def run(jit_self, *args, grid, warmup, **kwargs):
            if warmup:
                return original(jit_self, *args, grid=grid, warmup=warmup, **kwargs)
            fn = getattr(jit_self, "fn", None)
            rec = _describe(fn, jit_self, args, kwargs, grid) if fn is not None else None
            for hook in recorder.on_enter:
                hook()
            try:
                result = original(jit_self, *args, grid=grid, warmup=warmup, **kwargs)
            finally:
                for hook in recorder.on_exit:
                    hook()
            if rec is not None:
                if not interpret and result is not None:
                    _read_compiled(rec, result, recorder._resources)
                recorder.records.append(rec)
            return result

        return run

    @contextlib.contextmanager
    def recording(self, interpret: bool) -> Iterator[LaunchRecorder]:
        """Patch Triton's launcher for the duration of the block."""
        try:
            if interpret:
                from triton.runtime.interpreter import InterpretedFunction as cls
            else:
                from triton.runtime.jit import JITFunction as cls
        except ImportError:
            yield self
            return
        original = cls.run
        cls.run = self._wrap(original, interpret)
        try:
            yield self
        finally:
            cls.run = original


def _read_compiled(rec: LaunchRecord, kernel: Any, cache: dict[int, dict[str, Any]]) -> None:
    """Registers, spills and shared memory of a kernel compiled on this GPU.

    Read from the binary exactly as the ahead-of-time path reads it (``cuobjdump`` on the
    cubin, the AMDGCN metadata), so measured and modeled results report the same numbers;
    the loaded kernel's ``n_regs``/``n_spills``/``metadata.shared`` are the fallback.
    """
    meta = getattr(kernel, "metadata", None)
    if id(kernel) not in cache:
        res: dict[str, Any] = {}
        asm = getattr(kernel, "asm", None) or {}
        backend = "cuda" if "cubin" in asm else "hip" if "amdgcn" in asm else ""
        if backend:
            try:
                from tools.compilers.triton_aot import resources

                res = resources(kernel, backend)
            except Exception as e:  # noqa: BLE001 - a missing tool only loses detail
                logger.info("could not read kernel resources from the binary: %s", e)
        cache[id(kernel)] = res
    res = cache[id(kernel)]
    regs, spills, shared = res.get("registers"), res.get("spill_bytes"), res.get("shared_bytes")
    rec.registers = regs if isinstance(regs, int) else getattr(kernel, "n_regs", None)
    rec.spills = spills if isinstance(spills, int) else getattr(kernel, "n_spills", None)
    if isinstance(shared, int):
        rec.shared_bytes = shared
    elif isinstance(getattr(meta, "shared", None), int):
        rec.shared_bytes = meta.shared
    for attr in ("num_warps", "num_stages"):
        value = getattr(meta, attr, None)
        if isinstance(value, int):
            setattr(rec, attr, value)


def pick_first_autotune_config() -> bool:
    """Under the interpreter, make ``triton.autotune`` take its first config unbenchmarked.

    Returns:
        True when the patch was applied. Benchmarking under the interpreter would time
        Python loops, and its launches would pollute the recorded launches.
    """
    try:
        from triton.runtime.autotuner import Autotuner
    except ImportError:
        return False

    def _bench(self, *args, config, **meta):
        return [0.0, 0.0, 0.0]

    Autotuner._bench = _bench
    return True
