"""The planner: plain-words requests (rules and model), the intake's one question, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.llm import LLMConfig, LLMUnavailableError
from agents.llm.fakes import ScriptedChatModel
from agents.planner.intake import IntakeContext, pick
from agents.planner.plan import resolve_request
from agents.planner.text import parse_text
from graph.intake import Intake
from graph.state import RunRequest
from tools.errors import ProblemError

SPEC = "openai:gpt-4.1"


@pytest.mark.parametrize(("text", "expected"), [
    ("optimize softmax over 4096x8192 fp32 for MI300",
     {"op": "softmax", "shape": "4096x8192", "dtype": "float32", "target": "mi300x"}),
    ("row-wise softmax over 8192 columns in bf16 on an H100",
     {"op": "softmax", "shape": "4096x8192", "dtype": "bfloat16", "target": "h100"}),
    ("log-softmax (64, 1000) on gfx942, budget 20", {"op": "log_softmax", "shape": "64x1000",
                                                     "target": "mi300x", "budget": 20}),
    ("tune layer norm for hopper with triton", {"op": "layer_norm", "target": "h100", "languages": ["triton"]}),
    ("matmul M=1024 N=512 K=256 for the A100 in CUDA C++", {"op": "matmul", "shape": "1024x512x256",
                                                            "target": "a100", "languages": ["cuda"]}),
    ("speed up evals/level1/softmax_23.py on h200", {"problem_file": "evals/level1/softmax_23.py", "target": "h200"}),
])  # fmt: skip
def test_rules_read_plain_requests(text, expected):
    parsed = parse_text(text).model_dump()
    assert {k: parsed[k] for k in expected} == expected


def test_rules_read_constraints():
    c = parse_text(
        "gelu on h100, lower precision is ok, may use cuBLAS and torch.matmul"
    ).constraints
    assert c.allow_lower_precision and c.allow_library_calls is True
    assert c.allowed_calls == ["cublas", "torch.matmul"]
    assert parse_text("softmax on h100, no library calls").constraints.allow_library_calls is False
    assert parse_text("softmax on h100").constraints.allow_lower_precision is False


def test_rules_leave_ambiguity_open():
    r = parse_text("make a normalization fast for AMD")
    assert r.op is None and r.op_choices == ["layer_norm", "rms_norm"]
    assert r.target is None and r.target_choices == ["mi250x", "mi300x"]
    assert "layer_norm or rms_norm" in r.question(["a100"], ["softmax"])
    assert "mi250x or mi300x" in r.question(["a100"], ["softmax"])


def test_rules_read_pasted_code():
    code = ("import torch\nimport torch.nn as nn\n\nclass Model(nn.Module):\n    def forward(self, x):\n"
            "        return torch.relu(x) * 2\n\ndef get_inputs():\n    return [torch.randn(8, 8)]\n\n"
            "def get_init_inputs():\n    return []\n")  # fmt: skip
    r = parse_text(f"make this fast on h100:\n```python\n{code}```")
    assert r.problem_code == code and r.op is None and r.target == "h100"


def ctx(tmp_path, model=None, **cfg) -> IntakeContext:
    llm = LLMConfig(model=SPEC, factory=lambda spec: model, **cfg) if model else LLMConfig()
    return IntakeContext(
        requests_dir=tmp_path / "requests", default_target="cpu", default_budget=7, llm=llm
    )


def test_intake_offline_resolves_the_issue_example(tmp_path):
    step = Intake(ctx(tmp_path)).start("optimize softmax over 4096x8192 fp32 for MI300")
    assert step.question is None
    assert step.request.model_dump(include={"problem", "target", "shape", "dtype", "budget"}) == {
        "problem": "softmax",
        "target": "mi300x",
        "shape": "4096x8192",
        "dtype": "float32",
        "budget": 7,
    }


def test_intake_asks_one_question_and_resumes(tmp_path):
    intake = Intake(ctx(tmp_path))
    step = intake.start("make a normalization fast for AMD")
    assert (
        step.question
        == "Which operator do you mean: layer_norm or rms_norm and which chip is it for: mi250x or mi300x?"
    )
    step = intake.answer("rms norm on the MI300")
    assert step.question is None
    assert (step.request.problem, step.request.target) == ("rms_norm", "mi300x")


def test_no_chip_named_uses_the_default_target_and_says_so(tmp_path):
    step = Intake(ctx(tmp_path)).start("softmax 64x256")  # a default exists: no question for it
    assert step.question is None
    assert step.request.target == "cpu" and any("default target" in n for n in step.notes)


def test_unanswered_op_question_is_one_sentence_error(tmp_path):
    intake = Intake(ctx(tmp_path))
    intake.start("make it fast on h100")
    with pytest.raises(ProblemError, match="which operator"):
        intake.answer("no idea")


def test_pasted_code_becomes_a_problem_file(tmp_path):
    code = ("import torch\nimport torch.nn as nn\n\nclass Model(nn.Module):\n    def forward(self, x):\n"
            "        return torch.relu(x) * 2\n\ndef get_inputs():\n    return [torch.randn(8, 8)]\n\n"
            "def get_init_inputs():\n    return []\n")  # fmt: skip
    step = Intake(ctx(tmp_path)).start(f"optimize this for the host\n```python\n{code}```")
    path = step.request.problem
    assert path.startswith(str(tmp_path / "requests")) and Path(path).read_text() == code
    assert step.request.target == "cpu" and step.request.shape is None


def test_llm_planner_reads_a_description(tmp_path):
    answer = {"op": "Softmax", "shape": "4096x8192", "dtype": "bf16", "target": "H100 SXM",
              "budget": 9, "allow_lower_precision": True}  # fmt: skip
    model = ScriptedChatModel(responses=[answer])
    intake = Intake(ctx(tmp_path, model))
    step = intake.start("row-wise softmax over 8192 columns in bf16 for the big nvidia box")
    assert step.request.model_dump(include={"problem", "target", "shape", "dtype", "budget", "allow_lower_precision"}) == {
        "problem": "softmax", "target": "h100", "shape": "4096x8192", "dtype": "bfloat16", "budget": 9,
        "allow_lower_precision": True}  # fmt: skip
    assert step.parsed.author == SPEC and len(intake.ctx.calls) == 1
    prompt = model.received[0][-1].content
    assert "mi300x" in prompt and "layer_norm" in prompt and "row-wise softmax" in prompt


def test_llm_planner_answers_are_checked_and_gaps_filled_by_rules(tmp_path):
    model = ScriptedChatModel(responses=[{"op": "flash_attention_9000", "target": "tpu-v9"}])
    step = Intake(ctx(tmp_path, model)).start("softmax on MI300")
    assert (step.request.problem, step.request.target) == ("softmax", "mi300x")


def test_llm_planner_ambiguity_goes_through_the_question(tmp_path):
    model = ScriptedChatModel(responses=[{"op": "layer_norm", "target_choices": ["a100", "h100"]}])
    intake = Intake(ctx(tmp_path, model))
    step = intake.start("layer norm for an nvidia part")
    assert step.question == "Which chip is it for: a100 or h100?"
    assert intake.answer("the second").request.target == "h100"


def test_llm_planner_unreachable_stops_or_falls_back(tmp_path):
    down = ScriptedChatModel(responses=[LLMUnavailableError("the model is unreachable.")])
    with pytest.raises(LLMUnavailableError):
        Intake(ctx(tmp_path, down)).start("softmax on h100")
    down = ScriptedChatModel(responses=[LLMUnavailableError("the model is unreachable.")])
    step = Intake(ctx(tmp_path, down, fallback_offline=True)).start("softmax on h100")
    assert step.request.problem == "softmax" and step.parsed.author == "offline"


def test_pick_understands_short_answers():
    assert pick(["layer_norm", "rms_norm"], "rms") == "rms_norm"
    assert pick(["layer_norm", "rms_norm"], "the first one") == "layer_norm"
    assert pick(["mi250x", "mi300x"], "MI300X") == "mi300x"
    assert pick(["layer_norm", "rms_norm"], "banana") is None


def test_resolve_request_reads_words_and_keeps_llm_languages(tmp_path):
    request = RunRequest(
        problem="row-wise softmax over 256 columns in fp32", target="h100", budget=3
    )
    plan = resolve_request(request, llm_coder=True, requests_dir=tmp_path)
    assert plan.problem.op == "softmax" and plan.problem.shapes == [[4096, 256]]
    assert plan.languages == ["triton", "cuda"]  # cuda has no offline coder; the model writes it
    offline = resolve_request(request, requests_dir=tmp_path)
    assert "cuda" not in offline.languages


def test_resolve_request_keeps_the_one_word_error():
    with pytest.raises(ProblemError, match="softmax"):
        resolve_request(RunRequest(problem="no_such_op_xyz", target="h100"))


def test_pasted_expression_is_optimized_as_written(tmp_path):
    # The issue: this optimized plain torch.tanh(x), losing "* y + 1.0".
    intake = Intake(ctx(tmp_path))
    step = intake.start("optimize this on the host: return torch.tanh(x) * y + 1.0")
    assert step.question and "shape" in step.question  # the inputs' shape is asked for
    step = intake.answer("4096x512")
    source = Path(step.request.problem).read_text()
    assert "        return torch.tanh(x) * y + 1.0\n" in source
    assert "def forward(self, x, y):" in source and source.count("torch.randn(4096, 512") == 2
    assert step.request.target == "cpu" and step.request.shape is None
    plan = resolve_request(step.request)  # a loadable, faithful problem
    assert plan.problem.op != "tanh"


def test_pasted_function_with_its_shape_needs_no_question(tmp_path):
    text = "speed up on h100 over (64, 128) in fp16:\n```\ndef f(a, b):\n    c = a * b\n    return torch.relu(c) + a\n```"
    step = Intake(ctx(tmp_path)).start(text)
    source = Path(step.request.problem).read_text()
    assert "        c = a * b\n        return torch.relu(c) + a\n" in source
    assert "torch.randn(64, 128, dtype=torch.float16)" in source and step.request.target == "h100"


def test_pasted_code_that_cannot_be_a_faithful_problem_gets_a_question(tmp_path):
    intake = Intake(ctx(tmp_path))
    step = intake.start("make this fast on h100: return my_gelu(x) * torch.tanh(x)")
    assert step.question and "my_gelu" in step.question  # not the tanh named inside it
    assert intake.answer("softmax").request.problem == "softmax"


def test_llm_planner_never_swaps_pasted_code_for_an_op(tmp_path):
    model = ScriptedChatModel(responses=[{"op": "tanh", "target": "h100", "shape": "256x256"}])
    step = Intake(ctx(tmp_path, model)).start("on h100 over 256x256: return torch.tanh(x) * y + 1.0")
    assert "return torch.tanh(x) * y + 1.0" in Path(step.request.problem).read_text()


def test_planner_prose_answers_fall_back_to_the_rules_and_say_so(tmp_path):
    prose = "Sure! I think you want to optimize a softmax kernel on an MI300."
    intake = Intake(ctx(tmp_path, ScriptedChatModel(responses=[prose, prose])))
    step = intake.start("optimize softmax over 64x256 fp32 for MI300")
    assert (step.request.problem, step.request.target) == ("softmax", "mi300x")
    assert step.parsed.author == "offline"
    [fallback] = intake.ctx.fallbacks
    assert fallback["agent"] == "planner" and "RequestAnswer" in fallback["reason"]
