"""Coders: the seam (``base``), the offline template coders and the PyTorch baseline.

Layout: ``base`` (the ``Coder``, ``SkillSeeder`` and ``TemplateOwner`` Protocols),
``kit/`` (what every generator is built from: the ATen tracer and fx readers, the chain IR
and its one formula table, the Jinja environment, chip facts, parameter spaces, the cache,
``TemplateGenerator[SpecT]``), ``generators/<family>/`` (one package per op family, each
importing only the kit, the seam and ``tools``), ``routes`` (the one table of which
generators write which op family) and ``composite`` (the generators of one language behind
one ``Coder``). A new generator family is a package under ``generators/`` and one entry in
``routes.GENERATORS``.

Public API:

- :func:`offline_coders` -- every offline coder (Triton, CPU C++);
- :func:`coder_for` -- the offline coder of one language;
- :data:`ROUTES` -- op family -> the generators that write it (``routes``);
- :func:`pytorch_passthrough` -- the baseline candidate: the problem in plain PyTorch,
  written as a ``ModelNew`` that never references ``Model``.
"""

from __future__ import annotations

from agents.coders.base import Coder, CoderContext, Draft, fingerprint
from agents.coders.composite import LanguageCoder
from agents.coders.generators.cpp import CppOfflineCoder
from agents.coders.generators.pointwise import HybridCoder, TritonOfflineCoder
from agents.coders.kit.forward import torch_forward_source
from agents.coders.kit.opspec import analyze
from agents.coders.kit.reference import model_new_block
from agents.coders.routes import ROUTES, build_generators
from tools.errors import ConfigError, ProblemError
from tools.records import Problem

PASSTHROUGH_TEMPLATE = "pytorch.passthrough"

_HEADER = '''"""PyTorch baseline for {name}: {how}."""
import torch
import torch.nn as nn
import torch.nn.functional as F

'''


def offline_coders() -> list[Coder]:
    """Every offline generator, in priority order within each language (see ``routes``)."""
    return build_generators()


def coder_for(language: str) -> LanguageCoder:
    """The offline coder for ``language``: every generator of that language behind one coder.

    Raises:
        ConfigError: No offline coder writes that language.
    """
    coders = [c for c in offline_coders() if c.language == language]
    if coders:
        return LanguageCoder(coders[0].language, coders)
    known = ", ".join(sorted({c.language for c in offline_coders()}))
    raise ConfigError(f"No offline coder writes {language!r}; offline coders exist for {known}.")


def pytorch_passthrough(problem: Problem) -> Draft:
    """The baseline candidate: ``ModelNew`` computing the problem with plain PyTorch.

    A named op gets one direct PyTorch call (``torch.softmax(x, dim=-1)``) under the
    reference's own ``__init__``; any other problem gets the reference module with ``Model``
    renamed to ``ModelNew`` (``ast``), the harness functions removed.

    Raises:
        ProblemError: The problem source does not parse or defines no ``Model``.
    """
    forward_src = None
    how = "the reference's forward, Model renamed to ModelNew"
    if problem.op not in (None, "pointwise_chain"):
        try:
            spec = analyze(problem)
            forward_src = torch_forward_source(spec, dim=int(spec.options.get("dim", -1)))
            how = f"one direct PyTorch call for {problem.op}"
        except (ProblemError, ValueError):
            forward_src = None
    source = _HEADER.format(name=problem.name, how=how) + model_new_block(
        problem.source, forward_src
    )
    return Draft(
        language="pytorch",
        source=source,
        transformation=f"PyTorch baseline: {how}",
        template=PASSTHROUGH_TEMPLATE,
        params={},
        author="offline",
    )


__all__ = [
    "PASSTHROUGH_TEMPLATE",
    "Coder",
    "CoderContext",
    "CppOfflineCoder",
    "Draft",
    "HybridCoder",
    "LanguageCoder",
    "ROUTES",
    "TritonOfflineCoder",
    "coder_for",
    "fingerprint",
    "offline_coders",
    "pytorch_passthrough",
]
