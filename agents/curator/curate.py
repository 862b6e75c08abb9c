"""Write what worked back as skills.

The offline rules pick the winning steps and the best kernel; with a model configured for
the ``curator`` agent, the model writes each skill's text from the winning diff and its
diagnostics (the rules' text stays when the model's answer is unusable or the budget is
spent; an unreachable model stops the run unless ``llm_fallback_offline`` is set).
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

    Raises:
        LLMUnavailableError: The curator's model is unreachable and
            ``config.fallback_offline`` is off.
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
                log.info("curator: keeping the rules' text for %s: %s", skill.id, e)
            except LLMBudgetError as e:
                log.warning("%s; the rules' skill text is kept", e)
                use_model = False
            except LLMUnavailableError as e:
                if not config.fallback_offline:
                    raise
                log.warning("%s Keeping the rules' skill text.", e)
                use_model = False
        written.append(skill)
    return written
