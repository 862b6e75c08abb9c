"""Irregular shapes: which problems are re-rendered at odd sizes, and which are not."""

from __future__ import annotations

from tools.evaluator.shapes import irregular_sizes, irregular_variant
from tools.problems import load_problem
from tools.records import Problem


def test_irregular_sizes_are_smaller_and_odd_where_they_can_be():
    assert irregular_sizes([64, 1000]) == [35, 503]
    assert irregular_sizes([4096, 8192]) == [2051, 4099]
    assert irregular_sizes([1]) == [3]


def test_named_op_is_rerendered_and_an_edited_file_is_not():
    problem = load_problem("softmax", shape="64x1000")
    odd = irregular_variant(problem)
    assert odd is not None and odd.shape == [35, 503]
    assert "SHAPE = (35, 503)" in odd.source
    matmul = irregular_variant(load_problem("matmul", shape="64x32x128"))
    assert matmul is not None and matmul.shape == [35, 19, 67]
    edited = problem.model_copy(update={"source": problem.source + "\n# edited\n"})
    assert irregular_variant(edited) is None
    assert irregular_variant(Problem(name="file", source=problem.source)) is None


def test_a_file_declaring_its_sizes_is_resized_within_their_steps(tmp_path):
    from tools.evaluator.shapes import NOT_RESHAPED_NOTE
    from tools.problems.resize import declared_sizes

    source = (
        "import torch\nimport torch.nn as nn\n\nGROUPS = 8\nROWS = 64\nCOLS = 1000\n"
        'KEVOLVE_SIZES = {"ROWS": 1, "COLS": GROUPS}\n\n\n'
        "class Model(nn.Module):\n    def forward(self, x):\n        return x.sum(-1)\n\n\n"
        "def get_inputs():\n    return [torch.randn(ROWS, COLS)]\n\n\n"
        "def get_init_inputs():\n    return []\n"
    )
    odd = irregular_variant(Problem(name="file", source=source))
    assert odd is not None and odd.shape == [35, 496]  # 1000 // 2 + 3 = 503 -> 496 (step 8)
    assert {s.name: s.value for s in declared_sizes(odd.source)} == {"ROWS": 35, "COLS": 496}
    assert "GROUPS = 8" in odd.source
    undeclared = source.replace('KEVOLVE_SIZES = {"ROWS": 1, "COLS": GROUPS}\n', "")
    assert irregular_variant(Problem(name="file", source=undeclared)) is None
    assert "KEVOLVE_SIZES" in NOT_RESHAPED_NOTE
