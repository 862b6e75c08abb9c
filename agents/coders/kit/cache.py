"""Per-problem caching of a generator's recogniser, refusals included.

Every offline generator reads a problem into its spec once per problem content: seeding,
refining and the composite coder's support checks all ask again, and a refusal (a
``ProblemError``) is as expensive to reach as a spec.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from tools.errors import ProblemError
from tools.records import Problem

logger = logging.getLogger(__name__)

SpecT = TypeVar("SpecT")


def cached_recogniser(
    recognise: Callable[[Problem], SpecT], what: str
) -> Callable[[Problem], SpecT]:
    """``recognise`` cached per problem content; a refusal is cached and raised again.

    Args:
        recognise: Builds a spec or raises ``ProblemError``.
        what: The template family, for the debug log line of a refusal.
    """
    cache: dict[str, SpecT | ProblemError] = {}

    def analyze(problem: Problem) -> SpecT:
        key = hashlib.sha1(problem.model_dump_json().encode()).hexdigest()
        if key not in cache:
            try:
                cache[key] = recognise(problem)
            except ProblemError as e:
                logger.debug("no %s template for %s: %s", what, problem.name, e)
                cache[key] = e
        found = cache[key]
        if isinstance(found, ProblemError):
            raise ProblemError(str(found)) from found
        return found

    return analyze
