"""Write what worked back as skills.

The offline rules pick the winning steps and the best kernel; with a model configured for
the ``curator`` agent, the model writes each skill's text from the winning diff and its
diagnostics (the rules' text stays, and the run records it, when the model's answer is
unusable twice, the budget is spent, or the model is unreachable: curation comes after
every evaluation, so it never stops a run).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from agents.curator.llm import write_skill
from agents.curator.rules import distil_skills
from agents.llm.config import LLMConfig
from agents.llm.fallback import ModelOrRules
from agents.llm.session import LLMSession
from agents.tree import RunTree
from tools.records import Skill

log = logging.getLogger(__name__)

MAX_LLM_SKILLS = 3
"""Skills per run whose text the model writes (the best ones); the rest keep the rules' text."""


def curate_skills(run_id: str, tree: RunTree, *, config: LLMConfig, runs_dir: Path) -> list[Skill]:
    """Distil skills from a run's tree (their text written by the curator's model if any).

    Never raises for the model: its failures keep the rules' text (recorded in the run).
    Every evaluation is done by then: an outage costs the skills' wording, never the run (it
    finishes with its best; the rules' text is kept).
    """
    skills = distil_skills(run_id, tree)
    if not skills or not config.enabled("curator"):
        return skills
    session = LLMSession(config=config, agent="curator", run_id=run_id, runs_dir=runs_dir)
    model = ModelOrRules(session=session, rest="skill texts from here on")
    written: list[Skill] = []
    for i, skill in enumerate(skills):
        if i < MAX_LLM_SKILLS:
            skill = model.ask(f"text of {skill.id}", partial(write_skill, skill, tree), skill)
        written.append(skill)
    return written
