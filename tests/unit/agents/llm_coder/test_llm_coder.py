"""The LLM coder: prompts per language, the universal operator, parsing and its one retry."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import pytest

from agents.coders.base import Coder, CoderContext, Draft
from agents.llm import LLMBudgetError, LLMConfig, LLMSession, LLMUnavailableError
from agents.llm.fakes import ScriptedChatModel
from agents.llm.parse import UNUSABLE_PREFIX
from agents.llm_coder import LANGUAGES, LLMCoder, render_messages
from agents.llm_coder.context import fewshot_sources
from agents.llm_coder.fewshot import FEWSHOT_DIR
from tests.support import load_module, python_path
from tools.evaluator.static_checks import check_source
from tools.hardware import load_target
from tools.problems import load_problem
from tools.records import Candidate, EvalResult, Skill, Stage

GOOD = (FEWSHOT_DIR / "triton_softmax.py").read_text()
GOOD_ANSWER = f"Transformation: two rows per program\n```python\n{GOOD}```"
SPEC = "openai:gpt-4.1"


@functools.cache
def softmax():
    return load_problem("softmax", shape="32x256")


def ctx_for(chip: str = "h100", **kw) -> CoderContext:
    skill = Skill(id="s1", op_family="softmax", chip=chip, language="triton",
                  summary="marker-skill: keep the row in registers", gain=1.4,
                  measured_on="modeled", run_id="r0", candidate_id="c0")  # fmt: skip
    base = {
        "problem": softmax(),
        "target": load_target(chip),
        "memory_mode": "restart",
        "documents": ["[source: guide.md § Memory, p. 2]\nmarker-document"],
        "skills": [skill],
    }
    return CoderContext(**{**base, **kw})


def coder(responses, language="triton", offline=None, **cfg) -> tuple[LLMCoder, ScriptedChatModel]:
    model = ScriptedChatModel(responses=list(responses))
    config = LLMConfig(model=SPEC, factory=lambda spec: model, **cfg)
    return LLMCoder(language, LLMSession(config=config, agent="coder"), offline=offline), model


def parent_pair(ok: bool) -> tuple[Candidate, EvalResult]:
    cand = Candidate(id="g01-00-parent", language="triton", source=GOOD, transformation="first")
    if ok:
        res = EvalResult(candidate_id=cand.id, target="h100", static_ok=True, compiled=True,
                         correct=True, runtime_ms=0.01, speedup_vs_eager=1.3, measured_on="modeled")  # fmt: skip
        res.diagnostics.bound = "memory"
        res.diagnostics.registers_per_thread = 40
    else:
        res = EvalResult(candidate_id=cand.id, target="h100", static_ok=True,
                         stage_failed=Stage.CORRECTNESS, error="marker-error: max abs err 3.1")  # fmt: skip
    return cand, res


class FakeOffline:
    language = "triton"
    name = "fake-offline"

    def supports(self, problem, target) -> bool:
        return True

    def seed(self, problem, target) -> list[Draft]:
        return [Draft(language="triton", source="# offline seed", transformation="initial offline")]

    def propose(self, ctx) -> Draft:
        return Draft(language="triton", source="# offline child", transformation="offline move")


def test_a_good_answer_becomes_a_draft_by_the_model():
    c, model = coder([GOOD_ANSWER])
    assert isinstance(c, Coder)
    draft = c.propose(ctx_for())
    assert draft.author == SPEC and draft.language == "triton"
    assert draft.transformation == "two rows per program"
    assert "class ModelNew" in draft.source and not check_source(draft.source)
    assert len(model.received) == 1


def test_malformed_answer_gets_one_retry_with_the_reason():
    c, model = coder(["I would keep the row in registers.", GOOD_ANSWER])
    draft = c.propose(ctx_for())
    assert "class ModelNew" in draft.source
    retry = model.received[1]
    assert retry[-2].content == "I would keep the row in registers."
    assert "could not be used" in retry[-1].content and "no code block" in retry[-1].content


def test_two_malformed_answers_record_a_failed_child():
    c, model = coder(["no code here", "```cuda\n__global__ void k() {}\n```"])
    draft = c.propose(ctx_for())
    assert len(model.received) == 2
    assert draft.transformation.startswith(UNUSABLE_PREFIX) and "ModelNew" in draft.transformation
    assert draft.author == SPEC
    assert [v.rule for v in check_source(draft.source)] == ["defines_model_new"]


def test_fix_task_shows_the_error():
    parent, res = parent_pair(ok=False)
    c, model = coder([GOOD_ANSWER])
    c.propose(ctx_for(memory_mode="inherit", parent=parent, parent_result=res))
    text = model.received[0][-1].content
    assert "failed at the **correctness** stage" in text and "marker-error: max abs err 3.1" in text


def test_improve_task_shows_diagnostics_and_next_moves():
    parent, res = parent_pair(ok=True)
    c, model = coder([GOOD_ANSWER])
    c.propose(ctx_for(memory_mode="inherit", parent=parent, parent_result=res))
    text = model.received[0][-1].content
    assert "is correct. Make it faster" in text
    assert "registers per thread: 40" in text and "1.30x vs eager" in text
    assert "fuse more work into one pass" in text  # the interpreter's memory-bound move


def test_write_task_without_parent():
    c, model = coder([GOOD_ANSWER])
    c.propose(ctx_for())
    assert "from scratch" in model.received[0][-1].content


def test_seed_is_a_model_draft_then_offline_templates():
    c, _ = coder([GOOD_ANSWER], offline=FakeOffline())
    c.documents = ["marker-seed-doc"]
    drafts = c.seed(softmax(), load_target("h100"))
    assert [d.author for d in drafts] == [SPEC, "offline"]


def test_spent_budget_falls_back_to_the_offline_coder():
    c, _ = coder([LLMBudgetError("spent")], offline=FakeOffline())
    assert c.propose(ctx_for()).transformation == "offline move"


def test_unreachable_model_stops_unless_fallback_is_allowed():
    c, _ = coder([LLMUnavailableError("down")], offline=FakeOffline())
    with pytest.raises(LLMUnavailableError):
        c.propose(ctx_for())
    c, _ = coder([LLMUnavailableError("down")], offline=FakeOffline(), fallback_offline=True)
    assert c.propose(ctx_for()).author == "offline"


@pytest.mark.parametrize(("language", "chip", "needle"), [
    ("triton", "h100", "@triton.jit"),
    ("cuda", "h100", "__shfl_xor_sync"),
    ("hip", "mi300x", "64 lanes"),
    ("cpp", "cpu", "OpenMP"),
])  # fmt: skip
def test_each_language_prompt_has_its_rules_chip_facts_knowledge_and_fewshot(
    language, chip, needle
):
    ctx = ctx_for(chip)
    system, user = (text for _, text in render_messages(ctx, language))
    target = ctx.target
    assert needle in system
    assert f"memory bandwidth: {target.memory_bandwidth_gbps:g} GB/s" in user
    assert f"compute units (SMs, CUs or cores): {target.compute_units}" in user
    assert "[source: guide.md § Memory, p. 2]" in user and "marker-document" in user
    assert "marker-skill" in user
    [fewshot] = fewshot_sources(language)
    assert fewshot.strip() in user


def test_languages_without_a_template_fail_loudly():
    with pytest.raises(ValueError):
        coder([GOOD_ANSWER], language="pytorch")
    assert set(LANGUAGES) == {"triton", "cuda", "hip", "cpp"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_fewshot_kernels_pass_the_static_checks(language):
    for source in fewshot_sources(language):
        assert check_source(source) == []
        assert check_source(source, allow_reference_ops=False) == []


def test_fewshot_modules_import_without_compiling(tmp_path):
    for language in ("cuda", "hip", "cpp"):
        [source] = fewshot_sources(language)
        (tmp_path / f"{language}_fewshot.py").write_text(source)
        module = load_module(tmp_path / f"{language}_fewshot.py")
        assert module.extension.cache_info().currsize == 0  # compiled on first use only
        assert hasattr(module, "ModelNew")


CHECK = """
import sys, torch
from tests.support import load_module
def load(p):
    return load_module(p, "m" + str(abs(hash(p))))
new, ref = load(sys.argv[1]), load(sys.argv[2])
x = torch.randn(8, 1000)
err = (new.ModelNew()(x) - ref.Model()(x)).abs().max().item()
print(err); sys.exit(0 if err < 1e-5 else 1)
"""


def _run_fewshot(name: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHECK, str(FEWSHOT_DIR / name), str(FEWSHOT_DIR / "reference_softmax.py")],
        env={**os.environ, "PYTHONPATH": python_path(), **env}, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def test_triton_fewshot_is_correct_in_the_interpreter():
    proc = _run_fewshot("triton_softmax.py", TRITON_INTERPRET="1")
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_cpp_fewshot_compiles_and_is_correct(tmp_path):
    proc = _run_fewshot("cpp_softmax.py", TORCH_EXTENSIONS_DIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
