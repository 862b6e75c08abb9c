"""The offline CPU C++ coder: OpenMP templates built with ``load_inline`` (fp32 only).

Each ``ModelNew`` module carries its kernel as C++ text that includes only ``<cmath>``,
``<cstdint>``, ``<omp.h>`` and, for the binding, ``<pybind11/pybind11.h>`` (no torch
headers: about 13 s a build instead of 47 s). Tensors cross as raw addresses
(``data_ptr()``) plus sizes. The extension is built lazily on the first forward and named
after a hash of its source, so processes share builds through the torch extensions cache.
Entry points are ``extern "C"`` so tests can also load the kernel text through ``ctypes``.

What decides their speed on a CPU (measured on a 2-core AVX2 EPYC VM, 2048x4096 fp32):

- The build flags carry ``-fno-trapping-math``. Without it GCC keeps every loop that calls
  the inlined ``kv_expf`` scalar (it will not if-convert float selects), which made the
  softmax kernels 1.6-3x slower than ``torch.softmax``; it changes no computed value.
- A fresh 32 MiB output costs about 3x the softmax arithmetic to fault in (8192 zeroed
  4 KiB pages), for torch and for us. ``alloc="hugepage"`` takes the output from a 2 MiB
  aligned buffer advised ``MADV_HUGEPAGE`` (16 faults); ``alloc="torch"`` is
  ``torch.empty``. Both are seeds, so the search measures what the allocation is worth.
- ``rows4`` variants read four rows side by side in their first pass (four memory streams
  per core instead of one); the other passes then re-read each row from L1/L2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.coders.kit.forward import forward_source, kernel_call
from agents.coders.kit.generator import TemplateFunctions, TemplateGenerator
from agents.coders.kit.opspec import ROW_FAMILIES, OpSpec, analyze
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import render_template
from agents.coders.kit.space import Params, Space
from tools.records import Language, Problem, Target

TEMPLATES = Path(__file__).parent / "templates"
"""This generator's templates: ``cpp/*.py.j2``."""

SCHEDULES = ("static", "dynamic", "guided")
ROW_CHUNKS = (0, 1, 4, 16, 64)
"""Rows per OpenMP task; 0 leaves the chunk to the schedule's default."""
SIMDLEN = (0, 4, 8, 16)
"""``omp simd simdlen`` hint; 0 leaves the vector width to the compiler."""
STACK_BYTES = 256 * 1024
"""Most stack one matmul task may use for its accumulator and packed B tile."""
ALLOCS = ("torch", "hugepage")
"""How a full-size output is allocated: ``torch.empty``, or a 2 MiB-aligned buffer advised
``MADV_HUGEPAGE`` (first touch of a fresh 32 MiB output: about 16 page faults, not 8192)."""
FULL_OUTPUT_FAMILIES = frozenset({"pointwise", "softmax", "norm", "cumsum"})
"""Families whose output is as large as the input (``alloc`` is tuned for them)."""


def _row_variants(spec: OpSpec) -> tuple[str, ...]:
    if spec.family == "softmax":
        return ("rows4", "threepass", "online")
    if spec.op == "layer_norm":
        return ("rows4", "twopass", "onepass")
    if spec.family in ("reduce", "norm"):
        return ("rows4", "rows")
    return ("rows",)


def cpp_space(spec: OpSpec) -> Space:
    """Parameter space of the C++ template for this problem."""
    template = f"cpp.{spec.family}"
    if spec.family == "pointwise":
        choices: dict[str, tuple[Any, ...]] = {
            "BLOCK": (1024, 4096, 16384, 65536),
            "schedule": SCHEDULES,
            "simdlen": SIMDLEN,
            "alloc": ALLOCS,
        }
        return Space(template, {"flat": choices})
    if spec.family == "matmul":
        choices = {
            "MB": (16, 32, 64, 128),
            "NB": (64, 128, 256),
            "KB": (64, 128, 256),
            "schedule": ("static", "dynamic"),
            "unroll": (1, 2, 4, 8),
        }
        return Space(
            template,
            {"blocked": choices},
            lambda p: (p["MB"] + p["KB"]) * p["NB"] * 4 <= STACK_BYTES,
        )
    choices = {"schedule": SCHEDULES, "chunk": ROW_CHUNKS}
    if spec.family != "cumsum":
        choices["simdlen"] = SIMDLEN
    if spec.family in FULL_OUTPUT_FAMILIES:
        choices["alloc"] = ALLOCS
    return Space(template, {v: choices for v in _row_variants(spec)})


