"""The compiled optimization graph, in process: fake coders and evaluator, in-memory checkpoints.

Covers the routing (plan -> seed -> evaluate fan-out -> interpret -> update -> select -> code
fan-out ... -> curate -> report), the reducers that merge parallel updates, the width of each
``Send`` fan-out, and a resume after the process was killed mid-run: no candidate is evaluated
twice, and the resumed run ends with the same tree as an uninterrupted one.
"""

from __future__ import annotations

import functools
from collections import Counter

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agents.llm import LLMConfig
from graph.builder import compile_graph
from graph.context import RunContext, SearchSettings
from graph.search import UCTPolicy
from graph.state import RunRequest, RunState
from tests.unit.graph.fakes import FakeCoders, FakeEvaluator, Interrupted, MemoryRecorder
from tools.hardware import load_target
from tools.problems import load_problem

BUDGET = 10
CHILDREN = 3


@functools.cache
def problem():
    return load_problem("softmax", shape="32x256")


def initial(run_id: str = "run1") -> RunState:
    return RunState(
        run_id=run_id,
        request=RunRequest(problem="softmax", target="h100", use_knowledge=False),
        problem=problem().model_dump(mode="json"),
        target=load_target("h100").model_dump(mode="json"),
        languages=["triton"],
        budget=BUDGET,
    )


def context(tmp_path, evaluator, recorder) -> RunContext:
    search = SearchSettings(children_per_generation=CHILDREN, plateau_generations=50)
    return RunContext(data_dir=tmp_path, search=search, policy=UCTPolicy.from_settings(search),
                      evaluator=evaluator, recorder=recorder, coders=FakeCoders(),
                      models=LLMConfig(), knowledge=None)  # fmt: skip


def config(run_id: str = "run1") -> dict:
    return {"configurable": {"thread_id": run_id}, "max_concurrency": 4, "recursion_limit": 500}


def run_steps(graph, graph_input, ctx, run_id="run1") -> list[tuple[int, str]]:
    """(superstep, node) of every task the run executed, in order."""
    steps = []
    for event in graph.stream(graph_input, config(run_id), context=ctx, stream_mode="debug",
                              durability="sync"):  # fmt: skip
        if event["type"] == "task":
            steps.append((event["step"], event["payload"]["name"]))
    return steps


@pytest.fixture
def finished(tmp_path):
    evaluator, recorder = FakeEvaluator(), MemoryRecorder(tmp_path)
    graph = compile_graph(InMemorySaver())
    steps = run_steps(graph, initial(), context(tmp_path, evaluator, recorder))
    state = graph.get_state(config()).values
    return steps, state, evaluator, recorder


def test_routing_runs_every_stage_in_order(finished):
    steps, state, _, recorder = finished
    nodes = [name for _, name in steps]
    assert nodes[:3] == ["plan", "seed", "dispatch"]
    assert nodes[-2:] == ["curate", "report"]
    assert nodes.count("curate") == 1 and nodes.count("report") == 1
    # every generation goes evaluate -> interpret -> update, then select or stop
    after_update = [nodes[i + 1] for i, n in enumerate(nodes[:-1]) if n == "update"]
    assert set(after_update[:-1]) == {"select"} and after_update[-1] == "curate"
    assert state["stop_reason"] == f"budget of {BUDGET} evaluations used"
    assert state["summary"]["status"] == "finished" and recorder.status == "finished"


def test_send_fans_out_one_task_per_candidate_and_per_child(finished):
    steps, state, _, _ = finished
    per_step = Counter(steps)
    seed_step = next(step for step, name in steps if name == "seed")
    # the 3 seeds and the PyTorch passthrough are evaluated side by side in one superstep
    assert per_step[(seed_step + 2, "evaluate")] == 4
    code_steps = sorted(step for (step, name) in per_step if name == "code")
    assert code_steps and all(per_step[(s, "code")] <= CHILDREN for s in code_steps)
    assert per_step[(code_steps[0], "code")] == CHILDREN
    eval_tasks = sum(n for (_, name), n in per_step.items() if name == "evaluate")
    assert eval_tasks == len(state["results"]) == BUDGET


def test_reducers_merge_parallel_updates(finished):
    _, state, evaluator, recorder = finished
    assert set(state["candidates"]) == set(state["results"]) == set(state["insights"])
    assert set(state["candidates"]) == set(recorder.candidates) == set(recorder.results)
    assert len(state["candidates"]) == BUDGET
    assert set(evaluator.calls.values()) == {1}
    # children were planned from parents in the tree and credited to the mode bandit once
    children = [c for c in state["candidates"].values() if c["generation"] > 0]
    parents = [pid for c in children for pid in c["parent_ids"]]
    assert parents and all(pid in state["candidates"] for pid in parents)
    assert sorted(state["credited"]) == sorted(set(state["credited"]))
    best = state["summary"]["best"]
    blocks = {cid: c["params"].get("BLOCK", 0) for cid, c in state["candidates"].items()}
    assert best["candidate_id"] == max(blocks, key=lambda cid: (blocks[cid] != 13, blocks[cid]))


@pytest.mark.parametrize("recorder_remembers", [True, False], ids=["store", "checkpoint-only"])
def test_a_killed_run_resumes_without_evaluating_any_candidate_twice(
    tmp_path, finished, recorder_remembers
):
    _, uninterrupted, _, _ = finished
    recorder = MemoryRecorder(tmp_path / "b", forget_results=not recorder_remembers)
    saver = InMemorySaver()
    graph = compile_graph(saver)
    killed = FakeEvaluator(fail_after=6)
    with pytest.raises(Interrupted):
        run_steps(graph, initial(), context(tmp_path, killed, recorder))
    partial = graph.get_state(config()).values
    assert 0 < len(partial["results"]) < BUDGET and not partial.get("summary")

    resumed = FakeEvaluator()
    run_steps(graph, None, context(tmp_path, resumed, recorder))
    final = graph.get_state(config()).values
    calls = killed.calls + resumed.calls
    assert set(calls) == set(final["results"]) and set(calls.values()) == {1}
    assert not set(killed.calls) & set(resumed.calls)
    assert set(final["candidates"]) == set(uninterrupted["candidates"])
    assert final["summary"]["best"]["candidate_id"] == uninterrupted["summary"]["best"]["candidate_id"]
