"""From a ``CoderContext`` to the coder prompt's variables, and the rendered messages.

The memory mode decides which template section is used (``prompts/modes/<mode>.md.j2``)
and what it may show; this module only formats what ``assemble_context`` put in the
context, so a mode never sees more than the context holds.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import yaml

from agents.coders.base import CoderContext
from agents.interpreter.rules import interpret as interpret_offline
from agents.llm.describe import outcome, result_report
from agents.llm.prompts import render
from agents.llm_coder.fewshot import FEWSHOT_DIR
from tools.records import Candidate, EvalResult, Target

PROMPTS_DIR = Path(__file__).parent / "prompts"
LANGUAGES = ("triton", "cuda", "hip", "cpp")
MAX_ERROR_CHARS = 3000
FEWSHOT_REFERENCE = "reference_softmax.py"


@functools.cache
def language_data() -> dict[str, dict[str, Any]]:
    """``prompts/languages.yaml``, each entry completed with its ``name``."""
    data = yaml.safe_load((PROMPTS_DIR / "languages.yaml").read_text(encoding="utf-8"))
    return {name: {**entry, "name": name} for name, entry in data.items()}


def fewshot_sources(language: str) -> list[str]:
    """The few-shot modules of ``language``: files as they are, ``*.j2`` templates rendered
    with the language's ``fewshot_dialect`` (one kernel written in two GPU dialects)."""
    entry = language_data()[language]
    return [
        render(FEWSHOT_DIR, name, **entry["fewshot_dialect"]) if name.endswith(".j2")
        else (FEWSHOT_DIR / name).read_text(encoding="utf-8")
        for name in entry["fewshot"]
    ]  # fmt: skip


def fewshot_examples(language: str) -> list[dict[str, str]]:
    """The few-shot modules of ``language`` with the reference they answer."""
    reference = (FEWSHOT_DIR / FEWSHOT_REFERENCE).read_text(encoding="utf-8")
    shots = []
    for source in fewshot_sources(language):
        doc = ast.get_docstring(ast.parse(source)) or language
        shots.append({
            "reference_name": FEWSHOT_REFERENCE,
            "reference": reference,
            "source": source,
            "transformation": doc.split("\n\n")[0].replace("\n", " "),
        })  # fmt: skip
    return shots


def chip_facts(target: Target) -> list[tuple[str, str]]:
    """The Target's facts as (label, value) lines, units included; empty facts skipped."""
    facts: list[tuple[str, Any]] = [
        ("vendor / kind / arch", f"{target.vendor} {target.kind}, {target.arch}"),
        ("threads per warp or wavefront", target.warp_size),
        ("compute units (SMs, CUs or cores)", target.compute_units),
        ("shared memory or LDS per block", f"{target.shared_mem_per_block_kib:g} KiB"
         if target.shared_mem_per_block_kib else ""),
        ("32-bit registers per SM/CU", target.registers_per_cu or ""),
        ("max registers per thread", target.max_registers_per_thread or ""),
        ("L2 cache", f"{target.l2_cache_mib:g} MiB" if target.l2_cache_mib else ""),
        ("memory", f"{target.memory_gib:g} GiB" if target.memory_gib else ""),
        ("memory bandwidth", f"{target.memory_bandwidth_gbps:g} GB/s"),
        ("peak dense TFLOP/s", ", ".join(f"{k} {v:g}" for k, v in target.peak_tflops.items())),
        ("Triton target", f"{target.triton_target.backend} {target.triton_target.arch}"
         if target.triton_target else ""),
        ("ISA features", ", ".join(target.isa_features)),
        ("kernel launch overhead", f"{target.launch_overhead_us:g} us"),
        ("languages it runs", ", ".join(target.languages)),
    ]  # fmt: skip
    return [(label, str(value)) for label, value in facts if value not in ("", None)]


def _item(cand: Candidate, result: EvalResult) -> dict[str, Any]:
    return {
        "id": cand.id,
        "transformation": (cand.transformation or "first draft").replace("|", "/"),
        "outcome": outcome(result).replace("|", "/"),
        "source": cand.source,
        "report": result_report(result),
    }


def next_moves_for(ctx: CoderContext) -> list[str]:
    """The interpreter's ranked next moves for the parent.

    Taken from ``ctx.insights`` when the context carries the run's insights, otherwise from
    the offline interpretation rules applied to the parent's result.
    """
    if ctx.parent is None or ctx.parent_result is None:
        return []
    insights = getattr(ctx, "insights", None) or {}
    insight = insights.get(ctx.parent.id)
    if insight:
        moves = insight.get("next_moves") if isinstance(insight, dict) else insight.next_moves
        if moves:
            return list(moves)
    return interpret_offline(ctx.parent, ctx.parent_result, ctx.target).next_moves


def task_of(ctx: CoderContext) -> str:
    """The universal operator's case: ``fix``, ``improve`` or ``write``."""
    if ctx.parent is None:
        return "write"
    if ctx.parent_result is not None and ctx.parent_result.stage_failed is not None:
        return "fix"
    return "improve"


def prompt_variables(ctx: CoderContext, language: str) -> dict[str, Any]:
    """Every variable the coder templates use (StrictUndefined: none may be missing)."""
    p = ctx.problem
    mode = ctx.memory_mode if ctx.parent is not None and ctx.memory_mode != "seed" else "restart"
    parent_error, parent_stage = "", ""
    if ctx.parent_result is not None and ctx.parent_result.stage_failed is not None:
        parent_stage = ctx.parent_result.stage_failed.value
        parent_error = ctx.parent_result.error.strip()[-MAX_ERROR_CHARS:] or "(no error text)"
    problem_line = (
        f"Op family: {p.op_family}; op: {p.op or 'not a named op'}; dtype: {p.dtype}; "
        f"input shapes: {p.shapes}" + (f"; params: {p.params}" if p.params else "")
    )
    return {
        "lang": language_data()[language],
        "problem": p,
        "problem_line": problem_line,
        "target": ctx.target,
        "chip_facts": chip_facts(ctx.target),
        "documents": list(ctx.documents),
        "skills": list(ctx.skills),
        "mode": mode,
        "task": task_of(ctx),
        "parent": ctx.parent,
        "parent_outcome": outcome(ctx.parent_result) if ctx.parent else "",
        "parent_report": result_report(ctx.parent_result) if ctx.parent else "",
        "parent_stage": parent_stage,
        "parent_error": parent_error,
        "next_moves": next_moves_for(ctx),
        "lineage": [_item(c, r) for c, r in ctx.lineage],
        "siblings": [_item(c, r) for c, r in ctx.siblings],
        "fewshots": fewshot_examples(language),
    }


def render_messages(ctx: CoderContext, language: str) -> list[tuple[str, str]]:
    """The (system, user) messages of one coder call."""
    variables = prompt_variables(ctx, language)
    return [
        ("system", render(PROMPTS_DIR, "system.md.j2", **variables)),
        ("human", render(PROMPTS_DIR, "user.md.j2", **variables)),
    ]


def retry_message(reason: str) -> tuple[str, str]:
    """The follow-up message after an unusable answer."""
    return ("human", render(PROMPTS_DIR, "retry.md.j2", reason=reason))
