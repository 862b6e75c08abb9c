"""The sandboxed evaluator: ``evaluate(problem, candidate, target, options) -> EvalResult``.

See ``tools.evaluator.api`` for the orchestrator side and ``tools.evaluator.worker`` for
what runs inside the sandbox; ``tools.evaluator.protocol`` is the contract between them.
"""

from tools.evaluator.api import evaluate, resolve_mode
from tools.evaluator.options import EvalOptions

__all__ = ["EvalOptions", "evaluate", "resolve_mode"]
