"""What an export needs from a run: the best kernel, the reference, and the verified
signature (input shapes, dtypes, device type, number of outputs)."""

from __future__ import annotations

import hashlib
import json
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kevolve.runstore import RunStore
from tools.errors import KevolveError
from tools.records import Candidate


class ExportError(KevolveError):
    """A run cannot be exported in the asked format."""


@dataclass
class Bundle:
    """A run's best kernel and what was verified about it."""

    run_id: str
    problem: str
    target: str
    candidate: Candidate
    problem_source: str
    best: dict[str, Any]
    inputs: list[dict[str, Any]]
    """One ``{"shape": [...], "dtype": "float32"}`` per forward input, as verified."""
    n_outputs: int
    """0: the forward returns one tensor; k > 0: a tuple of k tensors."""
    params: list[str]
    """Names of the kernel module's parameters and buffers, in order."""
    device_type: str
    """``cuda`` for GPU kernels (Triton, CUDA, HIP), ``cpu`` for CPU kernels."""

    @property
    def digest(self) -> str:
        return hashlib.sha1(
            f"{self.run_id}/{self.candidate.id}/{self.candidate.source}".encode()
        ).hexdigest()[:6]

    @property
    def op_name(self) -> str:
        """The op's name under ``torch.ops.kevolve``: ``<problem>_<digest>``."""
        base = re.sub(r"[^a-z0-9_]", "_", self.problem.lower()).strip("_") or "kernel"
        if base[0].isdigit():
            base = f"op_{base}"
        return f"{base[:40]}_{self.digest}"

    @property
    def package(self) -> str:
        return f"kevolve_{self.op_name}"

    def meta(self) -> dict[str, Any]:
        """``meta.json`` of the exported package."""
        return {
            "run_id": self.run_id,
            "problem": self.problem,
            "target": self.target,
            "candidate_id": self.candidate.id,
            "language": self.candidate.language,
            "transformation": self.candidate.transformation,
            "inputs": self.inputs,
            "n_outputs": self.n_outputs,
            "params": self.params,
            "device_type": self.device_type,
            "op": f"kevolve::{self.op_name}",
            "measured_on": self.best.get("measured_on"),
            "runtime_ms": self.best.get("runtime_ms"),
            "speedup_vs_eager": self.best.get("speedup_vs_eager"),
            "speedup_vs_compile": self.best.get("speedup_vs_compile"),
        }


def _exec(source: str, name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), mod.__dict__)  # noqa: S102 - the user's problem
    return mod


def _signature(problem_source: str) -> tuple[list[dict[str, Any]], int, list[str]]:
    """Inputs, output count and parameter names of the reference, traced on the meta device
    (no real tensors are allocated)."""
    import torch

    ref = _exec(problem_source, "kevolve_export_reference")
    with torch.device("meta"):
        model = ref.Model(*ref.get_init_inputs())
        inputs = ref.get_inputs()
        if not all(isinstance(x, torch.Tensor) for x in inputs):
            raise ExportError(
                "only problems whose get_inputs() returns tensors can be exported as an op; "
                "export it with --format kernelbench instead."
            )
        try:
            out = model(*inputs)
        except Exception as e:  # noqa: BLE001 - some ops have no meta kernel: count on CPU
            raise ExportError(f"the reference could not be traced for its outputs: {e}") from e
    if isinstance(out, torch.Tensor):
        n_out = 0
    elif isinstance(out, (tuple, list)) and all(isinstance(o, torch.Tensor) for o in out):
        n_out = len(out)
    else:
        raise ExportError("the reference returns something other than tensors; export it with "
                          "--format kernelbench instead.")  # fmt: skip
    specs = [{"shape": list(x.shape), "dtype": str(x.dtype).removeprefix("torch.")}
             for x in inputs]  # fmt: skip
    names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
    return specs, n_out, names


GPU_LANGUAGES = {"triton", "cuda", "hip"}


def load_bundle(runs_dir: Path, run_id: str) -> Bundle:
    """The best kernel of a finished run, with its verified signature."""
    store = RunStore(runs_dir)
    info = store.info(run_id)
    summary = store.read_summary(run_id)
    if info.status != "finished" or not summary or not summary.get("best"):
        raise ExportError(
            f"run {run_id} is {info.status} and has no best kernel yet; finish it with "
            f"`kevolve runs resume {run_id}` first."
        )
    best = summary["best"]
    cand_json = store.run_dir(run_id) / "candidates" / f"{best['candidate_id']}.json"
    cand = Candidate.model_validate_json(cand_json.read_text(encoding="utf-8"))
    problem_source = (store.run_dir(run_id) / "problem.py").read_text(encoding="utf-8")
    inputs, n_out, params = _signature(problem_source)
    target = json.loads((store.run_dir(run_id) / "run.json").read_text())["target"]
    device = "cuda" if cand.language in GPU_LANGUAGES or (
        cand.language == "pytorch" and target != "cpu") else "cpu"  # fmt: skip
    return Bundle(run_id=run_id, problem=info.problem, target=target, candidate=cand,
                  problem_source=problem_source, best=best, inputs=inputs, n_outputs=n_out,
                  params=params, device_type=device)  # fmt: skip