def cpp_seeds(spec: OpSpec) -> list[Params]:
    """Two to four first configurations.

    Full-size outputs start with ``alloc="hugepage"``; one seed keeps ``torch.empty`` so
    the search measures what the allocation alone is worth on this machine.
    """
    if spec.family == "pointwise":
        flat: Params = {"variant": "flat", "BLOCK": 16384, "schedule": "static", "simdlen": 0}
        return [
            {**flat, "alloc": "hugepage"},
            {**flat, "BLOCK": 4096, "schedule": "dynamic", "simdlen": 8, "alloc": "hugepage"},
            {**flat, "alloc": "torch"},
        ]
    if spec.family == "matmul":
        return [
            {
                "variant": "blocked",
                "MB": 64,
                "NB": 256,
                "KB": 128,
                "schedule": "static",
                "unroll": 4,
            },
            {
                "variant": "blocked",
                "MB": 32,
                "NB": 128,
                "KB": 256,
                "schedule": "dynamic",
                "unroll": 1,
            },
        ]
    variants = _row_variants(spec)
    base: Params = {"variant": variants[0], "schedule": "static", "chunk": 0}
    if spec.family != "cumsum":
        base["simdlen"] = 0
    full = spec.family in FULL_OUTPUT_FAMILIES
    if full:
        base["alloc"] = "hugepage"
    seeds = [base, {**base, "schedule": "dynamic", "chunk": 16}]
    if len(variants) > 1:
        seeds.append({**base, "variant": variants[1]})
    if full:
        seeds.append({**base, "alloc": "torch"})
    elif "simdlen" in base:
        seeds.append({**base, "schedule": "guided", "simdlen": 8})
    return seeds


def cpp_safer(params: Params, spec: OpSpec) -> list[Params]:
    """Plainer configurations: static schedule, compiler-chosen vector width, smaller tiles,
    ``torch.empty`` outputs."""
    if spec.family == "matmul":
        return [
            {**params, "MB": 32, "NB": 128, "KB": 128, "unroll": 1, "schedule": "static"},
            {"variant": "blocked", "MB": 16, "NB": 64, "KB": 64, "schedule": "static", "unroll": 1},
        ]
    plain = dict(params)
    plain |= {"schedule": "static"} | ({"chunk": 0} if "chunk" in plain else {})
    plain |= {"simdlen": 0} if "simdlen" in plain else {}
    plain |= {"alloc": "torch"} if "alloc" in plain else {}
    variants = _row_variants(spec) if spec.family in ROW_FAMILIES else ()
    other = [{**plain, "variant": v} for v in variants if v != params["variant"]]
    return [plain, *other]


class CppOfflineCoder(TemplateGenerator[OpSpec]):
    """Writes CPU C++ (OpenMP) ``ModelNew`` modules from templates; tunes schedule and tiles."""

    language: Language = "cpp"
    name = "cpp-offline"
    functions = TemplateFunctions(recognise=analyze)
    dtypes = ("float32",)
    """fp32 problems only (no fp16/bf16 arithmetic in the C++ templates)."""

    def target_ok(self, target: Target) -> bool:
        """CPU targets (or any target that lists ``cpp`` among its languages)."""
        return target.kind == "cpu" or "cpp" in target.languages

    def space(self, spec: OpSpec, target: Target) -> Space:
        """See :func:`cpp_space`."""
        return cpp_space(spec)

    def seed_params(self, spec: OpSpec, target: Target) -> list[Params]:
        """See :func:`cpp_seeds`."""
        return cpp_seeds(spec)

    def safer(self, params: Params, spec: OpSpec, target: Target) -> list[Params]:
        """See :func:`cpp_safer`."""
        return cpp_safer(params, spec)

    def render(self, problem: Problem, spec: OpSpec, target: Target, params: Params) -> str:
        """Render the family template for one configuration."""
        common: dict[str, Any] = {
            "title": f"OpenMP C++ kernel for {problem.name} ({spec.op}) on {target.display_name}.",
            "template": f"cpp.{spec.family}",
            "params_text": ", ".join(f"{k}={v}" for k, v in params.items()),
            "op": spec.op,
            **params,
        }
        wrapper, variables = kernel_call(spec, "cpp")
        entry = {"pointwise": "kv_pointwise", "matmul": "kv_matmul"}.get(
            spec.family, f"kv_{spec.op}"
        )
        model = model_new_block(problem.source, forward_source(spec, wrapper))
        return render_template(
            TEMPLATES,
            f"cpp/{spec.family}.py.j2",
            model_block=model,
            entry_points=[entry],
            **common,
            **variables,
        )
