"""Each memory mode assembles exactly its context, and the coder prompt shows only that."""

from __future__ import annotations

import functools

import pytest

from agents.llm_coder.context import render_messages
from agents.memory.context import assemble_context
from agents.tree import RunTree
from graph.state import ChildPlan
from tools.hardware import load_target
from tools.problems import load_problem
from tools.records import Candidate, EvalResult, Stage

P0, A, B, C, A1 = (
    "g00-01-p0p0p0",
    "g01-00-aaaaaa",
    "g01-01-bbbbbb",
    "g01-02-cccccc",
    "g02-00-a1a1a1",
)


@functools.cache
def problem_and_target():
    return load_problem("softmax", shape="32x256"), load_target("h100")


def cand(cid: str, parent: str | None, mode: str = "inherit") -> Candidate:
    source = f"# marker-{cid}\nclass ModelNew:\n    pass\n"
    return Candidate(id=cid, parent_ids=[parent] if parent else [], language="triton",
                     memory_mode=mode, source=source, transformation=f"change-{cid}")  # fmt: skip


def ok(cid: str, speedup: float) -> EvalResult:
    return EvalResult(candidate_id=cid, target="h100", static_ok=True, compiled=True, correct=True,
                      runtime_ms=1.0 / speedup, speedup_vs_eager=speedup, measured_on="modeled")  # fmt: skip


def failed(cid: str) -> EvalResult:
    return EvalResult(candidate_id=cid, target="h100", static_ok=True, stage_failed=Stage.COMPILE,
                      error="CompilationError: marker-compile-error")  # fmt: skip


def tree():
    cands = {
        c.id: c
        for c in [cand(P0, None, "seed"), cand(A, P0), cand(B, P0), cand(C, P0), cand(A1, A)]
    }
    results = {P0: ok(P0, 1.2), A: ok(A, 1.5), B: ok(B, 0.9), C: failed(C), A1: ok(A1, 2.0)}
    return cands, results


def context(mode: str, parent: str | None = A):
    problem, target = problem_and_target()
    cands, results = tree()
    child = ChildPlan(
        parent_id=parent, memory_mode=mode, language="triton", generation=3, index=0, rng_seed=1
    )
    run = RunTree(problem=problem, target=target, candidates=cands, results=results)
    return assemble_context(child=child, tree=run, documents=["[source: h100 guide, p. 3]\nmarker-doc"])


def prompt(mode: str, parent: str | None = A) -> str:
    return "\n".join(text for _, text in render_messages(context(mode, parent), "triton"))


def ids(pairs) -> list[str]:
    return [c.id for c, _ in pairs]


def test_inherit_sees_the_parent_and_its_lineage_only():
    ctx = context("inherit")
    assert ctx.parent.id == A and ids(ctx.lineage) == [P0] and ctx.siblings == []
    text = prompt("inherit")
    assert "mode: inherit" in text
    assert f"marker-{A}" in text and P0 in text and "change-" + P0 in text
    assert f"marker-{B}" not in text and C not in text


def test_compare_sees_the_parent_and_its_siblings_best_first():
    ctx = context("compare")
    assert ctx.parent.id == A and ctx.lineage == []
    assert ids(ctx.siblings) == [B, C]  # by reward: 0.9 beats the failed one
    text = prompt("compare")
    assert "mode: compare" in text
    assert B in text and C in text and "failed at compile" in text
    assert f"marker-{B}" in text  # the best sibling's code
    assert f"marker-{C}" not in text  # the others only as a table row
    assert "change-" + P0 not in text  # no lineage


def test_combine_sees_the_parent_and_the_best_correct_sibling():
    ctx = context("combine")
    assert ctx.parent.id == A and ids(ctx.siblings) == [B] and ctx.lineage == []
    text = prompt("combine")
    assert "mode: combine" in text and f"marker-{A}" in text and f"marker-{B}" in text
    assert C not in text


def test_restart_sees_only_the_problem_and_the_chip():
    ctx = context("restart")
    assert ctx.parent is None and ctx.lineage == [] and ctx.siblings == []
    text = prompt("restart")
    assert "mode: restart" in text
    assert not any(marker in text for marker in (P0, A, B, C, A1))
    assert "marker-doc" in text and "3350 GB/s" in text  # chip knowledge stays


@pytest.mark.parametrize("mode", ["inherit", "compare", "combine", "restart"])
def test_every_mode_keeps_the_problem_chip_facts_and_documents(mode):
    text = prompt(mode)
    assert "torch.softmax" in text and "H100" in text
    assert "[source: h100 guide, p. 3]" in text


def test_prompts_differ_between_modes():
    texts = {mode: prompt(mode) for mode in ("inherit", "compare", "combine", "restart")}
    assert len(set(texts.values())) == 4


def test_a_failed_parent_is_a_fix_task_with_its_error():
    text = prompt("inherit", parent=C)
    assert "failed at the **compile** stage" in text and "marker-compile-error" in text
