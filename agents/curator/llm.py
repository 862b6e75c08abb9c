"""The curator's LLM path: the skill text written from the winning diff and its diagnostics."""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import BaseModel, Field

from agents.llm.describe import result_report
from agents.llm.prompts import render
from agents.llm.session import LLMSession
from agents.tree import RunTree
from tools.records import Candidate, EvalResult, Problem, Skill, Target

PROMPTS_DIR = Path(__file__).parent / "prompts"
MAX_DIFF_CHARS = 6000
MAX_EXCERPT_LINES = 40


class SkillText(BaseModel):
    """What the model writes for one skill (structured output)."""

    summary: str = Field(description="One to three sentences: what to do, why, when it applies.")
    code_excerpt: str = Field(
        description="At most 40 lines copied from the kernel carrying the idea."
    )


def winning_diff(parent: Candidate | None, cand: Candidate) -> str:
    """Unified diff parent -> candidate (empty without a parent), trimmed for a prompt."""
    if parent is None:
        return ""
    lines = difflib.unified_diff(
        parent.source.splitlines(), cand.source.splitlines(),
        fromfile=parent.id, tofile=cand.id, lineterm="", n=2,
    )  # fmt: skip
    return "\n".join(lines)[:MAX_DIFF_CHARS]


def skill_prompt(
    skill: Skill, cand: Candidate, parent: Candidate | None, result: EvalResult,
    problem: Problem, target: Target,
) -> str:  # fmt: skip
    """The curator's prompt for one skill."""
    diff = winning_diff(parent, cand)
    return render(
        PROMPTS_DIR, "skill.md.j2",
        skill=skill, cand=cand, parent=parent if diff else None, diff=diff,
        source=cand.source[:MAX_DIFF_CHARS], report=result_report(result),
        problem=problem, target=target,
    )  # fmt: skip


def write_skill(skill: Skill, tree: RunTree, session: LLMSession) -> Skill:
    """``skill`` with its summary and code excerpt written by the curator's model.

    Raises:
        LLMError: A subclass; the node keeps the rules' text where it chooses to.
    """
    problem, target, candidates = tree.problem, tree.target, tree.candidates
    cand = candidates[skill.candidate_id]
    parent = candidates.get(cand.parent_ids[0]) if cand.parent_ids else None
    prompt = skill_prompt(skill, cand, parent, tree.results[cand.id], problem, target)
    text = session.structured(SkillText, [("human", prompt)])
    excerpt = "\n".join(text.code_excerpt.strip().splitlines()[:MAX_EXCERPT_LINES])
    head = f"{problem.op or problem.name} on {target.name}: "
    return skill.model_copy(
        update={
            "summary": head + text.summary.strip(),
            "code_excerpt": excerpt or skill.code_excerpt,
        }
    )
