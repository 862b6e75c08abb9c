"""The Inductor-export generator: torch.compile's own kernels as the first seed of a language.

For a CPU target it writes ``cpp`` candidates (Inductor's C++ kernels); for a GPU target
whose chip is on this machine, ``triton`` candidates (Inductor's Triton kernels). A problem
the evaluator also checks at an irregular shape is compiled with dynamic shapes (kernels that
take their sizes as arguments); any other at its own shapes, as torch.compile compiles it.
The seed is Inductor at its default settings; ``propose`` re-exports with the settings
torch.compile itself offers for tuning (``max_autotune``, ``coordinate_descent_tuning``), one
per child, so the search starts at compile's level and can only move up from there.

A GPU target that is not on this machine (a modeled run) gets no Inductor export: Inductor
generates Triton code only for a device it can see. The generator then declines, and says so
in the log once per target.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from agents.coders.base import CoderContext, Draft, fingerprint
from agents.coders.generators.inductor.export import export_problem
from tools.errors import KevolveError, ProblemError
from tools.evaluator.device import target_present_isolated
from tools.evaluator.shapes import irregular_variant
from tools.records import Language, Problem, Target

logger = logging.getLogger(__name__)

TEMPLATE = "inductor.export"
ORIGIN = "inductor export"

VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {"coordinate_descent_tuning": True},
    {"max_autotune": True},
    {"max_autotune": True, "coordinate_descent_tuning": True},
)
"""Inductor settings tried in order: the default (the seed), then torch.compile's own
tuning switches. Each is one export; nothing here is specific to a problem."""

SWITCH = "KEVOLVE_INDUCTOR_SEED"
"""Set to ``0`` to leave the Inductor export out (it costs one torch.compile per problem and
setting); the test suite does, except in the tests of this generator."""

_declined: set[str] = set()


def reshaped_by_evaluator(problem: Problem) -> bool:
    """True when the evaluator also checks this problem at an irregular shape: the export is
    then compiled with dynamic shapes; otherwise for the problem's own shapes, exactly as
    torch.compile compiles it by default."""
    return irregular_variant(problem) is not None


def enabled() -> bool:
    """False when ``KEVOLVE_INDUCTOR_SEED`` is ``0``/``false``/``no``/``off``."""
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


class InductorCoder:
    """Inductor's generated kernels, exported as a standalone ``ModelNew`` (``Coder``)."""

    templates = (TEMPLATE,)

    def __init__(self, language: Language) -> None:
        if language not in ("cpp", "triton"):
            raise KevolveError(f"Inductor exports C++ or Triton kernels, not {language!r}.")
        self.language: Language = language
        self.name = f"inductor-export-{language}"

    def supports(self, problem: Problem, target: Target) -> bool:
        """C++ for a CPU target; Triton for an NVIDIA or AMD GPU that is on this machine."""
        if not enabled():
            return False
        if self.language == "cpp":
            return target.kind == "cpu"
        if target.kind != "gpu" or "triton" not in target.languages:
            return False
        present, _ = target_present_isolated(target)
        if not present and target.name not in _declined:
            _declined.add(target.name)
            logger.info(
                "no Inductor export for %s: Inductor writes Triton only for a GPU it can "
                "see, and this machine has none of that kind (modeled run)",
                target.name,
            )
        return present

    def _draft(self, problem: Problem, target: Target, options: dict[str, Any]) -> Draft:
        dynamic = reshaped_by_evaluator(problem)
        export = export_problem(problem, target.kind, options, dynamic=dynamic)
        settings = ", ".join(f"{k}={v}" for k, v in options.items()) or "default settings"
        settings += ", dynamic shapes" if dynamic else ", static shapes"
        return Draft(
            language=self.language,
            source=export.source,
            transformation=(
                f"{ORIGIN}: torch.compile's own {self.language} kernels (Inductor "
                f"{export.torch_version}, {settings}) written into the module"
            ),
            template=TEMPLATE,
            params={"variant": VARIANTS.index(options), **options},
            author=ORIGIN,
        )

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """Inductor at its default settings.

        Raises:
            ProblemError: Inductor cannot compile the reference into one exportable graph.
        """
        return [self._draft(problem, target, VARIANTS[0])]

    def propose(self, ctx: CoderContext) -> Draft:
        """The next Inductor tuning setting not yet in the tree.

        Raises:
            KevolveError: Every setting has been exported (or fails to export).
        """
        errors = []
        for options in VARIANTS:
            key = fingerprint(TEMPLATE, {"variant": VARIANTS.index(options), **options})
            if key in ctx.tried:
                continue
            try:
                return self._draft(ctx.problem, ctx.target, options)
            except ProblemError as e:
                errors.append(str(e))
        raise KevolveError(
            "every Inductor setting has been exported" + (f" ({errors[0]})" if errors else "")
        )
