"""Conformance of the run's ports (graph/ports.py): every implementation, the same behaviour.

Each test takes its implementation from a parametrised fixture, so a new backend (a Ray
evaluator, a Postgres checkpointer) joins by adding one entry. The in-memory fakes the graph
test uses are held to the same behaviour as the real implementations.
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from agents.knowledge import ChromaKnowledge, KnowledgeSettings
from agents.llm import LLMConfig
from agents.synthesizer.select import RunCoders
from graph.checkpoint import sqlite_checkpointer
from graph.context import EvalSettings
from graph.evaluation import SubprocessEvaluator
from graph.search import UCTPolicy
from kevolve.runstore import RunInfo, RunStore
from tests.support import EVALUATOR_FIXTURES, SOFTMAX_PROBLEM
from tests.unit.graph.fakes import FakeCoders, FakeEvaluator, MemoryRecorder
from tools.errors import KevolveError
from tools.hardware import load_target
from tools.problems import load_problem
from tools.records import Candidate, EvalResult, Problem, Skill
from tools.records.eval_result import Stage

FIXTURES = EVALUATOR_FIXTURES


@functools.cache
def softmax() -> Problem:
    return Problem(name="softmax", source=SOFTMAX_PROBLEM.read_text())


def candidate(cid: str, source: str, language: str = "pytorch", **kw) -> Candidate:
    return Candidate(id=cid, language=language, source=source, **kw)  # type: ignore[arg-type]


def accepted(cid: str, speedup: float) -> EvalResult:
    return EvalResult(candidate_id=cid, target="h100", static_ok=True, compiled=True,
                      correct=True, runtime_ms=1 / speedup, speedup_vs_eager=speedup)  # fmt: skip


# Evaluator -------------------------------------------------------------------------------
@pytest.fixture(params=["subprocess", "fake"])
def evaluator(request, tmp_path):
    if request.param == "subprocess":
        request.applymarker(pytest.mark.slow)
        settings = EvalSettings(eval_timeout_s=240, eval_seeds=2, eval_rep_ms=20)
        quick = {"measure_compile": False, "warmup_ms": 5.0}
        return SubprocessEvaluator(data_dir=tmp_path, settings=settings, extra_options=quick)
    return FakeEvaluator()


def test_evaluator_accepts_an_honest_candidate(evaluator):
    honest = candidate("honest", (FIXTURES / "pytorch_softmax.py").read_text())
    result = evaluator.evaluate(softmax(), honest, load_target("cpu"), run_id="r1")
    assert result.candidate_id == "honest" and result.accepted, result.error
    assert result.reward > 0 and result.runtime_ms > 0


def test_evaluator_reports_a_broken_candidate_as_a_result_not_an_exception(evaluator):
    broken = candidate("broken", "import torch\n\ndef forward(x):\n    return x\n")
    result = evaluator.evaluate(softmax(), broken, load_target("cpu"), run_id="r1")
    assert result.candidate_id == "broken" and not result.accepted
    assert result.stage_failed is not None and result.error and result.reward == 0.0


def test_subprocess_evaluator_draws_the_same_seeds_for_the_same_candidate(tmp_path):
    ev = SubprocessEvaluator(data_dir=tmp_path, settings=EvalSettings(eval_seeds=4))
    first = ev.options("run1", "c1", False)
    assert first.seeds == ev.options("run1", "c1", False).seeds and len(set(first.seeds)) == 4
    assert first.seeds != ev.options("run1", "c2", False).seeds
    assert first.work_dir.startswith(str(tmp_path)) and first.timeout_s == 300.0
    again = ev.options("run1", "c1", False, remeasure=0)
    assert again.seeds != first.seeds and again.seeds == ev.options("run1", "c1", False, 0).seeds


# SearchPolicy ------------------------------------------------------------------------------
@pytest.fixture(params=["uct"])
def policy(request):
    return UCTPolicy(seed=7)


def _tree():
    src = "class ModelNew: pass\n"
    cands = {
        "ref": candidate("ref", src),
        "a": candidate("a", src, "triton", template="t", params={"B": 1}),
        "b": candidate("b", src, "triton", template="t", params={"B": 2}, parent_ids=["a"],
                       memory_mode="inherit", generation=1),
        "c": candidate("c", src, "triton", template="t", params={"B": 3}),
    }  # fmt: skip
    results = {"ref": accepted("ref", 1.0), "a": accepted("a", 1.5), "b": accepted("b", 2.0),
               "c": EvalResult(candidate_id="c", target="h100", stage_failed=Stage.COMPILE,
                               error="does not compile")}  # fmt: skip
    return cands, results


def test_policy_plans_n_children_from_evaluated_kernels_deterministically(policy):
    cands, results = _tree()
    kids = policy.plan_children(cands, results, {}, n=3, generation=2, languages=["triton"])
    again = policy.plan_children(cands, results, {}, n=3, generation=2, languages=["triton"])
    assert kids == again and len(kids) == 3
    assert [k.index for k in kids] == [0, 1, 2] and {k.generation for k in kids} == {2}
    assert {k.language for k in kids} == {"triton"}
    assert all(k.parent_id in (None, "a", "b", "c") for k in kids)  # never the passthrough
    assert policy.plan_children(cands, results, {}, n=0, generation=2, languages=["triton"]) == []


def test_policy_credits_each_child_once_and_names_the_best(policy):
    cands, results = _tree()
    stats, newly = policy.credit(cands, results, {}, [])
    assert "b" in newly and sum(s["pulls"] for s in stats.values()) == len(newly)
    again, none = policy.credit(cands, results, stats, newly)
    assert none == [] and again == stats
    assert policy.best(cands, results) == "b"
    assert policy.best(cands, {"c": results["c"]}) is None


# KnowledgeStore ----------------------------------------------------------------------------
SKILL = Skill(id="s1", op_family="softmax", chip="h100", language="triton", gain=1.4,
              summary="softmax on h100: one row per program", measured_on="H100",
              run_id="r0", candidate_id="c0")  # fmt: skip


@pytest.fixture(params=["chroma"])
def knowledge(request, tmp_path):
    from hardware_docs import DOCS_DIR
    from vectorstore.embeddings import HashingEmbedding
    from vectorstore.store import KnowledgeStore

    store = KnowledgeStore.ephemeral(embedding_function=HashingEmbedding())
    store.ensure_shipped_docs(DOCS_DIR)
    return ChromaKnowledge(data_dir=tmp_path, settings=KnowledgeSettings(), store=store)


def test_knowledge_retrieves_cited_chip_documents_and_remembered_skills(knowledge):
    problem, h100 = load_problem("softmax", shape="32x256"), load_target("h100")
    found = knowledge.retrieve(problem, h100)
    assert found.documents and all("h100" in d.lower() for d in found.documents)
    assert found.skills == [] and len(found.refs) == len(found.documents)
    assert {ref["chip"] for ref in found.refs} == {"h100"}
    skill = SKILL.model_copy(update={"op_family": problem.op_family})
    knowledge.remember([skill])
    assert [s.id for s in knowledge.retrieve(problem, h100).skills] == ["s1"]
    assert knowledge.retrieve(problem, load_target("mi300x")).skills == []


def test_knowledge_that_cannot_open_its_store_degrades_to_nothing(tmp_path):
    broken = ChromaKnowledge(data_dir=tmp_path / "file",
                             settings=KnowledgeSettings(chroma_url="http://256.0.0.1:1"))  # fmt: skip
    problem = load_problem("softmax", shape="32x256")
    found = broken.retrieve(problem, load_target("h100"))
    assert found.documents == found.skills == found.refs == []
    broken.remember([SKILL])


# RunRecorder -------------------------------------------------------------------------------
@pytest.fixture(params=["runstore", "memory"])
def recorder(request, tmp_path):
    if request.param == "memory":
        return MemoryRecorder(tmp_path)
    store = RunStore(tmp_path / "runs")
    store.create(RunInfo(run_id="r1", problem="softmax", target="cpu", budget=4), "src")
    return store


def test_recorder_keeps_what_a_resumed_run_reads_back(recorder):
    cand = candidate("c1", "class ModelNew: pass\n")
    recorder.save_candidate("r1", cand)
    assert recorder.load_result("r1", "c1") is None
    result = accepted("c1", 1.7)
    recorder.save_result("r1", result)
    assert recorder.load_result("r1", "c1") == result
    recorder.save_result("r1", accepted("c2", 1.1))
    assert recorder.evaluation_log("r1") == ["c1", "c2"]
    assert recorder.load_remeasurement("r1", "c1", 0) is None
    again = accepted("c1", 1.6)
    recorder.save_remeasurement("r1", "c1", 0, again)
    assert recorder.load_remeasurement("r1", "c1", 0) == again
    assert recorder.load_remeasurement("r1", "c1", 1) is None
    path = recorder.write_text("r1", "report.md", "# done\n")
    assert path.read_text() == "# done\n" and path.parent == recorder.run_dir("r1")
    recorder.set_status("r1", "finished")


# CoderSource -------------------------------------------------------------------------------
@pytest.fixture(params=["offline", "fake"])
def coders(request, tmp_path):
    if request.param == "fake":
        return FakeCoders()
    return RunCoders(config=LLMConfig(), runs_dir=tmp_path)


def test_coder_source_gives_a_coder_of_the_language_asked(coders):
    problem, h100 = load_problem("softmax", shape="32x256"), load_target("h100")
    coder = coders.coder("triton", run_id="r1")
    assert coder.language == "triton" and coder.supports(problem, h100)
    drafts = coder.seed(problem, h100)
    assert drafts and {d.language for d in drafts} == {"triton"}


def test_offline_coder_source_refuses_a_language_it_has_no_coder_for(tmp_path):
    with pytest.raises(KevolveError, match="no offline"):
        RunCoders(config=LLMConfig(), runs_dir=tmp_path).coder("fortran", run_id="r1")


# Checkpointer ------------------------------------------------------------------------------
class Steps(BaseModel):
    done: Annotated[list[str], operator.add] = []


@pytest.fixture(params=["sqlite", "memory"])
def reopen(request, tmp_path):
    """A function giving the checkpointer as a new process would open it again."""
    if request.param == "memory":
        saver = InMemorySaver()
        return lambda: saver
    return lambda: sqlite_checkpointer(tmp_path / "ck" / "checkpoints.sqlite")


def test_checkpointer_resumes_after_the_last_finished_step(reopen):
    calls: list[str] = []
    fail = {"b": True}

    def step(name):
        def run(state: Steps) -> dict:
            calls.append(name)
            if fail.get(name):
                raise RuntimeError("killed")
            return {"done": [name]}
        return run

    builder = StateGraph(Steps)
    for name in "abc":
        builder.add_node(name, step(name))
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    config = {"configurable": {"thread_id": "run-1"}}
    with pytest.raises(RuntimeError):
        builder.compile(checkpointer=reopen()).invoke(Steps(), config, durability="sync")
    fail["b"] = False
    final = builder.compile(checkpointer=reopen()).invoke(None, config, durability="sync")
    assert final["done"] == ["a", "b", "c"] and calls == ["a", "b", "b", "c"]
    other = builder.compile(checkpointer=reopen()).get_state({"configurable": {"thread_id": "x"}})
    assert not other.values
