"""Where the evaluator's own code lives (the sandboxed child's import path)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The directory that holds the ``tools`` package; the child's ``PYTHONPATH``."""
