"""Caching of the generators' expensive, deterministic reads, refusals included.

Every offline generator reads a problem into its spec once per problem content: seeding,
refining and the composite coder's support checks all ask again, and a refusal (a
``ProblemError``) is as expensive to reach as a spec. The same holds for tracing a
reference to ATen. :func:`cached_refusals` is the one cache; :func:`cached_recogniser`
keys it by a problem's content.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from tools.errors import ProblemError
from tools.records import Problem

logger = logging.getLogger(__name__)

SpecT = TypeVar("SpecT")
KeyT = TypeVar("KeyT", bound=Hashable)


class RefusalCache(Generic[KeyT, SpecT]):
    """Values by key; a ``ProblemError`` is kept like a value and raised again on each ask."""

    def __init__(self, what: str) -> None:
        self.what = what
        """What is computed, for the debug log line of a refusal."""
        self.entries: dict[KeyT, SpecT | ProblemError] = {}

    def get(self, key: KeyT, compute: Callable[[], SpecT]) -> SpecT:
        """The value of ``key``, computed once by ``compute``.

        Raises:
            ProblemError: ``compute`` refused (now or on an earlier ask).
        """
        if key not in self.entries:
            try:
                self.entries[key] = compute()
            except ProblemError as e:
                logger.debug("no %s: %s", self.what, e)
                self.entries[key] = e
        found = self.entries[key]
        if isinstance(found, ProblemError):
            raise ProblemError(str(found)) from found
        return found


def cached_refusals(compute: Callable[[KeyT], SpecT], what: str) -> Callable[[KeyT], SpecT]:
    """``compute`` cached per (hashable) argument, refusals included (see :class:`RefusalCache`)."""
    cache: RefusalCache[KeyT, SpecT] = RefusalCache(what)

    def cached(key: KeyT) -> SpecT:
        return cache.get(key, lambda: compute(key))

    return cached


def problem_key(problem: Problem) -> str:
    """A key of a problem's whole content."""
    return hashlib.sha1(problem.model_dump_json().encode()).hexdigest()


def cached_recogniser(
    recognise: Callable[[Problem], SpecT], what: str
) -> Callable[[Problem], SpecT]:
    """``recognise`` cached per problem content; a refusal is cached and raised again.

    Args:
        recognise: Builds a spec or raises ``ProblemError``.
        what: The template family, for the debug log line of a refusal.
    """
    cache: RefusalCache[str, SpecT] = RefusalCache(f"{what} template")

    def analyze(problem: Problem) -> SpecT:
        return cache.get(problem_key(problem), lambda: recognise(problem))

    return analyze
