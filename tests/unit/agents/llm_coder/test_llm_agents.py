"""Interpreter, curator, synthesizer and planner nodes with scripted models (and without)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from langgraph.runtime import Runtime

from agents.coders.base import CoderContext
from agents.llm import LLMConfig, LLMUnavailableError
from agents.llm.fakes import ScriptedChatModel
from agents.llm.usage import usage_summary
from agents.llm_coder import LLMCoder
from agents.llm_coder.fewshot import FEWSHOT_DIR
from graph.agent_nodes import code, curate, interpret
from graph.context import RunContext
from graph.state import ChildPlan, CodeTask, RunRequest, RunState
from kevolve.api import run_context
from kevolve.settings import get_settings
from tools.errors import KevolveError
from tools.hardware import load_target
from tools.problems import load_problem
from tools.records import Candidate, EvalResult

SPEC = "openai:gpt-4.1-mini"
GOOD = (FEWSHOT_DIR / "triton_softmax.py").read_text()


@functools.cache
def softmax():
    return load_problem("softmax", shape="32x256")


def run_ctx(tmp_path: Path, responses=None, **cfg) -> tuple[RunContext, ScriptedChatModel]:
    model = ScriptedChatModel(responses=list(responses or []))
    models = LLMConfig(
        model=SPEC if responses is not None else None, factory=lambda spec: model, **cfg
    )
    ctx = run_context(get_settings(data_dir=tmp_path, use_knowledge=False), models=models)
    return ctx, model


def cand(cid, parent=None, lang="triton", source=GOOD) -> dict:
    return Candidate(id=cid, parent_ids=[parent] if parent else [], language=lang, source=source,
                     transformation=f"change {cid}", memory_mode="inherit" if parent else "seed",
                     template="t" if lang == "pytorch" else "").model_dump(mode="json")  # fmt: skip


def ok(cid, speedup) -> dict:
    res = EvalResult(candidate_id=cid, target="h100", static_ok=True, compiled=True, correct=True,
                     runtime_ms=1 / speedup, speedup_vs_eager=speedup, measured_on="modeled")  # fmt: skip
    res.diagnostics.bound = "memory"
    return res.model_dump(mode="json")


def state() -> RunState:
    return RunState(
        run_id="run1", request=RunRequest(problem="softmax", target="h100", use_knowledge=False),
        problem=softmax().model_dump(mode="json"), target=load_target("h100").model_dump(mode="json"),
        languages=["triton"], budget=4,
        candidates={"ref": cand("ref", lang="pytorch"), "a": cand("a"),
                    "b": cand("b", "a", source=GOOD.replace("num_warps = 8", "num_warps = 4"))},
        results={"ref": ok("ref", 1.0), "a": ok("a", 1.2), "b": ok("b", 1.8)},
    )  # fmt: skip


INSIGHT = {"bottleneck": "memory", "explanation": "marker: streams each row once",
           "next_moves": ["two rows per program", "wider loads"]}  # fmt: skip


# Interpreter -----------------------------------------------------------------------------
def test_interpreter_offline_by_default(tmp_path):
    ctx, _ = run_ctx(tmp_path)
    insights = interpret(state(), Runtime(context=ctx))["insights"]
    assert set(insights) == {"ref", "a", "b"}
    assert {i["author"] for i in insights.values()} == {"offline"}


def test_interpreter_llm_writes_insights_for_kernels_only(tmp_path):
    ctx, model = run_ctx(tmp_path, [INSIGHT, INSIGHT])
    insights = interpret(state(), Runtime(context=ctx))["insights"]
    assert (
        insights["a"]["author"] == SPEC and insights["a"]["explanation"] == INSIGHT["explanation"]
    )
    assert insights["b"]["next_moves"] == INSIGHT["next_moves"]
    assert insights["ref"]["author"] == "offline"  # the passthrough needs no model
    assert len(model.received) == 2
    prompt = model.received[0][-1].content
    assert "H100" in prompt and "bound: memory" in prompt and "@triton.jit" in prompt
    assert usage_summary(ctx.runs_dir, "run1").by_agent["interpreter"].calls == 2


def test_interpreter_keeps_rules_when_the_answer_is_malformed_twice(tmp_path):
    ctx, _ = run_ctx(tmp_path, [{"bottleneck": "nonsense"}, "no JSON here", INSIGHT])
    insights = interpret(state(), Runtime(context=ctx))["insights"]
    assert insights["a"]["author"] == "offline" and insights["b"]["author"] == SPEC


def test_a_malformed_structured_answer_is_retried_once_with_its_reason(tmp_path):
    ctx, model = run_ctx(tmp_path, [{"bottleneck": "nonsense"}, INSIGHT, INSIGHT])
    insights = interpret(state(), Runtime(context=ctx))["insights"]
    assert insights["a"]["author"] == SPEC and insights["b"]["author"] == SPEC
    retry = model.received[1][-1].content
    assert "could not be used" in retry and "bottleneck" in retry


def test_interpreter_unreachable_model_stops_or_falls_back(tmp_path):
    ctx, _ = run_ctx(tmp_path, [LLMUnavailableError("the model is unreachable.")])
    with pytest.raises(LLMUnavailableError):
        interpret(state(), Runtime(context=ctx))
    ctx, _ = run_ctx(
        tmp_path, [LLMUnavailableError("the model is unreachable.")], fallback_offline=True
    )
    insights = interpret(state(), Runtime(context=ctx))["insights"]
    assert {i["author"] for i in insights.values()} == {"offline"}


# Curator ---------------------------------------------------------------------------------
def test_curator_offline_by_default(tmp_path):
    ctx, _ = run_ctx(tmp_path)
    skills = curate(state(), Runtime(context=ctx))["new_skills"]
    assert skills and all("marker" not in s["summary"] for s in skills)


def test_curator_llm_writes_skill_text_from_the_winning_diff(tmp_path):
    text = {
        "summary": "marker: four warps beat eight for 256-column rows.",
        "code_excerpt": "num_warps = 4",
    }
    ctx, model = run_ctx(tmp_path, [text, text, text])
    skills = curate(state(), Runtime(context=ctx))["new_skills"]
    win = next(s for s in skills if s["candidate_id"] == "b")
    assert win["summary"] == "softmax on h100: " + text["summary"]
    assert win["code_excerpt"] == "num_warps = 4"
    prompt = model.received[0][-1].content
    assert (
        "```diff" in prompt
        and "-        num_warps = 8" in prompt
        and "+        num_warps = 4" in prompt
    )
    assert (tmp_path / "runs" / "run1" / "skills.json").is_file()


# Synthesizer -----------------------------------------------------------------------------
def code_task(parent="a") -> CodeTask:
    s = state()
    child = ChildPlan(
        parent_id=parent,
        memory_mode="inherit",
        language="triton",
        generation=1,
        index=0,
        rng_seed=3,
    )
    ctx = CoderContext(problem=softmax(), target=load_target("h100"), memory_mode="inherit",
                       parent=Candidate.model_validate(s.candidates[parent]),
                       parent_result=EvalResult.model_validate(s.results[parent]))  # fmt: skip
    return CodeTask(run_id="run1", child=child, context=ctx.model_dump(mode="json"))


def test_code_node_uses_the_llm_coder_when_a_model_is_configured(tmp_path):
    ctx, _ = run_ctx(tmp_path, [f"Transformation: marker move\n```python\n{GOOD}```"])
    assert isinstance(ctx.coders.coder("triton", run_id="run1"), LLMCoder)
    out = code(code_task(), Runtime(context=ctx))
    ((cid, record),) = out["candidates"].items()
    assert record["author"] == SPEC and record["transformation"] == "marker move"
    assert record["parent_ids"] == ["a"] and record["memory_mode"] == "inherit"
    saved = tmp_path / "runs" / "run1" / "candidates" / f"{cid}.json"
    assert SPEC in saved.read_text()


def test_code_node_is_offline_without_a_model(tmp_path):
    ctx, _ = run_ctx(tmp_path)
    coder = ctx.coders.coder("triton", run_id="run1")
    assert not isinstance(coder, LLMCoder) and coder.language == "triton"


def test_a_structured_answer_given_as_prose_with_json_is_read(tmp_path):
    import json as _json

    prose = f"Here is my analysis.\n```json\n{_json.dumps(INSIGHT)}\n```\nHope it helps."
    ctx, model = run_ctx(tmp_path, [prose, prose])
    insights = interpret(state(), Runtime(context=ctx))["insights"]
    assert insights["a"]["author"] == SPEC and len(model.received) == 2  # no retry needed


def test_curator_outage_keeps_the_rules_text_and_is_recorded(tmp_path):
    from agents.llm.usage import read_fallbacks

    ctx, _ = run_ctx(tmp_path, [LLMUnavailableError("the model is unreachable.")])
    skills = curate(state(), Runtime(context=ctx))["new_skills"]
    assert skills and all("marker" not in s["summary"] for s in skills)
    [fallback] = read_fallbacks(ctx.runs_dir, state().run_id)
    assert fallback["agent"] == "curator" and "unreachable" in fallback["reason"]


def test_code_node_writes_no_child_when_every_generator_is_exhausted(tmp_path):
    import dataclasses

    class Exhausted:
        language = "triton"
        name = "exhausted"

        def propose(self, ctx):
            raise KevolveError("every setting has been tried")

    class Source:
        def coder(self, language, **kw):
            return Exhausted()

    ctx, _ = run_ctx(tmp_path)
    ctx = dataclasses.replace(ctx, coders=Source())
    assert code(code_task(), Runtime(context=ctx)) == {}
