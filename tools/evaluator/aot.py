"""Ahead-of-time compile of the Triton kernels a candidate launched, for the target chip.

The worker runs under ``TRITON_INTERPRET=1``, where ``@triton.jit`` yields interpreter
objects that cannot be compiled. So it starts a second sandboxed process,
``python -m tools.evaluator.aot aot_request.json`` without that variable; that process
imports the candidate again (now with real ``JITFunction``s), compiles each recorded
launch with ``tools.compilers.triton_aot`` and writes ``aot_result.json`` carrying the token
it was given on stdin.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from tools.evaluator.sandbox import (
    REPO_ROOT,
    cap_address_space,
    cap_files,
    child_env,
    run_sandboxed,
)
from tools.records.target import Target

AOT_REQUEST = "aot_request.json"
AOT_RESULT = "aot_result.json"


def package_root(workdir: Path) -> Path:
    """A folder in the candidate's own directory holding a link to the repository's
    ``tools`` package. A child started after the worker confined itself (Landlock) may
    read ``tools/`` but not list the repository root, so ``-m tools...`` finds its package
    here instead (where kevolve is installed in editable mode the finder needs neither)."""
    root = workdir / "_kv_pkgroot"
    link = root / "tools"
    if not link.exists():
        root.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO_ROOT / "tools", target_is_directory=True)
    return root


def run_aot(
    launches: list[dict[str, Any]],
    *,
    candidate_file: Path,
    target: Target,
    workdir: Path,
    cache_dir: Path,
    timeout_s: float,
    memory_limit_mib: int | None,
) -> list[dict[str, Any]]:
    """Compile every distinct launch for ``target`` in a fresh subprocess.

    Args:
        launches: ``LaunchRecord.to_json()`` of each distinct compiled variant.
        candidate_file: The candidate's source file (imported again by the subprocess).
        target: The chip; ``target.triton_target`` must be set.
        workdir: The per-candidate directory (cwd of the subprocess).
        cache_dir: Shared compile caches.
        timeout_s: Wall-clock limit for all compiles together.
        memory_limit_mib: Address space the subprocess may add once Triton is imported.

    Returns:
        One dict per launch: its record fields plus ``resources`` or ``error``.

    Raises:
        RuntimeError: When the subprocess times out, crashes or returns no valid result.
    """
    assert target.triton_target is not None
    tt = target.triton_target
    request = {
        "candidate_file": str(candidate_file),
        "backend": tt.backend,
        "arch": tt.arch,
        "warp_size": tt.warp_size,
        "launches": launches,
        "memory_limit_mib": memory_limit_mib,
    }
    (workdir / AOT_REQUEST).write_text(json.dumps(request))
    token = secrets.token_hex(16)
    env = child_env(home=workdir, cache_dir=cache_dir, interpret=False)
    env["PYTHONPATH"] = os.pathsep.join([str(package_root(workdir)), env["PYTHONPATH"]])
    run = run_sandboxed(
        [sys.executable, "-m", "tools.evaluator.aot", AOT_REQUEST],
        cwd=workdir,
        env=env,
        timeout_s=max(timeout_s, 1.0),
        stdout_path=workdir / "aot.stdout",
        stderr_path=workdir / "aot.stderr",
        stdin_text=token + "\n",
    )
    if run.timed_out:
        raise RuntimeError(f"the ahead-of-time compile timed out after {timeout_s:.0f} s")
    try:
        payload = json.loads((workdir / AOT_RESULT).read_text())
    except (OSError, ValueError):
        payload = None
    if not isinstance(payload, dict) or payload.get("token") != token:
        raise RuntimeError(
            f"the ahead-of-time compile exited with status {run.returncode} without a result; "
            f"stderr tail:\n{run.stderr_tail.strip()}"
        )
    return list(payload["kernels"])


def _find_jit(module: Any, qualname: str) -> Any:
    """The ``JITFunction`` in ``module`` whose Python function has ``qualname``."""
    from triton.runtime.jit import JITFunction

    candidates: list[Any] = list(vars(module).values())
    for value in list(candidates):
        if isinstance(value, type):
            candidates.extend(vars(value).values())
    for value in candidates:
        obj = value.__func__ if isinstance(value, staticmethod) else value
        for _ in range(8):  # unwrap autotune/heuristics wrappers
            if isinstance(obj, JITFunction):
                if obj.fn.__qualname__ == qualname and obj.fn.__module__ == module.__name__:
                    return obj
                break
            obj = getattr(obj, "fn", None)
            if obj is None:
                break
    raise LookupError(f"kernel '{qualname}' is not a module-level @triton.jit function")


def _main(request_path: str) -> int:
    cap_files()
    token = sys.stdin.readline().strip()
    from tools.compilers import triton_aot
    from tools.evaluator.loader import load_module

    request = json.loads(Path(request_path).read_text())
    if request.get("memory_limit_mib"):
        import triton  # noqa: F401 - map it before the cap

        cap_address_space(int(request["memory_limit_mib"]))
    module = load_module(Path(request["candidate_file"]), register=True)
    kernels = []
    for launch in request["launches"]:
        entry = dict(launch)
        try:
            if launch.get("unsupported"):
                raise LookupError(launch["unsupported"])
            fn = _find_jit(module, launch["qualname"])
            compiled = triton_aot.compile_launch(
                fn, launch, request["backend"], request["arch"], request["warp_size"]
            )
            entry["resources"] = triton_aot.resources(compiled, request["backend"])
        except Exception as e:  # noqa: BLE001 - reported per kernel; the worker decides what it means
            entry["error"] = str(e) or type(e).__name__
            entry["error_kind"] = type(e).__name__
        kernels.append(entry)
    out = Path(AOT_RESULT)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"token": token, "kernels": kernels}))
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
