"""Interpreter correctness of a generator's drafts, written once for every generator family.

A kernel test module lists its harness cases (:func:`fixtures.case`) and subclasses
:class:`InterpreterChecks` (or :class:`CatchesBrokenDrafts`, which adds drafts broken on
purpose)::

    class TestInterpreter(CatchesBrokenDrafts):
        cases = staticmethod(_quick_cases)    # drafts that must match the reference
        broken = staticmethod(_broken_cases)  # drafts broken on purpose, which must not

All of a class's cases run in one harness subprocess under ``TRITON_INTERPRET=1`` (once per
class); each case is a test of its own. A class sets ``harness`` to run another harness
script, and ``pytestmark`` to mark its tests (``slow``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.agents.coders import fixtures as fx


class InterpreterChecks:
    """Each of :meth:`cases` matches its reference."""

    harness: Path = fx.HARNESS

    @staticmethod
    def cases() -> list[dict[str, Any]]:
        """The harness cases whose drafts must match the reference."""
        raise NotImplementedError

    @staticmethod
    def broken() -> list[dict[str, Any]]:
        """Drafts run alongside the cases that must fail (see :class:`CatchesBrokenDrafts`)."""
        return []

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "case_id" in metafunc.fixturenames:
            metafunc.parametrize("case_id", [c["id"] for c in self.cases()])
        if "broken_id" in metafunc.fixturenames:
            metafunc.parametrize("broken_id", [c["id"] for c in self.broken()])

    @pytest.fixture(scope="class")
    @classmethod
    def results(cls, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
        """Every case's result, by case id."""
        cases = [*cls.cases(), *cls.broken()]
        tmp = tmp_path_factory.mktemp(cls.__module__.rsplit(".", 1)[-1])
        return fx.run_harness("check", cases, tmp, interpret=True, harness=cls.harness)

    def test_draft_matches_reference(self, results: dict[str, Any], case_id: str) -> None:
        assert results[case_id]["ok"], results[case_id]



class CatchesBrokenDrafts(InterpreterChecks):
    """Each of :meth:`cases` matches its reference, and each of :meth:`broken` (drafts broken
    on purpose: the check is not vacuous) fails against it as a mismatch."""

    @staticmethod
    def broken() -> list[dict[str, Any]]:
        raise NotImplementedError

    def test_broken_draft_is_caught(self, results: dict[str, Any], broken_id: str) -> None:
        result = results[broken_id]
        assert not result["ok"] and "mismatch" in result["error"], result
