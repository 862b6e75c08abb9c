"""Few-shot kernels: real KernelBench ``ModelNew`` files shown to the coder models.

Each file is a complete, honest answer for ``reference_softmax.py``; the tests import and
check them, so an example the models copy is never broken. ``gpu_softmax.py.j2`` is one
kernel in two dialects, CUDA and HIP, rendered with each language's ``fewshot_dialect``
(``prompts/languages.yaml``).
"""

from pathlib import Path

FEWSHOT_DIR = Path(__file__).parent
"""Folder of the few-shot files."""
