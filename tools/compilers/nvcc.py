"""Compile-check CUDA C++ for an NVIDIA target with ``nvcc`` (no GPU needed) and read the
per-kernel resources ptxas reports (``--resource-usage``).

Optional: used only where ``nvcc`` is on ``PATH``. The evaluator does not wire it in yet (a
CUDA candidate's kernels live in Python strings passed to ``load_inline``; capturing them
is a later step), but a coder or a test can check a kernel source directly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tools.errors import CompileError

_ENTRY_RE = re.compile(r"Compiling entry function '([^']+)' for '(sm_\w+)'")
_STACK_RE = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads"
)
_USED_RE = re.compile(r"Used (\d+) registers")
_SMEM_RE = re.compile(r"(\d+) bytes smem")


def nvcc_path() -> str | None:
    """Path of ``nvcc``, or ``None`` when it is not installed."""
    return shutil.which("nvcc")


def parse_resource_usage(text: str) -> list[dict[str, object]]:
    """Per-kernel resources from ``ptxas info`` lines (``nvcc --resource-usage`` output).

    Returns:
        One dict per entry function: ``name`` (mangled), ``arch``, ``registers``,
        ``stack_bytes``, ``spill_store_bytes``, ``spill_load_bytes``, ``shared_bytes``.
    """
    kernels: list[dict[str, object]] = []
    for line in text.splitlines():
        entry = _ENTRY_RE.search(line)
        if entry:
            kernels.append({"name": entry.group(1), "arch": entry.group(2)})
            continue
        if not kernels:
            continue
        current = kernels[-1]
        stack = _STACK_RE.search(line)
        if stack:
            current["stack_bytes"], current["spill_store_bytes"], current["spill_load_bytes"] = (
                int(x) for x in stack.groups()
            )
        used = _USED_RE.search(line)
        if used:
            current["registers"] = int(used.group(1))
            smem = _SMEM_RE.search(line)
            current["shared_bytes"] = int(smem.group(1)) if smem else 0
    return kernels


def resource_usage(
    source: str, arch: str = "sm_90", *, extra_flags: tuple[str, ...] = (), timeout_s: float = 300
) -> list[dict[str, object]]:
    """Compile ``source`` (a ``.cu`` translation unit) for ``arch`` and report its kernels.

    Args:
        source: CUDA C++ source.
        arch: ``sm_90``, ``sm_80`` ...
        extra_flags: More nvcc flags (``-O3``, ``-I...``).
        timeout_s: Wall-clock limit for nvcc.

    Returns:
        See ``parse_resource_usage``.

    Raises:
        CompileError: nvcc is missing, timed out, or rejected the source (its message kept).
    """
    nvcc = nvcc_path()
    if nvcc is None:
        raise CompileError(
            "nvcc is not on PATH; install the CUDA toolkit to compile-check CUDA C++."
        )
    with tempfile.TemporaryDirectory(prefix="kevolve-nvcc-") as tmp:
        src = Path(tmp) / "kernel.cu"
        src.write_text(source)
        cmd = [
            nvcc,
            f"-arch={arch}",
            "--resource-usage",
            "-c",
            str(src),
            "-o",
            str(Path(tmp) / "kernel.o"),
            *extra_flags,
        ]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, check=False, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as e:
            raise CompileError(
                f"nvcc timed out after {timeout_s:.0f} s compiling for {arch}."
            ) from e
    if proc.returncode != 0:
        raise CompileError(
            f"nvcc could not compile the kernel for {arch}: {proc.stderr.strip()[-2000:]}"
        )
    return parse_resource_usage(proc.stdout + proc.stderr)
