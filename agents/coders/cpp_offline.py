"""The offline CPU C++ coder: OpenMP templates built with ``load_inline`` (fp32 only).

Each ``ModelNew`` module carries its kernel as C++ text that includes only ``<cmath>``,
``<cstdint>``, ``<omp.h>`` and, for the binding, ``<pybind11/pybind11.h>`` (no torch
headers: about 13 s a build instead of 47 s). Tensors cross as raw addresses
(``data_ptr()``) plus sizes. The extension is built lazily on the first forward and named
after a hash of its source, so processes share builds through the torch extensions cache.
Entry points are ``extern "C"`` so tests can also load the kernel text through ``ctypes``.
"""

from __future__ import annotations

from typing import Any

from agents.coders.chain import chain_lines
from agents.coders.forward import forward_source
from agents.coders.offline import TemplateCoder
from agents.coders.reference import model_new_block
from agents.coders.render import render
from agents.coders.space import Params, Space
from agents.coders.spec import ROW_FAMILIES, OpSpec
from tools.records import Language, Problem, Target

SCHEDULES = ("static", "dynamic", "guided")
ROW_CHUNKS = (0, 1, 4, 16, 64)
"""Rows per OpenMP task; 0 leaves the chunk to the schedule's default."""
SIMDLEN = (0, 4, 8, 16)
"""``omp simd simdlen`` hint; 0 leaves the vector width to the compiler."""
STACK_BYTES = 256 * 1024
"""Most stack one matmul task may use for its accumulator and packed B tile."""


def _row_variants(spec: OpSpec) -> tuple[str, ...]:
    if spec.family == "softmax":
        return ("online", "threepass")
    if spec.op == "layer_norm":
        return ("twopass", "onepass")
    return ("rows",)


def cpp_space(spec: OpSpec) -> Space:
    """Parameter space of the C++ template for this problem."""
    template = f"cpp.{spec.family}"
    if spec.family == "pointwise":
        choices: dict[str, tuple[Any, ...]] = {
            "BLOCK": (1024, 4096, 16384, 65536),
            "schedule": SCHEDULES,
            "simdlen": SIMDLEN,
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
    return Space(template, {v: choices for v in _row_variants(spec)})


def cpp_seeds(spec: OpSpec) -> list[Params]:
    """Two to four first configurations."""
    if spec.family == "pointwise":
        return [
            {"variant": "flat", "BLOCK": 16384, "schedule": "static", "simdlen": 0},
            {"variant": "flat", "BLOCK": 4096, "schedule": "dynamic", "simdlen": 8},
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
    seeds = [base, {**base, "schedule": "dynamic", "chunk": 4}]
    if len(variants) > 1:
        seeds.append({**base, "variant": variants[1]})
    if "simdlen" in base:
        seeds.append({**base, "schedule": "guided", "simdlen": 8})
    return seeds


def cpp_safer(params: Params, spec: OpSpec) -> list[Params]:
    """Plainer configurations: static schedule, compiler-chosen vector width, smaller tiles."""
    if spec.family == "matmul":
        return [
            {**params, "MB": 32, "NB": 128, "KB": 128, "unroll": 1, "schedule": "static"},
            {"variant": "blocked", "MB": 16, "NB": 64, "KB": 64, "schedule": "static", "unroll": 1},
        ]
    plain = dict(params)
    plain |= {"schedule": "static"} | ({"chunk": 0} if "chunk" in plain else {})
    plain |= {"simdlen": 0} if "simdlen" in plain else {}
    variants = _row_variants(spec) if spec.family in ROW_FAMILIES else ()
    other = [{**plain, "variant": v} for v in variants if v != params["variant"]]
    return [plain, *other]


class CppOfflineCoder(TemplateCoder):
    """Writes CPU C++ (OpenMP) ``ModelNew`` modules from templates; tunes schedule and tiles."""

    language: Language = "cpp"
    name = "cpp-offline"

    def target_ok(self, target: Target) -> bool:
        """CPU targets (or any target that lists ``cpp`` among its languages)."""
        return target.kind == "cpu" or "cpp" in target.languages

    def spec_ok(self, spec: OpSpec) -> bool:
        """fp32 problems only (no fp16/bf16 arithmetic in the C++ templates)."""
        return spec.dtype == "float32"

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
        if spec.family == "pointwise":
            assert spec.chain is not None
            chain = spec.chain
            wrapper, entry = "_kv_fused", "kv_pointwise"
            variables: dict[str, Any] = {
                "operands": chain.operands,
                "lines": chain_lines(chain, "cpp"),
                "result": chain.result,
                "summary": chain.summary,
                "n_full": sum(o.kind == "full" for o in chain.operands),
            }
        elif spec.family == "matmul":
            wrapper = "_kv_linear" if spec.op in ("linear", "linear_relu") else "_kv_matmul"
            entry = "kv_matmul"
            variables = {
                "linear": spec.op in ("linear", "linear_relu"),
                "relu": spec.op == "linear_relu",
            }
        else:
            wrapper, entry = f"_kv_{spec.op}", f"kv_{spec.op}"
            variables = {
                "log": spec.op == "log_softmax",
                "keepdim": spec.keepdim,
                "eps": repr(spec.eps),
            }
        model = model_new_block(problem.source, forward_source(spec, wrapper))
        return render(
            f"cpp/{spec.family}.py.j2",
            model_block=model,
            entry_points=[entry],
            **common,
            **variables,
        )
