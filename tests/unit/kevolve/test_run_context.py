"""The run's context is built once from the settings' sections, CLI values included."""

from __future__ import annotations

from agents.knowledge import KnowledgeSettings
from agents.llm import LLMConfig
from agents.planner.intake import IntakeContext
from agents.planner.schemas import DEFAULT_BUDGET, RunRequest
from graph.context import EvalSettings, SearchSettings
from graph.state import RunState
from kevolve.api import run_context
from kevolve.settings import LLMSettings, Settings, get_settings
from tools.evaluator.options import EvalOptions


def test_settings_are_exactly_their_sections_plus_the_shell_fields():
    sections = [SearchSettings, EvalSettings, KnowledgeSettings, LLMSettings]
    names = [name for s in sections for name in s.model_fields]
    assert len(names) == len(set(names)), "a field is declared in two sections"
    assert set(names) <= set(Settings.model_fields)
    for name in names:  # declared once: in its section, not again in the settings class
        assert name not in Settings.__annotations__, f"{name} is declared twice"


def test_each_default_has_one_source():
    assert LLMConfig.from_settings(LLMSettings()) == LLMConfig()
    options = EvalOptions()
    evals = EvalSettings()
    assert (evals.eval_timeout_s, evals.eval_rep_ms) == (options.timeout_s, options.rep_ms)
    assert evals.eval_seeds == len(options.seeds)
    budgets = {
        Settings.model_fields["budget"].default,
        RunRequest(problem="x").budget,
        RunState(run_id="r", request=RunRequest(problem="x")).budget,
        IntakeContext(requests_dir=".").default_budget,
    }
    assert budgets == {DEFAULT_BUDGET}


def test_the_context_carries_every_section_and_the_cli_values(data_dir):
    settings = get_settings(uct_c=2.5, seed=9, children_per_generation=3, eval_seeds=5,
                            eval_rep_ms=20.0, llm_model="openai:gpt-4.1-mini",
                            llm_model_coder="anthropic:claude", llm_token_budget=7)  # fmt: skip
    ctx = run_context(settings)
    assert ctx.data_dir == settings.data_dir and ctx.runs_dir == settings.runs_dir
    assert ctx.search == settings.section(SearchSettings) and ctx.search.children_per_generation == 3
    assert (ctx.policy.c, ctx.policy.seed) == (2.5, 9)
    assert ctx.evaluator.options("r", "c", False).seeds.__len__() == 5
    assert ctx.evaluator.options("r", "c", False).rep_ms == 20.0
    assert ctx.models.model_for("coder") == "anthropic:claude"
    assert ctx.models.model_for("planner") == "openai:gpt-4.1-mini" and ctx.models.token_budget == 7
    assert ctx.coders.config is ctx.models
    assert ctx.knowledge is not None and ctx.knowledge.settings == settings.section(KnowledgeSettings)
    assert run_context(get_settings(use_knowledge=False)).knowledge is None
