"""Compile a Triton kernel ahead of time for a chip that is not here, and read its resources.

``triton.compile(ASTSource(...), target=GPUTarget(...))`` runs on a CPU-only machine: it
produces a cubin for NVIDIA targets and AMDGCN assembly plus an HSACO for AMD ones. From
those we read registers per thread, spills and shared memory (LDS):

- NVIDIA: ``cuobjdump --dump-resource-usage`` (shipped in the Triton wheel under
  ``triton/backends/nvidia/bin``) prints ``REG``, ``SHARED`` (static) and ``LOCAL`` (spill
  and local arrays, bytes per thread); Triton's ``metadata.shared`` is the dynamic shared
  memory the launch asks for. We report their sum: what a block occupies. (Seen here: a
  Triton reduction's cubin shows ``SHARED:1024`` while its PTX declares only the dynamic
  ``extern`` array -- most likely the 1 KiB per block sm_80+ reserves for the system, which
  does count against the SM's shared memory.) Without cuobjdump, ``ptxas -v`` on the PTX.
- AMD: the ``.amdhsa``/metadata directives in ``asm["amdgcn"]``: ``.vgpr_count``,
  ``.agpr_count``, ``.sgpr_count``, ``.vgpr_spill_count``, ``.group_segment_fixed_size``
  (static LDS) and ``.private_segment_fixed_size`` (scratch bytes per work-item).

Must run in a process where ``TRITON_INTERPRET`` is unset (the worker starts one).
"""

from __future__ import annotations

import inspect
import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tools.errors import CompileError

logger = logging.getLogger(__name__)

_CUOBJDUMP_RE = re.compile(r"REG:(\d+)\s+STACK:(\d+)\s+SHARED:(\d+)\s+LOCAL:(\d+)")
_PTXAS_REGS_RE = re.compile(r"Used (\d+) registers")
_PTXAS_SPILL_RE = re.compile(r"(\d+) bytes spill stores")
_PTXAS_SMEM_RE = re.compile(r"(\d+) bytes smem")


def _nvidia_tool(name: str) -> str | None:
    import triton

    bundled = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name
    if bundled.exists():
        return str(bundled)
    return shutil.which(name)


def make_ast_source(
    fn: Any, signature: dict[str, str], constexprs: dict[str, Any], attrs: dict
) -> Any:
    """Build an ``ASTSource`` whatever this Triton calls its keywords (3.2+: ``constexprs``;
    3.0/3.1: ``constants``)."""
    from triton.compiler import ASTSource

    params = inspect.signature(ASTSource.__init__).parameters
    kwargs: dict[str, Any] = {"fn": fn, "signature": signature}
    if "constexprs" in params:
        kwargs["constexprs"] = constexprs
    elif "constants" in params:
        kwargs["constants"] = constexprs
    if "attrs" in params and attrs:
        kwargs["attrs"] = attrs
    return ASTSource(**kwargs)


def _constexpr_value(value: Any) -> Any:
    if isinstance(value, dict) and "dtype" in value:
        import triton.language as tl

        return tl.dtype(value["dtype"])
    return value


def compile_launch(
    fn: Any, launch: dict[str, Any], backend: str, arch: int | str, warp_size: int
) -> Any:
    """Compile one recorded launch (see ``tools.evaluator.launches.LaunchRecord``).

    Args:
        fn: The ``triton.runtime.jit.JITFunction``.
        launch: The record: ``signature``, ``constexprs``, ``aligned``, and ``num_warps`` /
            ``num_stages`` when the launch chose them (else the backend's defaults).
        backend: ``cuda`` or ``hip``.
        arch: ``90`` or ``"gfx942"``.
        warp_size: 32 or 64.

    Returns:
        Triton's compiled kernel (``.asm``, ``.metadata``).

    Raises:
        CompileError: When Triton cannot compile the kernel for this target.
    """
    import triton
    from triton.backends.compiler import GPUTarget

    signature = dict(launch["signature"])
    constexprs = {k: _constexpr_value(v) for k, v in launch["constexprs"].items()}
    names = list(signature)
    attrs = {
        (names.index(a),): [["tt.divisibility", 16]]
        for a in launch.get("aligned", [])
        if a in signature and signature[a] != "constexpr"
    }
    target = GPUTarget(backend, arch, warp_size)
    options = {k: int(launch[k]) for k in ("num_warps", "num_stages") if launch.get(k)}
    try:
        try:
            source = make_ast_source(fn, signature, constexprs, attrs)
            return triton.compile(source, target=target, options=options)
        except (TypeError, AssertionError, KeyError):
            if not attrs:
                raise
            logger.info("compile with alignment attributes failed; retrying without them")
            source = make_ast_source(fn, signature, constexprs, {})
            return triton.compile(source, target=target, options=options)
    except Exception as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise CompileError(
            f"Triton could not compile {launch.get('kernel', '?')} for {backend}:{arch}: {first}"
        ) from e


