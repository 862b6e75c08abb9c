"""The ``curate`` node: write what worked back as skills.

The offline rules pick the winning steps and the best kernel; with a model configured for
the ``curator`` agent, the model writes each skill's text from the winning diff and its
diagnostics (the rules' text stays, and the run records it, when the model's answer is
unusable twice, the budget is spent, or the model is unreachable: curation comes after
every evaluation, so it never stops a run).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from langgraph.runtime import Runtime

from agents.curator.llm import write_skill
from agents.curator.rules import distil_skills
from agents.knowledge import remember_skills
from agents.llm.config import config_from_context
from agents.llm.errors import LLMAnswerError, LLMBudgetError, LLMRequestError, LLMUnavailableError
from agents.llm.session import LLMSession
from graph.context import RunContext
from graph.state import RunState
from kevolve.runstore import RunStore
from tools.records import Skill

log = logging.getLogger(__name__)

MAX_LLM_SKILLS = 3
"""Skills per run whose text the model writes (the best ones); the rest keep the rules' text."""


def curate(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Distil skills from the tree, keep them with the run and in the knowledge base."""
    ctx = runtime.context
    cands, results = state.candidate_records(), state.result_records()
    problem, target = state.problem_record(), state.target_record()
    skills = distil_skills(state.run_id, problem, target, cands, results)
    config = config_from_context(ctx)
    if skills and config.enabled("curator"):
        session = LLMSession(config=config, agent="curator", run_id=state.run_id,
                             runs_dir=ctx.runs_dir)  # fmt: skip
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
        skills = written
    RunStore(ctx.runs_dir).write_text(
        state.run_id,
        "skills.json",
        json.dumps([s.model_dump(mode="json") for s in skills], indent=2),
    )
    if skills and ctx.use_knowledge and state.request.use_knowledge:
        remember_skills(skills, ctx)
    return {"new_skills": [s.model_dump(mode="json") for s in skills]}
