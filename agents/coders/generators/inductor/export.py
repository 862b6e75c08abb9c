"""Run Inductor on a reference in a sandboxed child process and build the exported module.

Compiling the reference runs it, so it never happens in the orchestrator: the child
(:mod:`.export_worker`) gets a scrubbed environment, its own temporary home, a
wall-clock limit and no network where the OS allows (``tools.evaluator.sandbox``). Its
compile caches (Inductor's, Triton's) persist between exports in a per-user temporary folder
that no candidate evaluation uses.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agents.coders.generators.inductor.render import export_source
from tools.errors import ProblemError
from tools.evaluator.sandbox import child_env, run_sandboxed
from tools.records import Problem

logger = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("export_worker.py")
EXPORT_TIMEOUT_S = 600.0
"""Wall-clock limit of one export (Inductor compiles, autotunes and builds C++ there)."""


@dataclass(frozen=True)
class Export:
    """One exported module and what produced it."""

    source: str
    """The complete ``ModelNew`` module."""
    torch_version: str
    options: tuple[tuple[str, object], ...]
    """The Inductor settings it was compiled with (empty: defaults)."""
    dynamic: bool
    """Compiled with symbolic sizes."""


def _device(kind: str) -> str:
    return "cpu" if kind == "cpu" else "cuda"


@functools.lru_cache(maxsize=64)
def _run_worker(source: str, device: str, dynamic: bool, options_json: str) -> dict:
    """The worker's JSON answer for one reference, device, shape mode and settings (cached)."""
    options = json.loads(options_json)
    request = json.dumps(
        {"source": source, "device": device, "dynamic": dynamic, "options": options}
    )
    with tempfile.TemporaryDirectory(prefix="kevolve-inductor-") as tmp:
        home = Path(tmp)
        cache = Path(tempfile.gettempdir()) / f"kevolve-inductor-export-{os.getuid()}"
        run = run_sandboxed(
            [sys.executable, str(WORKER)],
            cwd=home,
            env=child_env(home=home, cache_dir=cache, interpret=False),
            timeout_s=EXPORT_TIMEOUT_S,
            stdout_path=home / "stdout.json",
            stderr_path=home / "stderr.txt",
            stdin_text=request,
            isolate_network=True,
        )
        text = (home / "stdout.json").read_text(errors="replace").strip()
    if run.timed_out:
        return {"ok": False, "reason": f"Inductor did not finish within {EXPORT_TIMEOUT_S:.0f} s"}
    try:
        return json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        tail = run.stderr_tail.strip().splitlines()[-3:]
        return {"ok": False, "reason": f"the export process failed: {' | '.join(tail)[:500]}"}


def export_problem(
    problem: Problem,
    target_kind: str,
    options: dict[str, object] | None = None,
    *,
    dynamic: bool = True,
) -> Export:
    """Inductor's kernels for ``problem`` as a standalone ``ModelNew`` module.

    Args:
        problem: The KernelBench reference.
        target_kind: ``"cpu"`` (C++ kernels) or ``"gpu"`` (Triton kernels; the GPU must be on
            this machine).
        options: ``torch._inductor.config`` settings to compile with (``max_autotune``...).
        dynamic: Compile with symbolic sizes (kernels valid at every shape) rather than for
            the problem's own shapes (torch.compile's default, and its fastest code).

    Raises:
        ProblemError: Inductor cannot compile the reference into one graph, or its code
            cannot be exported (the message says why).
    """
    opts = dict(sorted((options or {}).items()))
    answer = _run_worker(problem.source, _device(target_kind), dynamic, json.dumps(opts))
    if not answer.get("ok"):
        raise ProblemError(f"no Inductor export for {problem.name}: {answer.get('reason')}")
    source = export_source(
        problem_name=problem.name,
        reference_source=problem.source,
        output_code=answer["code"],
        arg_exprs=answer["args"],
        n_outputs=int(answer["n_outputs"]),
        output_kind=answer["output"],
        torch_version=answer["torch"],
        kernel_kind="C++ kernels" if target_kind == "cpu" else "Triton kernels",
    )
    logger.info(
        "exported Inductor's kernels for %s (%s, %s)",
        problem.name,
        hashlib.sha1(source.encode()).hexdigest()[:8],
        opts or "default settings",
    )
    return Export(
        source=source,
        torch_version=answer["torch"],
        options=tuple(opts.items()),
        dynamic=dynamic,
    )
