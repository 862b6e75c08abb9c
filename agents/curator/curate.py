"""Write what worked back as skills.

The offline rules pick the winning steps and the best kernel; with a model configured for
the ``curator`` agent, the model writes each skill's text from the winning diff and its
diagnostics (the rules' text stays, and the run records it, when the model's answer is
unusable twice, the budget is spent, or the model is unreachable: curation comes after
every evaluation, so it never stops a run).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from agents.curator.llm import write_skill
from agents.curator.rules import distil_skills
from agents.llm.config import LLMConfig
from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMRequestError, LLMUnavailableError
from agents.llm.session import LLMSession
from tools.records import Candidate, EvalResult, Problem, Skill, Target

log = logging.getLogger(__name__)

MAX_LLM_SKILLS = 3
"""Skills per run whose text the model writes (the best ones); the rest keep the rules' text."""


def curate_skills(
    run_id: str,
    problem: Problem,
    target: Target,
    cands: Mapping[str, Candidate],
    results: Mapping[str, EvalResult],
    *,
    config: LLMConfig,
    runs_dir: Path,
) -> list[Skill]:
    """Distil skills from a run's tree (their text written by the curator's model if any).

    Never raises for the model: its failures keep the rules' text (recorded in the run).
    """
    skills = distil_skills(run_id, problem, target, cands, results)
    if not skills or not config.enabled("curator"):
        return skills
    session = LLMSession(config=config, agent="curator", run_id=run_id, runs_dir=runs_dir)
    written: list[Skill] = []
    use_model = True
    for i, skill in enumerate(skills):
        if use_model and i < MAX_LLM_SKILLS:
            try:
                skill = write_skill(skill, cands, results, problem, target, session)
            except (LLMAnswerError, LLMRequestError) as e:
                session.fall_back(f"text of {skill.id}", e)
            except LLMBudgetError as e:
                session.fall_back("skill texts from here on", e)
                use_model = False
            except LLMUnavailableError as e:
                # Every evaluation is done by now: an outage costs the skills' wording,
                # never the run (it finishes with its best; the rules' text is kept).
                session.fall_back("skill texts from here on", e)
                use_model = False
        written.append(skill)
    return written
