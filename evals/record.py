"""Write a benchmark figure into ``evals/results/`` with its provenance.

Every recorded figure carries the device it was measured on, the date, the commit and the
exact command that produced it; modeled figures say ``modeled`` in their own fields.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def device_name() -> str:
    """The CUDA device name, else the host CPU model."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name()
    except ImportError:
        pass
    from tools.hardware_host import host_cpu_info

    info = host_cpu_info()
    return f"{info.get('model_name', platform.processor())} ({info.get('cores')} cores)"


def commit() -> str:
    """The commit being measured (``KEVOLVE_COMMIT`` where the tree has no .git)."""
    if os.environ.get("KEVOLVE_COMMIT"):
        return os.environ["KEVOLVE_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record(name: str, command: str, payload: dict[str, Any], out_dir: Path) -> Path:
    """Write ``<out_dir>/<name>.json`` with provenance and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": name,
        "device": device_name(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "command": command,
        **payload,
    }
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path
