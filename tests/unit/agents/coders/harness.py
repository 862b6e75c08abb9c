"""Subprocess harness for the coder tests: check candidates against references, or compile them.

Usage: ``python harness.py SPEC.json`` prints one JSON object, ``{case_id: result}``.

- ``mode: "check"`` runs reference and candidate in this process (set ``TRITON_INTERPRET=1``
  in the environment for Triton) on a few seeds and compares outputs; inputs may be made
  non-contiguous and cast to a dtype. A C++ case with ``ctypes: true`` compiles the
  module's ``_KV_KERNEL_CPP`` alone with g++ and loads it through ctypes in place of the
  pybind11 extension (fast); without it the module builds its extension with ``load_inline``.
- ``mode: "compile"`` (no interpreter) captures every Triton launch of one forward call and
  compiles it ahead of time with ``triton.compile`` for each target (``cuda:90``, ``hip:gfx942``).

Kept outside pytest's collection (no ``test_`` prefix); tests run it by path
(:func:`tests.unit.agents.coders.fixtures.run_harness`).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import torch

from tests.support import load_module

_TORCH_TO_TRITON = {
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.int64: "i64",
    torch.int32: "i32",
    torch.bool: "i1",
}


def load_source(source: str, name: str) -> dict[str, Any]:
    """Import a source from a real file (Triton's JIT reads kernel source from files)."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:12]
    path = Path(tempfile.mkdtemp(prefix="kv_harness_")) / f"{name}_{digest}.py"
    path.write_text(source)
    return load_module(path, register=True).__dict__


def strided(t: torch.Tensor) -> torch.Tensor:
    """The same values in a non-contiguous view (every other column of a wider buffer)."""
    if t.dim() == 0:
        return t
    wide = torch.empty(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)[..., ::2]
    wide.copy_(t)
    return wide


class CtypesExt:
    """Calls the kernel's extern "C" entry points via ctypes (ints -> int64, floats -> double)."""

    def __init__(self, path: str | Path) -> None:
        self._lib = ctypes.CDLL(str(path))

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._lib, name)

        def call(*args: Any) -> None:
            fn.restype = None
            fn.argtypes = [
                ctypes.c_double if isinstance(a, float) else ctypes.c_int64 for a in args
            ]
            fn(*args)

        return call


