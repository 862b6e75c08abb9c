"""``--format kernelbench``: the best kernel as a KernelBench ``ModelNew`` file, next to the
reference problem, in an importable package."""

from __future__ import annotations

import json
from pathlib import Path

from kevolve.export.bundle import Bundle

INIT = '''"""kevolve export of run {run_id}: KernelBench files for `{problem}`.

``ModelNew`` (kernel.py) is the best kernel, ``Model``/``get_inputs``/``get_init_inputs``
(reference.py) the problem it was verified against.
"""

from .kernel import ModelNew
from .reference import Model, get_init_inputs, get_inputs

__all__ = ["Model", "ModelNew", "get_init_inputs", "get_inputs"]
'''


def write_common(b: Bundle, out_dir: Path) -> Path:
    """kernel.py, reference.py and meta.json in ``out_dir/<package>``."""
    pkg = Path(out_dir) / b.package
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "kernel.py").write_text(b.candidate.source, encoding="utf-8")
    (pkg / "reference.py").write_text(b.problem_source, encoding="utf-8")
    (pkg / "meta.json").write_text(json.dumps(b.meta(), indent=2), encoding="utf-8")
    return pkg


def write_kernelbench(b: Bundle, out_dir: Path) -> Path:
    """Write the package under ``out_dir``; returns its folder."""
    pkg = write_common(b, out_dir)
    (pkg / "__init__.py").write_text(INIT.format(run_id=b.run_id, problem=b.problem),
                                     encoding="utf-8")  # fmt: skip
    return pkg
