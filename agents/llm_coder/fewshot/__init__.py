"""Few-shot kernels: real KernelBench ``ModelNew`` files shown to the coder models.

Each file is a complete, honest answer for ``reference_softmax.py``; the tests import and
check them, so an example the models copy is never broken.
"""

from pathlib import Path

FEWSHOT_DIR = Path(__file__).parent
"""Folder of the few-shot files."""