def nvidia_resources(kernel: Any) -> dict[str, Any]:
    """Registers, spill/local bytes and shared memory of a kernel compiled for NVIDIA."""
    dynamic_shared = int(getattr(kernel.metadata, "shared", 0) or 0)
    out: dict[str, Any] = {"dynamic_shared_bytes": dynamic_shared}
    cubin = kernel.asm.get("cubin")
    tool = _nvidia_tool("cuobjdump")
    if cubin and tool:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kernel.cubin"
            path.write_bytes(cubin)
            proc = subprocess.run(
                [tool, "--dump-resource-usage", str(path)],
                capture_output=True,
                check=False,
                text=True,
                timeout=60,
            )
        match = _CUOBJDUMP_RE.search(proc.stdout)
        if match:
            reg, _stack, shared, local = (int(x) for x in match.groups())
            out.update(
                registers=reg,
                spill_bytes=local,
                static_shared_bytes=shared,
                shared_bytes=shared + dynamic_shared,
                source="cuobjdump",
            )
            return out
    ptx = kernel.asm.get("ptx")
    ptxas = _nvidia_tool("ptxas")
    arch = getattr(kernel.metadata.target, "arch", 90) if hasattr(kernel.metadata, "target") else 90
    if ptx and ptxas:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kernel.ptx"
            path.write_text(ptx)
            proc = subprocess.run(
                [
                    ptxas,
                    "-v",
                    f"--gpu-name=sm_{arch}a" if int(arch) >= 90 else f"--gpu-name=sm_{arch}",
                    str(path),
                    "-o",
                    str(Path(tmp) / "k.o"),
                ],
                capture_output=True,
                check=False,
                text=True,
                timeout=120,
            )
        text = proc.stdout + proc.stderr
        regs = _PTXAS_REGS_RE.search(text)
        if regs:
            spill = _PTXAS_SPILL_RE.search(text)
            smem = _PTXAS_SMEM_RE.search(text)
            static = int(smem.group(1)) if smem else 0
            out.update(
                registers=int(regs.group(1)),
                spill_bytes=int(spill.group(1)) if spill else 0,
                static_shared_bytes=static,
                shared_bytes=static + dynamic_shared,
                source="ptxas -v",
            )
            return out
    out.update(shared_bytes=dynamic_shared, source="metadata.shared only")
    return out


def _amd_field(text: str, name: str) -> int | None:
    match = re.search(rf"^\s*\.{name}:\s*(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def amd_resources(kernel: Any) -> dict[str, Any]:
    """VGPRs, SGPRs, spills, scratch and LDS of a kernel compiled for AMD (AMDGCN text)."""
    text = kernel.asm.get("amdgcn", "")
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    vgpr = _amd_field(text, "vgpr_count")
    agpr = _amd_field(text, "agpr_count") or 0
    lds_static = _amd_field(text, "group_segment_fixed_size") or 0
    dynamic = int(getattr(kernel.metadata, "shared", 0) or 0)
    return {
        "registers": None if vgpr is None else vgpr + agpr,
        "vgprs": vgpr,
        "agprs": agpr,
        "sgprs": _amd_field(text, "sgpr_count"),
        "vgpr_spill_count": _amd_field(text, "vgpr_spill_count"),
        "sgpr_spill_count": _amd_field(text, "sgpr_spill_count"),
        "spill_bytes": _amd_field(text, "private_segment_fixed_size"),
        "static_shared_bytes": lds_static,
        "dynamic_shared_bytes": dynamic,
        "shared_bytes": lds_static + dynamic,
        "source": "amdgcn metadata",
    }


def resources(kernel: Any, backend: str) -> dict[str, Any]:
    """Resource usage of a compiled kernel for ``backend`` (``cuda`` or ``hip``), with the
    ``num_warps``/``num_stages`` it was compiled with."""
    out = nvidia_resources(kernel) if backend == "cuda" else amd_resources(kernel)
    for key in ("num_warps", "num_stages"):
        value = getattr(kernel.metadata, key, None)
        if isinstance(value, int):
            out[key] = value
    return out
