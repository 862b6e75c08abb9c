"""On a CUDA machine, Inductor's Triton kernels are exported as a standalone ModelNew and the
evaluator accepts the export, measured on the GPU next to torch.compile."""

from __future__ import annotations

import ast

import pytest

from tests.support import CLI, FIXTURES, REPO, cli_env

pytestmark = pytest.mark.gpu

FIXTURE = FIXTURES / "inductor" / "bias_relu_softmax.py"


@pytest.mark.parametrize(
    ("dtype", "shapes"), [("float32", "dynamic"), ("float16", "dynamic"), ("float32", "static")]
)
def test_triton_export_is_accepted_on_the_gpu(gpu_target, tmp_path, monkeypatch, dtype, shapes):
    import torch

    from agents.coders.generators.inductor.coder import InductorCoder
    from tools.evaluator import EvalOptions, evaluate
    from tools.evaluator.static_checks import check_source
    from tools.records import Candidate, Problem

    monkeypatch.setenv("KEVOLVE_INDUCTOR_SEED", "1")
    target = gpu_target
    source = FIXTURE.read_text().replace("ROWS = 37", "ROWS = 4099").replace(
        "COLS = 200", "COLS = 8191"
    )
    if dtype == "float16":
        source = source.replace(
            "torch.randn(ROWS, COLS)", "torch.randn(ROWS, COLS, dtype=torch.float16)"
        ).replace("torch.randn(cols)", "torch.randn(cols, dtype=torch.float16)")
    if shapes == "static":  # not re-shaped by the evaluator: compiled for its own shapes
        source = source.replace('KEVOLVE_SIZES = {"ROWS": 1, "COLS": 1}\n', "")
    problem = Problem(name=f"bias_relu_softmax_{dtype}_{shapes}", source=source)
    coder = InductorCoder("triton")
    assert coder.supports(problem, target)
    (draft,) = coder.seed(problem, target)
    assert "async_compile.triton(" in draft.source and "@triton.jit" in draft.source
    assert check_source(draft.source) == []
    tree = ast.parse(draft.source)
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not any(c.startswith(("torch.compile", "torch._dynamo")) for c in calls)
    cand = Candidate(id=f"inductor-{dtype}", language="triton", source=draft.source)
    result = evaluate(problem, cand, target, EvalOptions(work_dir=str(tmp_path), timeout_s=600))
    assert result.accepted, result.error
    assert result.measured_on == torch.cuda.get_device_name()
    assert result.speedup_vs_compile is not None
    if shapes == "static":  # torch.compile's own kernels: level with it
        assert "static shapes" in draft.transformation
        assert result.speedup_vs_compile > 0.85
    else:  # compiled for symbolic sizes: correct at the irregular shape, not far behind
        assert any("also correct at the irregular shape" in n for n in result.diagnostics.notes)
        assert result.speedup_vs_compile > 0.5


def test_optimize_seeds_the_inductor_export(gpu_target, tmp_path):
    """A whole run on the chip: the Inductor export is among the seeds and is correct."""
    import json
    import subprocess

    proc = subprocess.run(
        [*CLI, "optimize", str(FIXTURE), "--target", gpu_target.name, "--budget", "3", "--json"],
        cwd=REPO, env=cli_env(tmp_path, inductor_seed=1), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["best"]["correct"] is True
    runs = list(tmp_path.rglob("candidates/*.json"))
    authors = [json.loads(p.read_text()).get("author") for p in runs]
    assert "inductor export" in authors, authors
