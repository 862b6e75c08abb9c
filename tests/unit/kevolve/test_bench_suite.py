"""The H100 suite: enough problems, every family, each loadable, resizable and runnable on CPU."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
import torch

from kevolve.bench_suite import FAMILIES, prepare_file, resolve_suite, select
from tools.errors import ProblemError
from tools.problems.loader import load_problem_file
from tools.problems.materialize import exec_source
from tools.problems.resize import declared_sizes, footprint_bytes, has_declared_sizes, resize_source

SUITE = resolve_suite("kernelbench_h100")
ENTRIES = {e.name: e for e in SUITE.entries}
TINY = 1 / 64
"""Per-dimension factor for the CPU checks."""
GPU_BYTES_CAP = 4 * 2**30
"""Inputs plus weights of one problem at full size stay under this (the issue's ~4 GB)."""


def test_suite_has_enough_problems_and_covers_every_family():
    assert len(SUITE.entries) >= 44
    families = {e.family for e in SUITE.entries}
    assert families == FAMILIES, FAMILIES - families
    assert sum(e.family in ("fused", "gather") for e in SUITE.entries) >= 12
    assert {e.kind for e in SUITE.entries} == {"memory", "compute"}
    files = sorted(p.name for p in SUITE.folder.glob("[0-9]*.py"))
    assert files == sorted(e.file for e in SUITE.entries), "suite.yaml and the folder disagree"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_problem_declares_family_and_sizes_and_fits_an_h100(name):
    entry = ENTRIES[name]
    source = (SUITE.folder / entry.file).read_text()
    doc = ast.get_docstring(ast.parse(source)) or ""
    assert doc.startswith(f"{entry.family}: "), f"docstring must start with '{entry.family}: '"
    assert "\n" not in doc, "the docstring is one line"
    assert has_declared_sizes(source) and declared_sizes(source)
    assert 16 * 2**20 <= footprint_bytes(source) <= GPU_BYTES_CAP


def _forward(source: str, name: str) -> float:
    """Run the reference once on CPU; return its seconds and check its outputs are finite."""
    ns = exec_source(source, name)
    torch.manual_seed(0)
    model = ns["Model"](*ns["get_init_inputs"]())
    inputs = ns["get_inputs"]()
    start = time.perf_counter()
    with torch.no_grad():
        out = model(*inputs)
    seconds = time.perf_counter() - start
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        assert isinstance(o, torch.Tensor)
        if o.is_floating_point():
            assert torch.isfinite(o.float()).all(), "reference output must be finite"
    return seconds


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_problem_loads_and_runs_on_cpu_at_a_tiny_scale(name, tmp_path):
    entry = ENTRIES[name]
    path, factor, note = prepare_file(SUITE, entry, tmp_path, scale=TINY)
    assert path.parent == tmp_path and factor == TINY and note == ""
    problem = load_problem_file(path)
    assert problem.name == name and problem.shapes
    assert _forward(path.read_text(), path.name) < 1.0
    # At the smallest sizes the steps allow (what --max-mb may reach) it still runs.
    _forward(resize_source(path.read_text(), 1e-9), path.name)


def test_select_by_glob_and_family():
    picked = select(SUITE.entries, "001_*,softmax")
    assert {e.name for e in picked} >= {"001_relu", "017_softmax_attention_scores"}
    assert all(e.name.startswith("001_") or e.family == "softmax" for e in picked)
    assert select(SUITE.entries, None) == SUITE.entries


def test_a_folder_without_index_reads_families_from_docstrings(tmp_path):
    (tmp_path / "a.py").write_text((SUITE.folder / ENTRIES["043_matmul_fp16"].file).read_text())
    suite = resolve_suite(tmp_path)
    assert [(e.name, e.family, e.kind) for e in suite.entries] == [("a", "matmul", "compute")]
    with pytest.raises(ProblemError, match="no benchmark suite"):
        resolve_suite(tmp_path / "missing")
    (tmp_path / "suite.yaml").write_text("problems:\n  - {file: a.py, family: nonsense}\n")
    with pytest.raises(ProblemError, match="unknown family"):
        resolve_suite(tmp_path)


def test_unscaled_problem_runs_from_the_suite_itself(tmp_path):
    entry = ENTRIES["001_relu"]
    path, factor, _ = prepare_file(SUITE, entry, tmp_path)
    assert path == SUITE.folder / entry.file and factor == 1.0
    small, factor, note = prepare_file(SUITE, entry, tmp_path, max_mb=1)
    assert note == ""
    assert small.parent == tmp_path and factor < 1
    assert footprint_bytes(small.read_text()) <= 2**20


def test_suite_path_resolves_by_folder(tmp_path):
    assert resolve_suite(Path(SUITE.folder)).entries == SUITE.entries
