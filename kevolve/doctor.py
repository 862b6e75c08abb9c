"""``kevolve doctor``: what this machine can do for kevolve."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from typing import Any


def _version(cmd: list[str]) -> str:
    exe = shutil.which(cmd[0])
    if exe is None:
        return "not found"
    try:
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"found at {exe}, but it did not answer: {e}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # The line that carries the version (g++ ends with its licence, nvcc with a build id).
    versioned = [line for line in lines if re.search(r"\d+\.\d+", line)]
    line = versioned[0] if versioned else (lines[0] if lines else "unknown version")
    return f"{line} ({exe})"


def devices() -> dict[str, Any]:
    """CPU and GPUs visible here, matched to the hardware registry."""
    import torch

    from tools.hardware import detect_local_gpu, host_cpu_info

    cpu = host_cpu_info()
    info: dict[str, Any] = {
        "cpu": f"{cpu.get('model_name', platform.processor())} ({cpu.get('cores', '?')} cores)",
        "cpu ISA": " ".join(cpu.get("isa_features", cpu.get("flags", [])))[:200],
        "torch": torch.__version__,
        "cuda available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        gpu = detect_local_gpu()
        info["gpu registry target"] = gpu.name if gpu else "not in the registry"
    else:
        info["gpu"] = "none: GPU targets are checked in the Triton interpreter and modeled"
    return info


def toolchains() -> dict[str, Any]:
    """Compilers kevolve can use here."""
    result: dict[str, Any] = {
        "g++ (CPU C++ kernels)": _version(["g++", "--version"]).splitlines()[0],
        "nvcc (CUDA C++)": _version(["nvcc", "--version"]),
        "hipcc (HIP C++)": _version(["hipcc", "--version"]),
        "ncu (Nsight Compute, `kevolve check --profile ncu`)": _ncu(),
    }
    try:
        import triton

        result["triton"] = triton.__version__
        result["triton AOT targets"] = _triton_targets()
    except ImportError as e:
        result["triton"] = f"not importable: {e}"
    return result


def _ncu() -> str:
    """Where ``ncu`` is and its version; whether it may read the GPU counters shows only when
    it runs (``ERR_NVGPUCTRPERM`` becomes a note on the result)."""
    from tools.evaluator.ncu import find_ncu

    exe = find_ncu()
    if exe is None:
        return "not found: --profile ncu adds a note instead of Nsight Compute records"
    return _version([exe, "--version"])


def _triton_targets() -> str:
    from triton.backends import backends

    return ", ".join(sorted(backends)) + " (sm_90 and gfx942 compile without a GPU)"


def sandbox() -> dict[str, Any]:
    """Which protections the evaluator's sandbox has on this machine: each entry says
    ``active: ...`` or ``not available: ...`` (network namespace, Landlock file-system
    isolation, the device lock, limits, the result token, ...)."""
    try:
        from tools.evaluator.sandbox import protections
    except ImportError:
        return {"sandbox": "evaluator sandbox module missing"}
    return dict(protections())


PACKAGES = ("kevolve", "torch", "triton", "numpy", "pydantic", "langgraph", "langchain-core",
            "chromadb", "sentence-transformers", "fastapi", "uvicorn", "sqlalchemy", "matplotlib")


def versions() -> dict[str, Any]:
    """Installed versions of Python and the packages kevolve runs on."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, Any] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def collect() -> dict[str, dict[str, Any]]:
    """Everything ``kevolve doctor`` reports, by section."""
    return {"versions": versions(), "devices": devices(), "toolchains": toolchains(),
            "sandbox": sandbox()}  # fmt: skip
