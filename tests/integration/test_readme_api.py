"""The README's Python API example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import python_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    env = {**os.environ, "KEVOLVE_DATA_DIR": str(tmp_path), "KEVOLVE_CONFIG": str(tmp_path / "n.toml"),
           "KEVOLVE_CHILDREN_PER_GENERATION": "1", "KEVOLVE_EVAL_SEEDS": "1",
           "PYTHONPATH": python_path()}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = proc.stdout.splitlines()[:2]
    run_id, status, language, measured_on = first.split()
    assert status == "finished" and measured_on == "modeled"
    assert "x vs eager; report:" in second and (tmp_path / "runs" / run_id / "report.html").exists()
