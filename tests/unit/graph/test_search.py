"""The search policy is pure: same inputs, same plan; rewards steer selection."""

from __future__ import annotations

from graph import search
from tools.records import Candidate, EvalResult


def cand(cid: str, parent: str | None = None, lang: str = "triton", mode: str = "seed") -> Candidate:
    return Candidate(
        id=cid, parent_ids=[parent] if parent else [], language=lang, memory_mode=mode,
        source="class ModelNew: pass", template="t", params={"B": cid},
    )


def res(cid: str, speedup: float | None, ok: bool = True) -> EvalResult:
    return EvalResult(
        candidate_id=cid, target="cpu", static_ok=True, compiled=ok, correct=ok,
        runtime_ms=1.0 if ok else None, speedup_vs_eager=speedup if ok else None,
        measured_on="cpu",
    )


def tree():
    cands = {c.id: c for c in [cand("ref", lang="pytorch"), cand("a"), cand("b"), cand("a1", "a", mode="inherit")]}
    results = {"ref": res("ref", 1.0), "a": res("a", 1.5), "b": res("b", 0.5), "a1": res("a1", 2.0)}
    return cands, results


def test_subtree_best_propagates_child_rewards():
    cands, results = tree()
    best = search.subtree_best(cands, results)
    assert best["a"] == 2.0 and best["a1"] == 2.0 and best["b"] == 0.5


def test_passthrough_is_never_a_parent():
    cands, results = tree()
    assert "ref" not in search.eligible_parents(cands, results)


def test_plan_is_deterministic_and_respects_languages():
    cands, results = tree()
    kw = dict(n=4, generation=1, languages=["triton"])
    first = search.UCTPolicy(seed=7).plan_children(cands, results, {}, **kw)
    second = search.UCTPolicy(seed=7).plan_children(cands, results, {}, **kw)
    assert first == second
    assert len(first) == 4
    assert all(p.language == "triton" for p in first)
    assert {p.memory_mode for p in first} <= set(search.MEMORY_MODES)


def test_uct_prefers_the_better_subtree_without_exploration():
    cands, results = tree()
    scores = search.uct_scores(cands, results, c=0.0)
    assert scores["a"] > scores["b"]
    assert scores["a1"] == scores["a"]


def test_failed_parent_gets_one_repair_in_inherit_mode():
    cands = {"x": cand("x")}
    results = {"x": res("x", None, ok=False)}
    policy = search.UCTPolicy(seed=0, evolutionary_fraction=0)
    plans = policy.plan_children(cands, results, {m: {"pulls": 1, "wins": 0} for m in search.MEMORY_MODES},
                                 n=1, generation=1, languages=["triton"])
    assert plans[0].parent_id in (None, "x")
    if plans[0].parent_id == "x":
        assert plans[0].memory_mode == "inherit"


def test_bandit_credits_improvements_once():
    cands, results = tree()
    stats, newly = search.UCTPolicy().credit(cands, results, {}, [])
    assert newly == ["a1"]  # seeds and the passthrough are not memory-mode children
    assert stats["inherit"] == {"pulls": 1.0, "wins": 1.0}
    again, newly2 = search.UCTPolicy().credit(cands, results, stats, newly)
    assert newly2 == [] and again == stats


def test_choose_mode_tries_every_mode_first_then_exploits():
    import random

    rng = random.Random(0)
    assert search.choose_mode({}, rng) in search.MEMORY_MODES
    stats = {m: {"pulls": 50.0, "wins": 0.0} for m in search.MEMORY_MODES}
    stats["combine"]["wins"] = 45.0
    assert search.choose_mode(stats, rng) == "combine"


def test_best_candidate_ignores_rejected():
    cands, results = tree()
    results["a1"] = res("a1", 9.0, ok=False)
    assert search.best_candidate(cands, results) == "a"
