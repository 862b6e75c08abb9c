"""Which generators write which op family: the one routing table.

A problem's op family is the family of its named op in ``tools.problems.ops``
(``softmax``, ``norm``, ``pointwise``, ``reduction``, ``scan``, ``matmul``); a reference
that is no named op (a KernelBench file, a traced pointwise chain) is of family
:data:`GRAPH`, which every generator that reads graphs may write.

:data:`GENERATORS` lists every offline generator once, in priority order, with the op
families it may write; :data:`ROUTES` is the same table read the other way (op family ->
generators). Within a family, each generator's ``supports`` still says whether it reads
this problem (a GEMM generator declines a graph without a matrix product); ROUTES only says
who is asked. A new generator family is one entry in :data:`GENERATORS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

from agents.coders.base import Coder
from tools.errors import ConfigError
from tools.problems.ops import OP_FAMILIES
from tools.records import Problem

GRAPH = "graph"
"""The op family of a reference that is no named op: every graph reader may try it."""
OP_FAMILY_NAMES = frozenset(OP_FAMILIES.values())
"""The named ops' families (``tools.problems.ops``)."""
ALL = OP_FAMILY_NAMES | {GRAPH}


@dataclass(frozen=True)
class Generator:
    """One registered generator: where its class lives and what it may write."""

    factory: str
    """``module:Class``, imported on first use."""
    families: frozenset[str]
    """Op families (``tools.problems.ops``, or :data:`GRAPH`) it may write."""
    args: tuple[str, ...] = ()
    """Arguments of the class (the language of a generator that writes several)."""


_G = "agents.coders.generators"
GENERATORS: dict[str, Generator] = {
    "inductor-export-triton": Generator(f"{_G}.inductor.coder:InductorCoder", ALL, ("triton",)),
    "inductor-export-cpp": Generator(f"{_G}.inductor.coder:InductorCoder", ALL, ("cpp",)),
    "triton-offline": Generator(f"{_G}.pointwise:TritonOfflineCoder", ALL),
    "triton-gemm": Generator(f"{_G}.gemm:GemmCoder", frozenset({"matmul", GRAPH})),
    "triton-libgemm-rows": Generator(
        f"{_G}.rowfused.libgemm:LibGemmRowCoder", frozenset({"matmul", GRAPH})
    ),
    "triton-colreduce": Generator(f"{_G}.scans:ColumnReduceCoder", frozenset({"reduction", GRAPH})),
    "triton-rowfused": Generator(f"{_G}.rowfused:RowFusedCoder", ALL - {"scan", "matmul"}),
    "triton-attention": Generator(f"{_G}.attention:AttentionCoder", frozenset({GRAPH})),
    "triton-scan": Generator(f"{_G}.scans:ScanCoder", frozenset({"scan", GRAPH})),
    "triton-gather": Generator(f"{_G}.scans:GatherCoder", frozenset({GRAPH})),
    "triton-pooling": Generator(f"{_G}.pooling:PoolingCoder", frozenset({GRAPH})),
    "triton-libop": Generator(f"{_G}.libop:LibOpCoder", frozenset({GRAPH})),
    "triton-gatherchain": Generator(f"{_G}.gather:GatherChainCoder", frozenset({GRAPH})),
    "triton-hybrid": Generator(f"{_G}.pointwise:HybridCoder", frozenset({GRAPH})),
    "cpp-offline": Generator(f"{_G}.cpp:CppOfflineCoder", ALL),
}
"""Every offline generator by name (its ``name``), in priority order within a language."""

ROUTES: dict[str, tuple[str, ...]] = {
    family: tuple(name for name, g in GENERATORS.items() if family in g.families)
    for family in sorted(ALL)
}
"""Op family -> the generators asked to write it, in priority order."""


def op_family(problem: Problem) -> str:
    """The routing family of a problem: its named op's family, else :data:`GRAPH`.

    A named op outside ``tools.problems.ops`` (``argmin`` read from a file) keeps the family
    the problem was tagged with when that is a named-op family; a traced pointwise chain is
    a reference (:data:`GRAPH`).
    """
    op = problem.op
    if op in OP_FAMILIES:
        return OP_FAMILIES[op]
    if op in (None, "pointwise_chain") or problem.op_family not in OP_FAMILY_NAMES:
        return GRAPH
    return problem.op_family


def routed(name: str, problem: Problem) -> bool:
    """True when generator ``name`` is asked to write ``problem`` (unregistered names are)."""
    found = GENERATORS.get(name)
    return found is None or op_family(problem) in found.families


@cache
def _generator_class(factory: str) -> type:
    module, _, attr = factory.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            f"Generator {factory} cannot be loaded ({e}); fix its entry in agents/coders/routes.py."
        ) from e


def build_generators() -> list[Coder]:
    """One instance of every registered generator, in priority order."""
    return [_generator_class(g.factory)(*g.args) for g in GENERATORS.values()]
