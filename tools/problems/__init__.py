"""Problems: KernelBench files and named ops turned into ``Problem`` records.

Public API: :func:`load_problem` (a path or an op name), :func:`load_problem_file`,
:func:`parse_shape`, :func:`list_ops`, :data:`OP_FAMILIES` and :func:`infer_op`.
"""

from tools.problems.analysis import infer_op
from tools.problems.loader import load_problem, load_problem_file
from tools.problems.ops import OP_FAMILIES, list_ops, normalize_dtype, parse_shape

__all__ = [
    "OP_FAMILIES",
    "infer_op",
    "list_ops",
    "load_problem",
    "load_problem_file",
    "normalize_dtype",
    "parse_shape",
]
