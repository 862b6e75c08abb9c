"""Reading a coder model's answer: the module defining ModelNew, whatever wraps it."""

from __future__ import annotations

import pytest

from agents.llm.errors import LLMAnswerError
from agents.llm.parse import extract_model_new, fenced_blocks

MODULE = "import torch\n\n\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n        return x + 1\n"
HELPER = "__global__ void k(float* x) { x[0] = 1; }\n"


def test_python_fence_with_prose_around():
    text = (
        f"Here is my kernel.\nTransformation: fused the add\n```python\n{MODULE}```\nHope it helps!"
    )
    parsed = extract_model_new(text)
    assert parsed.source == MODULE
    assert parsed.transformation == "fused the add"


def test_unlabelled_and_tilde_fences():
    assert extract_model_new(f"```\n{MODULE}```").source == MODULE
    assert extract_model_new(f"~~~py\n{MODULE}~~~").source == MODULE


def test_several_blocks_choose_the_one_defining_model_new():
    text = f"The CUDA part:\n```cuda\n{HELPER}```\nand the module:\n```python\n{MODULE}```\n"
    assert extract_model_new(text).source == MODULE


def test_the_last_model_new_block_wins():
    first = MODULE.replace("x + 1", "x + 2")
    text = f"First try:\n```python\n{first}```\nCorrected:\n```python\n{MODULE}```"
    assert "x + 1" in extract_model_new(text).source


def test_bare_code_with_trailing_prose():
    text = f"{MODULE}\nThis kernel adds one to every element."
    parsed = extract_model_new(text, default_transformation="LLM rewrite")
    assert "class ModelNew" in parsed.source and "This kernel" not in parsed.source
    assert parsed.transformation == "LLM rewrite"


def test_bold_transformation_label():
    text = f"**Transformation:** two rows per program\n```python\n{MODULE}```"
    assert extract_model_new(text).transformation == "two rows per program"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("I would tile it by 128.", "no code block"),
        (f"```cuda\n{HELPER}```", "defines a top-level class ModelNew"),
        ("```python\nclass ModelNew(:\n    pass\n```", "not valid Python"),
        (
            "```python\nimport torch\nclass ModelNew(torch.nn.Module):\n    def forward(self, x):\n        return (x",
            "cut off",
        ),
    ],
)
def test_malformed_answers_say_why(text, needle):
    with pytest.raises(LLMAnswerError, match=needle):
        extract_model_new(text)


def test_unclosed_fence_that_parses_is_still_used():
    blocks = fenced_blocks(f"```python\n{MODULE}")
    assert len(blocks) == 1 and not blocks[0].closed
    assert extract_model_new(f"```python\n{MODULE}").source == MODULE
