"""The search policy: pure functions over the flat candidate dict, and the policy they make.

Selection mixes a flat UCT (every evaluated node scored by the best normalised reward in its
subtree plus an exploration bonus) with evolutionary tournament selection; each child also
gets a memory mode chosen by a UCB1 bandit that learns, per run, which modes pay off.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agents.memory.schemas import MEMORY_MODES, ChildPlan
from graph.context import SearchSettings
from tools.records import Candidate, EvalResult

__all__ = ["MEMORY_MODES", "UCTPolicy", "best_candidate"]


def children_of(cands: Mapping[str, Candidate]) -> dict[str, list[str]]:
    """Parent id -> ids of its children."""
    kids: dict[str, list[str]] = {cid: [] for cid in cands}
    for cid, cand in cands.items():
        for pid in cand.parent_ids:
            kids.setdefault(pid, []).append(cid)
    return kids


def subtree_best(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
) -> dict[str, float]:
    """Best reward found in each node's subtree (the node included)."""
    kids = children_of(cands)
    memo: dict[str, float] = {}

    def best(cid: str) -> float:
        if cid not in memo:
            own = results[cid].reward if cid in results else 0.0
            memo[cid] = max([own] + [best(k) for k in kids.get(cid, []) if k in cands])
        return memo[cid]

    for cid in cands:
        best(cid)
    return memo


def eligible_parents(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
) -> list[str]:
    """Evaluated kernels a coder can build on (the PyTorch passthrough is not one)."""
    return sorted(
        cid for cid, c in cands.items() if cid in results and c.language != "pytorch"
    )


def uct_scores(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult], c: float
) -> dict[str, float]:
    """UCT score of every eligible parent: normalised subtree best + exploration bonus."""
    parents = eligible_parents(cands, results)
    if not parents:
        return {}
    best = subtree_best(cands, results)
    top = max(best.values()) or 1.0
    kids = children_of(cands)
    total = max(1, len(results))
    scores: dict[str, float] = {}
    for cid in parents:
        visits = 1 + len(kids.get(cid, []))
        explore = c * math.sqrt(math.log(total + 1) / visits)
        if not results[cid].accepted:
            # A failed kernel is worth one repair attempt, not sustained exploration.
            explore = explore * 0.5 if len(kids.get(cid, [])) == 0 else 0.0
        scores[cid] = best[cid] / top + explore
    return scores


def tournament(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult], rng: random.Random, k: int = 3
) -> str | None:
    """Evolutionary selection: the best of ``k`` accepted candidates drawn at random."""
    pool = [cid for cid in eligible_parents(cands, results) if results[cid].accepted]
    if not pool:
        return None
    picks = rng.sample(pool, min(k, len(pool)))
    return max(picks, key=lambda cid: (results[cid].reward, cid))


def choose_mode(stats: Mapping[str, Mapping[str, float]], rng: random.Random) -> str:
    """UCB1 over memory modes; untried modes first (in a random order)."""
    untried = [m for m in MEMORY_MODES if stats.get(m, {}).get("pulls", 0) == 0]
    if untried:
        return rng.choice(untried)
    total = sum(stats[m]["pulls"] for m in MEMORY_MODES)
    return max(
        MEMORY_MODES,
        key=lambda m: stats[m]["wins"] / stats[m]["pulls"]
        + math.sqrt(2 * math.log(total) / stats[m]["pulls"]),
    )


def best_candidate(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
) -> str | None:
    """The accepted candidate with the highest reward; ties go to the earlier id."""
    accepted = [cid for cid in cands if cid in results and results[cid].accepted]
    if not accepted:
        return None
    return min(accepted, key=lambda cid: (-results[cid].reward, cid))


@dataclass(frozen=True, kw_only=True)
class UCTPolicy:
    """The default :class:`graph.ports.SearchPolicy`: UCT and tournaments over the functions
    above, with its settings; its methods are pure (same inputs, same answer)."""

    seed: int = 0
    c: float = 1.0
    evolutionary_fraction: float = 0.3

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> UCTPolicy:
        """The policy a run's search settings describe."""
        return cls(
            seed=settings.seed, c=settings.uct_c, evolutionary_fraction=settings.evolutionary_fraction
        )

    def plan_children(
        self,
        cands: Mapping[str, Candidate],
        results: Mapping[str, EvalResult],
        mode_stats: Mapping[str, Mapping[str, float]],
        *,
        n: int,
        generation: int,
        languages: Sequence[str],
    ) -> list[ChildPlan]:
        """Plan ``n`` children for the next generation (deterministic given ``seed``)."""
        rng = random.Random(f"{self.seed}:{generation}")
        kernel_langs = [lang for lang in languages if lang != "pytorch"]
        scores = uct_scores(cands, results, self.c)
        plans: list[ChildPlan] = []
        for index in range(n):
            mode = choose_mode(mode_stats, rng) if scores else "restart"
            parent: str | None = None
            if scores and mode != "restart":
                if rng.random() < self.evolutionary_fraction:
                    parent = tournament(cands, results, rng)
                if parent is None:
                    parent = max(scores, key=lambda cid: (scores[cid], cid))
                # Diminish the chosen parent so siblings spread over the tree.
                scores[parent] = scores[parent] * 0.7
                if not results[parent].accepted:
                    mode = "inherit"  # repairing a failure needs the parent's own error
            language: str
            if parent is not None:
                language = cands[parent].language
            elif kernel_langs:
                language = kernel_langs[(generation + index) % len(kernel_langs)]
            else:
                raise ValueError("no kernel language to write children in")
            plans.append(
                ChildPlan(
                    parent_id=parent,
                    memory_mode=mode,
                    language=language,
                    generation=generation,
                    index=index,
                    rng_seed=rng.randrange(2**31),
                )
            )
        return plans

    def credit(
        self,
        cands: Mapping[str, Candidate],
        results: Mapping[str, EvalResult],
        mode_stats: Mapping[str, Mapping[str, float]],
        credited: Sequence[str],
    ) -> tuple[dict[str, dict[str, float]], list[str]]:
        """Update the bandit with children evaluated since the last call.

        A child is a win for its memory mode when its reward beats its parent's; a child
        without a parent (a restart) wins when it beats the worst accepted kernel so far.
        """
        new_stats = {m: dict(mode_stats.get(m, {"pulls": 0.0, "wins": 0.0})) for m in MEMORY_MODES}
        done = set(credited)
        newly: list[str] = []
        accepted_rewards = [r.reward for r in results.values() if r.accepted]
        floor = min(accepted_rewards) if accepted_rewards else 0.0
        for cid, cand in sorted(cands.items()):
            if cid in done or cid not in results or cand.memory_mode not in MEMORY_MODES:
                continue
            reward = results[cid].reward
            if cand.parent_ids and cand.parent_ids[0] in results:
                baseline = results[cand.parent_ids[0]].reward
            else:
                baseline = floor
            new_stats[cand.memory_mode]["pulls"] += 1
            new_stats[cand.memory_mode]["wins"] += 1.0 if reward > baseline else 0.0
            newly.append(cid)
        return new_stats, newly

    def best(
        self, cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
    ) -> str | None:
        """See :func:`best_candidate`."""
        return best_candidate(cands, results)
