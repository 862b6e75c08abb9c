"""The ranking long-tail suite: every problem loads, fits 1 MiB, runs on CPU, and is finite."""

from __future__ import annotations

import pytest
import torch

from kevolve.bench_suite import prepare_file, problems_root, resolve_suite
from tools.problems import load_problem_file
from tools.problems.materialize import build_model, call_get_inputs, exec_source

SUITE = resolve_suite(problems_root() / "ranking_longtail")
ENTRIES = {e.name: e for e in SUITE.entries}


def test_the_suite_has_at_least_twelve_problems_with_a_readme():
    assert len(ENTRIES) >= 12
    assert (SUITE.folder / "README.md").is_file()


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_problem_fits_one_mib_and_runs_on_cpu(name, tmp_path):
    path, factor, note = prepare_file(SUITE, ENTRIES[name], tmp_path, max_mb=1)
    assert note == "" and factor < 1, "production sizes are above 1 MiB and must shrink"
    problem = load_problem_file(path)
    assert problem.shapes
    namespace = exec_source(path.read_text(), path.name)
    for seed in (0, 1):
        torch.manual_seed(seed)
        inputs = call_get_inputs(namespace)
        model = build_model(namespace)
        with torch.no_grad():
            out = model(*inputs)
        assert torch.isfinite(out).all()
