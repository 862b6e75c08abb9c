"""CPU C++ offline coder: templates match their references.

Quick and slow-but-cheap checks compile each module's kernel text alone with g++ and call it
through ctypes (the harness stands the library in for the pybind11 extension); one slow test
builds real extensions with ``load_inline`` (about 13 s each on a small machine).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agents.coders import CppOfflineCoder
from tests.unit.agents.coders import fixtures as fx

CODER = CppOfflineCoder()
TOL = {"atol": 1e-4, "rtol": 1e-4}
pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


def _cases(
    problems: list[Any], ctypes: bool = True, first_only: bool = False
) -> list[dict[str, Any]]:
    cases = []
    for problem in problems:
        drafts = CODER.seed(problem, fx.CPU)
        for i, draft in enumerate(drafts[:1] if first_only else drafts):
            cases.append(
                {
                    "id": f"{problem.name}-{problem.params.get('N')}-{i}",
                    "reference": problem.source,
                    "candidate": draft.source,
                    "ctypes": ctypes,
                    "noncontiguous": i == 0,
                    **TOL,
                }
            )
    return cases


def test_cpp_sources_follow_the_build_rules() -> None:
    for problem in (
        fx.named_problem("softmax"),
        fx.chain_problem(),
        fx.named_problem("matmul", M=8, N=8, K=8),
    ):
        for draft in CODER.seed(problem, fx.CPU):
            src = draft.source
            assert "no_implicit_headers=True" in src and 'name=f"kevolve_cpp_{digest}"' in src
            assert '-ffast-math"' not in src and '"-fopenmp"' in src
            includes = {line.split()[1] for line in src.splitlines() if line.startswith("#include")}
            assert includes == {
                "<cmath>",
                "<cstdint>",
                "<cstring>",
                "<omp.h>",
                "<sys/mman.h>",
                "<pybind11/pybind11.h>",
            }
            assert "torch/extension.h" not in src and "try:" not in src
            assert "_KV_EXT = None" in src  # built lazily, never at import
            compile(src, "<draft>", "exec")


def test_softmax_and_fused_chain_via_ctypes(tmp_path: Path) -> None:
    problems = [fx.named_problem("softmax"), fx.chain_problem()]
    results = fx.run_all_ok("check", _cases(problems, first_only=True), tmp_path)
    assert len(results) == 2, results


@pytest.mark.slow
def test_every_cpp_seed_matches_reference_via_ctypes(tmp_path: Path) -> None:
    problems = [fx.named_problem(op) for op in fx.ROW_OPS]
    problems += [fx.named_problem(op, M=5, N=70000) for op in ("softmax", "layer_norm", "cumsum")]
    problems += [
        fx.named_problem("matmul", M=37, N=45, K=70),
        fx.named_problem("linear_relu", M=37, N=300, K=270),
        fx.named_problem("linear", M=37, N=45, K=70),
    ]
    problems += [fx.chain_problem(), fx.chain_problem(fx.SIMPLE_CHAIN, "simple_chain")]
    problems += [fx.chain_problem(fx.ZOO, "zoo"), fx.chain_problem(fx.OUTER, "outer")]
    results = fx.run_all_ok("check", _cases(problems), tmp_path)
    assert len(results) >= 2 * len(problems), results


@pytest.mark.slow
def test_load_inline_builds_match_reference(tmp_path: Path) -> None:
    problems = [fx.named_problem("softmax"), fx.chain_problem()]
    results = fx.run_all_ok("check", _cases(problems, ctypes=False, first_only=True), tmp_path)
    assert len(results) == 2, results
    built = sorted(p.name for p in (tmp_path / "torch_extensions").iterdir())
    assert len(built) == 2 and all(
        name.startswith("kevolve_cpp_") and len(name) == 28 for name in built
    )
