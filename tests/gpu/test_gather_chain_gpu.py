"""On a CUDA machine, the gather-chain seeds of the ranking long-tail suite are accepted by the
full evaluator (each problem shrunk to 64 MiB of inputs, as ``--max-mb 64`` does: the
jagged ones draw their sizes from data and cannot be built at production size on the host;
irregular size included) and measured next to eager and
torch.compile. Every problem the generator supports must be correct; the speedups are logged
(``-o log_cli=true``) for the bench record, and none may be far behind eager."""

from __future__ import annotations

import logging

import pytest

from kevolve.bench_suite import prepare_file, problems_root, resolve_suite

pytestmark = pytest.mark.gpu
logger = logging.getLogger(__name__)

SUITE = resolve_suite(problems_root() / "ranking_longtail")


@pytest.mark.parametrize("entry", SUITE.entries, ids=lambda e: e.name)
def test_gather_chain_seed_is_accepted_and_measured(entry, gpu_target, tmp_path) -> None:
    import torch

    from agents.coders.generators.gather import GatherChainCoder
    from tools.evaluator import EvalOptions, evaluate
    from tools.problems.loader import load_problem_file
    from tools.records import Candidate

    target = gpu_target
    path, _, _ = prepare_file(SUITE, entry, tmp_path / "problems", max_mb=64)
    problem = load_problem_file(path)
    coder = GatherChainCoder()
    if not coder.supports(problem, target):
        pytest.skip(f"{entry.name}: the gather chain does not lower this reference")
    draft = coder.seed(problem, target)[0]
    cand = Candidate(id="gc0", language="triton", source=draft.source)
    result = evaluate(problem, cand, target, EvalOptions(work_dir=str(tmp_path), timeout_s=600))
    assert result.accepted, result.error
    assert result.measured_on == torch.cuda.get_device_name()
    logger.warning(
        "%s: %.3fx vs eager, %s vs compile", entry.name, result.speedup_vs_eager,
        result.speedup_vs_compile,
    )  # fmt: skip
    assert (result.speedup_vs_eager or 0.0) > 0.5, result.speedup_vs_eager
