"""Names of torch's tensor factories, shared by the op counter and the static checks.

The same names are ATen ops (what ``tools.evaluator.counting`` sees) and ``torch.*`` calls
(what ``tools.evaluator.static_checks`` reads in a candidate's source).
"""

EMPTY_FACTORIES = frozenset({"empty", "empty_like", "empty_strided"})
"""Factories that only allocate: no kernel touches the new tensor's data."""

FILL_FACTORIES = frozenset(
    {"zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "arange"}
)
"""Factories that fill a new tensor with a constant or a range: they read no input and do
no arithmetic, so they count no FLOPs and compute nothing the reference computes."""
