"""Skills in the knowledge base: a duplicate is the same configuration, not a similar sentence."""

from __future__ import annotations

from typing import Any

from tools.records import Skill
from vectorstore.embeddings import HashingEmbedding
from vectorstore.store import KnowledgeStore

PARAMS = {"variant": "single", "BLOCK_M": 1, "num_stages": 2, "persistent": 0}


def skill(sid: str, gain: float, warps: int, summary: str = "", **kw: Any) -> Skill:
    text = summary or (
        f"softmax on h100: triton.softmax with {{'variant': 'single', 'BLOCK_M': 1, 'num_warps': "
        f"{warps}, 'num_stages': 2, 'persistent': 0}} was the best triton kernel, {gain:.2f}x "
        "faster than the best default seed of the template on this chip, one row per program "
        "with the whole row in registers"
    )
    base = {"id": sid, "op_family": "softmax", "chip": "h100", "language": "triton",
            "summary": text, "template": "triton.softmax", "params": {**PARAMS, "num_warps": warps},
            "gain": gain, "measured_on": "modeled", "run_id": "r", "candidate_id": f"c-{sid}"}  # fmt: skip
    return Skill(**(base | kw))


def stored(store: KnowledgeStore) -> dict[str, float]:
    found = store.search_skills("softmax", chip="h100", op_family="softmax", k=20)
    return {s.id: s.gain for s in found}


def test_configurations_that_read_alike_are_kept_apart():
    store = KnowledgeStore.ephemeral(embedding_function=HashingEmbedding())
    store.add_skill(skill("w16", 1.5, 16))
    # the summaries differ only in two numbers (cosine > 0.9), the configurations differ: keep both
    assert store.add_skill(skill("w2", 1.2, 2)).id == "w2"
    assert stored(store) == {"w16": 1.5, "w2": 1.2}


def test_one_configuration_is_one_skill_whatever_its_summary():
    store = KnowledgeStore.ephemeral(embedding_function=HashingEmbedding())
    store.add_skill(skill("best", 1.5, 16))
    step = skill("step", 1.3, 16, summary="num_warps 8 -> 16 made a triton.softmax kernel faster")
    assert store.add_skill(step).id == "best"  # the same params with a smaller gain: merged
    better = skill("again", 2.0, 16, summary="another run: sixteen warps won")
    assert store.add_skill(better).id == "again"  # a larger gain replaces it
    assert stored(store) == {"again": 2.0}


def test_free_form_skills_still_merge_by_summary():
    store = KnowledgeStore.ephemeral(embedding_function=HashingEmbedding())
    text = "Keep one row per program and fuse the exponent with the sum."
    store.add_skill(skill("a", 1.4, 0, summary=text, template="", params={}))
    assert store.add_skill(skill("b", 1.9, 0, summary=text, template="", params={})).id == "b"
    other = "Split long rows across two programs and combine their partial sums."
    assert store.add_skill(skill("c", 1.1, 0, summary=other, template="", params={})).id == "c"
    assert stored(store) == {"b": 1.9, "c": 1.1}
