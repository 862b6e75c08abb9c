"""Fixtures of the kevolve tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kevolve.bench_suite import problems_root


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A suite folder holding two problems of the H100 suite: relu and a row sum."""
    folder = tmp_path / "suite"
    folder.mkdir()
    for name in ("001_relu.py", "008_sum_rows.py"):
        shutil.copy(problems_root() / "kernelbench_h100" / name, folder / name)
    return folder