def _build_ctypes(kernel_cpp: str) -> str:
    """Compile the kernel text alone (no pybind11) into a shared library; returns its path."""
    directory = Path(tempfile.mkdtemp(prefix="kv_cpp_"))
    (directory / "kernel.cpp").write_text(kernel_cpp)
    flags = [
        "-O2",
        "-march=native",
        "-fopenmp",
        "-fno-math-errno",
        "-Wall",
        "-Werror",
        "-shared",
        "-fPIC",
    ]
    proc = subprocess.run(
        ["g++", *flags, "kernel.cpp", "-o", "kernel.so"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"g++ failed: {proc.stderr[-2000:]}")
    return str(directory / "kernel.so")


def cast_floats(t: Any, dtype: torch.dtype) -> Any:
    """``t`` in ``dtype`` when it is a floating-point tensor; anything else as it is."""
    return t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t


def check(case: dict[str, Any], *, integer_inputs: bool = False) -> dict[str, Any]:
    """Reference (fp32) vs candidate (case dtype) on a few seeds; the first failure, or the
    worst error.

    ``integer_inputs``: index, offset and length inputs reach the reference as they are (not
    as floats), and NaNs in the same places compare equal (empty bags and segments).
    """
    ref_ns = load_source(case["reference"], "reference")
    new_ns = load_source(case["candidate"], "candidate")
    if case.get("ctypes"):
        new_ns["_KV_EXT"] = CtypesExt(_build_ctypes(new_ns["_KV_KERNEL_CPP"]))
    dtype = getattr(torch, case.get("dtype", "float32"))
    worst = 0.0
    for seed in case.get("seeds", [0, 1]):
        torch.manual_seed(seed)
        ref = ref_ns["Model"](*ref_ns["get_init_inputs"]())
        torch.manual_seed(seed)
        new = new_ns["ModelNew"](*ref_ns["get_init_inputs"]())
        torch.manual_seed(1000 + seed)
        inputs = [cast_floats(t, dtype) for t in ref_ns["get_inputs"]()]
        new = new.to(dtype)
        cand_inputs = [strided(t) if case.get("noncontiguous") else t.clone() for t in inputs]
        before = [t.clone() for t in cand_inputs]
        out = new(*cand_inputs)
        with torch.no_grad():  # the reference in fp32
            ref_inputs = [
                cast_floats(t, torch.float32) if integer_inputs else t.float() for t in inputs
            ]
            expected = ref.float()(*ref_inputs)
        if any(not torch.equal(a, b) for a, b in zip(before, cand_inputs, strict=True)):
            return {"ok": False, "error": "candidate mutated its inputs"}
        if tuple(out.shape) != tuple(expected.shape):
            return {"ok": False, "error": f"shape {tuple(out.shape)} != {tuple(expected.shape)}"}
        if case.get("check_dtype", True) and out.dtype != dtype:
            return {"ok": False, "error": f"dtype {out.dtype} != {dtype}"}
        err = (out.float() - expected).abs()
        if integer_inputs:
            err = err.nan_to_num(0.0)
        worst = max(worst, float(err.max()) if err.numel() else 0.0)
        atol, rtol = case.get("atol", 1e-4), case.get("rtol", 1e-4)
        if not torch.allclose(out.float(), expected, atol=atol, rtol=rtol, equal_nan=integer_inputs):
            return {
                "ok": False,
                "error": f"mismatch, max abs err {float(err.max())}",
                "max_abs_err": worst,
            }
    return {"ok": True, "max_abs_err": worst}


def signature_of(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict, dict, dict]:
    names = list(fn.arg_names)
    bound = dict(zip(names, args, strict=False))
    options = {k: v for k, v in kwargs.items() if k not in names}
    bound |= {k: v for k, v in kwargs.items() if k in names}
    constexpr_names = {p.name for p in fn.params if p.is_constexpr}
    signature, constexprs = {}, {}
    for name in names:
        value = bound[name]
        if name in constexpr_names:
            signature[name], constexprs[name] = "constexpr", value
        elif isinstance(value, torch.Tensor):
            signature[name] = "*" + _TORCH_TO_TRITON[value.dtype]
        elif isinstance(value, bool):
            signature[name] = "i1"
        elif isinstance(value, int):
            signature[name] = "i32" if -(2**31) <= value < 2**31 else "i64"
        else:
            signature[name] = "fp32"
    return signature, constexprs, options


def capture_launches(namespace: dict[str, Any]) -> list[tuple[Any, tuple, dict]]:
    """Turn every Triton kernel of a loaded module into a recorder: a launch runs nothing and
    appends ``(kernel, args, kwargs)`` to the returned list, for compiling ahead of time."""
    from triton.runtime.jit import JITFunction

    launches: list[tuple[Any, tuple, dict]] = []

    def capture(fn: Any) -> Any:
        def run(*args: Any, grid: Any, warmup: bool, **kwargs: Any) -> None:
            launches.append((fn, args, kwargs))

        return run

    for value in list(namespace.values()):
        if isinstance(value, JITFunction):
            value.run = capture(value)
    return launches


def compile_case(case: dict[str, Any]) -> dict[str, Any]:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    ref_ns = load_source(case["reference"], "reference")
    new_ns = load_source(case["candidate"], "candidate")
    launches = capture_launches(new_ns)
    torch.manual_seed(0)
    model = new_ns["ModelNew"](*ref_ns["get_init_inputs"]())
    dtype = getattr(torch, case.get("dtype", "float32"))
    model(*[t.to(dtype) for t in ref_ns["get_inputs"]()])
    if not launches:
        return {"ok": False, "error": "no kernel launch captured"}
    kernels = []
    for spec in case["targets"]:
        backend, arch = spec.split(":")
        target = GPUTarget(
            backend, int(arch) if backend == "cuda" else arch, 32 if backend == "cuda" else 64
        )
        for fn, args, kwargs in launches:
            signature, constexprs, options = signature_of(fn, args, kwargs)
            if backend == "cuda":
                options = {k: v for k, v in options.items() if k in ("num_warps", "num_stages")}
            compiled = triton.compile(
                ASTSource(fn, signature, constexprs), target=target, options=options
            )
            info = {"target": spec, "kernel": fn.__name__, "shared": compiled.metadata.shared}
            if backend == "hip":
                text = compiled.asm["amdgcn"]
                info["vgpr_spill"] = int(text.split(".vgpr_spill_count:")[1].split()[0])
            kernels.append(info)
    return {"ok": True, "kernels": kernels}


def main(check_case: Any = None, compile_one: Any = None) -> None:
    """Run every case of the spec file ``sys.argv[1]``; print ``{case_id: result}`` as JSON.

    ``check_case`` and ``compile_one`` replace :func:`check` and :func:`compile_case` (a
    harness for other inputs reuses the rest).
    """
    check_case, compile_one = check_case or check, compile_one or compile_case
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results = {}
    for case in spec["cases"]:
        try:
            results[case["id"]] = (
                compile_one(case) if spec["mode"] == "compile" else check_case(case)
            )
        except Exception as e:  # noqa: BLE001 - report every failure as data
            results[case["id"]] = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "trace": traceback.format_exc()[-3000:],
            }
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
