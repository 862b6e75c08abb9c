"""Is the target chip on this machine, and what is it called?

``tools.hardware.device_present`` is the registry's answer; this module defers to it when it
is importable and otherwise applies the same rule itself: a CPU target is always present; a
GPU target is present when ``torch.cuda`` sees a device whose name contains one of the
target's ``torch_device_names``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import subprocess
import sys
from typing import Any

from tools.evaluator.sandbox import PASSTHROUGH_VARS, python_path
from tools.records.target import Target

logger = logging.getLogger(__name__)


def cpu_name() -> str:
    """``"<cpu model> (N cores)"`` for this process (cores it may run on)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        cores = os.cpu_count() or 1
    return f"{model} ({cores} cores)"


def _local_present(target: Target) -> tuple[bool, str]:
    if target.kind == "cpu":
        return True, cpu_name()
    import torch

    if not torch.cuda.is_available():
        return False, ""
    name = torch.cuda.get_device_name(0)
    wanted = [n.lower() for n in target.torch_device_names]
    return any(w in name.lower() for w in wanted), name


def target_present(target: Target) -> tuple[bool, str]:
    """Whether ``target`` is on this machine, and the device name if it is.

    Args:
        target: The chip record.

    Returns:
        ``(present, device_name)``; the name is empty when nothing matching was found.
    """
    try:
        from tools.hardware import device_present  # type: ignore[attr-defined]
    except ImportError:
        return _local_present(target)
    return device_present(target)


_PROBE = (
    "import sys, json\n"
    "from tools.records.target import Target\n"
    "from tools.evaluator.device import target_present\n"
    "t = Target.model_validate_json(sys.stdin.read())\n"
    "print(json.dumps(target_present(t)))\n"
)


def _run_probe(code: str, what: str, stdin: str | None = None) -> Any:
    """Run ``code`` in a short subprocess (scrubbed environment) and return the JSON of its
    last stdout line, or ``None`` (logged as a failed ``what``)."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=stdin,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if k in PASSTHROUGH_VARS},
            "PYTHONPATH": python_path(os.environ),
        },
    )
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        logger.warning("%s failed: %s", what, proc.stderr[-500:])
        return None


@functools.lru_cache(maxsize=32)
def _probe(target_json: str) -> tuple[bool, str]:
    answer = _run_probe(_PROBE, "device probe", stdin=target_json)
    if answer is None:
        return False, ""
    present, name = answer
    return bool(present), str(name)


def target_present_isolated(target: Target) -> tuple[bool, str]:
    """``target_present`` for the orchestrator, without initialising CUDA in its process.

    A CPU target is answered here. For a GPU target, a torch without a visible device
    answers ``False`` at once; otherwise a short subprocess asks (cached per target), so the
    long-lived orchestrator never holds a CUDA context.
    """
    if target.kind == "cpu":
        return target_present(target)
    import torch

    if not torch.cuda.is_available():
        return False, ""
    return _probe(target.model_dump_json())


_FREE_PROBE = (
    "import json, torch\n"
    "free, total = torch.cuda.mem_get_info(0)\n"
    "print(json.dumps([free, total]))\n"
)


def free_memory_bytes(device: str) -> int:
    """Free memory of ``device`` (``cuda`` or a slot ``cuda:<gpu>``: this process's GPU 0, by
    ``torch.cuda.mem_get_info`` in a short subprocess that sees the same visible devices, so
    the orchestrator holds no CUDA context; ``cpu``: ``MemAvailable``).
    A failed GPU probe answers 0: admission then runs one evaluation at a time."""
    from tools.evaluator.admission import cpu_free_bytes

    if device.split(":")[0] != "cuda":
        return cpu_free_bytes()
    answer = _run_probe(_FREE_PROBE, "device memory probe")
    if answer is None:
        return 0
    free, _total = answer
    return int(free)
