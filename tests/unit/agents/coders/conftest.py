"""Fixtures of the coder tests: the suite problems, the real targets, every generator."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from agents.coders.base import Coder
from agents.coders.routes import build_generators
from tools.hardware import load_target
from tools.problems.loader import load_problem_file
from tools.records import Problem, Target

REPO = Path(__file__).resolve().parents[4]
SUITE_FILES = sorted((REPO / "evals/problems/kernelbench_h100").glob("[0-9]*.py"))
"""Every problem file of the KernelBench H100 suite."""


@cache
def suite_problem(stem: str) -> Problem:
    """One suite problem by file stem (loaded once per test session)."""
    return load_problem_file(REPO / "evals/problems/kernelbench_h100" / f"{stem}.py")


@cache
def generators() -> dict[str, Coder]:
    """One instance of every registered generator, by name (shared: their caches warm once)."""
    return {g.name: g for g in build_generators()}


@cache
def target_for(language: str) -> Target:
    """The target a generator of ``language`` writes for: the H100, or the host CPU for C++."""
    return load_target("cpu" if language == "cpp" else "h100")


@pytest.fixture(name="suite_problem")
def suite_problem_fixture() -> object:
    """:func:`suite_problem`, as a fixture."""
    return suite_problem


@pytest.fixture(name="generators")
def generators_fixture() -> dict[str, Coder]:
    """:func:`generators`, as a fixture."""
    return generators()


@pytest.fixture(name="target_for")
def target_for_fixture() -> object:
    """:func:`target_for`, as a fixture."""
    return target_for
