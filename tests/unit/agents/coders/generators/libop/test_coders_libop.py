"""Library op + fused epilogue (``agents.coders.generators.libop``): convolutions and matrix
products stay torch calls, the reductions, softmaxes, norms and elementwise ops after them
become Triton stages, checked against the reference under the Triton interpreter."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.coders.generators.libop import LibOpCoder, build_program
from agents.coders.generators.libop.coder import CONFIGS
from tests.unit.agents.coders import fixtures as fx
from tools.errors import ProblemError
from tools.evaluator.static_checks import check_source
from tools.records import Problem

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def _src(init: str, forward: str, inputs: str, init_inputs: str) -> str:
    return (
        HEADER
        + "class Model(nn.Module):\n"
        + f"    def __init__(self):\n        super().__init__()\n{init}\n"
        + f"    def forward(self, x):\n{forward}\n\n\n"
        + f"def get_inputs():\n    return [{inputs}]\n\n\n"
        + f"def get_init_inputs():\n    return [{init_inputs}]\n"
    )


CONV_GROUPNORM = _src(
    "        self.conv = nn.Conv2d(3, 8, 3)\n"
    "        self.bias = nn.Parameter(torch.randn(8, 1, 1))\n"
    "        self.gn = nn.GroupNorm(4, 8)\n",
    "        x = self.conv(x)\n"
    "        x = torch.sigmoid((x + self.bias) * 2.0)\n"
    "        return self.gn(x)\n",
    "torch.randn(2, 3, 9, 7)",
    "",
)
CONV3D_MIN_SOFTMAX = _src(
    "        self.conv = nn.Conv3d(3, 6, 3)\n",
    "        x = self.conv(x)\n"
    "        x = torch.min(x, dim=2)[0]\n"
    "        return torch.softmax(x, dim=1)\n",
    "torch.randn(2, 3, 6, 7, 5)",
    "",
)
CONVT_POOL_LSE = _src(
    "        self.conv = nn.ConvTranspose2d(4, 6, 3, stride=2)\n",
    "        x = self.conv(x) * 0.5\n"
    "        x = torch.mean(x, dim=[2, 3], keepdim=True)\n"
    "        x = torch.logsumexp(x, dim=1, keepdim=True)\n"
    "        return x * 10.0\n",
    "torch.randn(3, 4, 5, 4)",
    "",
)
GEMM_BATCHNORM_SOFTMAX = _src(
    "        self.fc = nn.Linear(12, 20)\n"
    "        self.bn = nn.BatchNorm1d(20)\n"
    "        self.scale = nn.Parameter(torch.randn(1))\n",
    "        x = self.bn(self.fc(x))\n        return torch.softmax(self.scale * x, dim=1)\n",
    "torch.randn(16, 12)",
    "",
)
CONV_MAXPOOL_SUM = _src(
    "        self.conv = nn.Conv2d(3, 5, 3, padding=1)\n",
    "        x = F.max_pool2d(torch.relu(self.conv(x)), 2)\n"
    "        return torch.sum(x, dim=1, keepdim=True) - 1.0\n",
    "torch.randn(2, 3, 8, 6)",
    "",
)
LONG_ROW_LAYERNORM = _src(
    "        self.fc = nn.Linear(8, 700)\n        self.ln = nn.LayerNorm(700)\n",
    "        x = self.ln(torch.nn.functional.gelu(self.fc(x)))\n"
    "        return torch.log_softmax(x * 3.0, dim=-1).amax(dim=-1)\n",
    "torch.randn(5, 8)",
    "",
)
GEMM_GROUPNORM_MIN = _src(
    "        self.fc = nn.Linear(12, 16)\n        self.gn = nn.GroupNorm(4, 16)\n",
    "        x = self.gn(self.fc(x))\n"
    "        x = torch.min(x, torch.tensor(0.5))\n"
    "        return x.min(dim=1, keepdim=True)[0] * 2.0\n",
    "torch.randn(6, 12)",
    "",
)
BARE_CONV3D = _src(
    "        self.conv = nn.Conv3d(3, 4, 3, padding=1, groups=1)\n",
    "        return self.conv(x)\n",
    "torch.randn(2, 3, 5, 6, 4)",
    "",
)
BARE_DEPTHWISE = _src(
    "        self.conv = nn.Conv2d(4, 4, 3, stride=2, groups=4, bias=False)\n",
    "        return self.conv(x)\n",
    "torch.randn(2, 4, 9, 8)",
    "",
).replace("def forward(self, x):", "def forward(self, x: torch.Tensor) -> torch.Tensor:")
"""Annotated, as KernelBench writes it (fx's code names annotations by its own globals)."""


def _problem(source: str, name: str = "libop") -> Problem:
    return Problem(name=name, source=source)


def test_the_program_keeps_the_library_op_and_fuses_across_reductions() -> None:
    program = build_program(CONV_GROUPNORM)
    assert program.kept == ("Conv2d",)
    assert [s.kind for s in program.stages] == ["norm"]
    assert program.stages[0].summary == "add -> mul -> sigmoid -> norm -> mul -> add"
    program = build_program(CONV3D_MIN_SOFTMAX)
    assert [s.kind for s in program.stages] == ["min", "softmax"]
    program = build_program(CONV_MAXPOOL_SUM)
    # one op alone between two kept calls stays a torch call (a kernel of one op saves nothing)
    assert program.kept == ("Conv2d", "relu", "max_pool2d")
    assert [s.kind for s in program.stages] == ["sum"]
    program = build_program(GEMM_GROUPNORM_MIN)  # a captured constant is a stage input
    assert program.kept == ("Linear",)
    assert [s.kind for s in program.stages] == ["norm", "min"]
    assert program.stages[0].summary.endswith("norm -> mul -> add -> minimum")


def test_a_forward_without_a_library_op_is_left_to_the_other_families() -> None:
    source = _src("", "        return torch.softmax(x * 2.0, dim=1)\n", "torch.randn(4, 8)", "")
    with pytest.raises(ProblemError, match="no convolution or matrix product"):
        build_program(source)
    assert not LibOpCoder().supports(_problem(source), fx.H100)


def test_a_bare_convolution_gets_channels_last_candidates_without_a_kernel() -> None:
    drafts = LibOpCoder().seed(_problem(BARE_CONV3D), fx.H100)
    assert [d.params for d in drafts] == [
        {"channels_last": 1, "contiguous_out": 0},
        {"channels_last": 1, "contiguous_out": 1},
    ]
    assert all(d.transformation.startswith("no Triton kernel") for d in drafts)
    assert "memory_format=torch.channels_last_3d" in drafts[0].source
    assert "@triton.jit" not in drafts[0].source
    assert all(check_source(d.source) == [] for d in drafts)
    conv_chain = LibOpCoder().seed(_problem(CONV_GROUPNORM), fx.H100)
    assert [d.params["channels_last"] for d in conv_chain] == [0, 1]
    gemm_chain = LibOpCoder().seed(_problem(GEMM_BATCHNORM_SOFTMAX), fx.H100)
    assert [d.params["channels_last"] for d in gemm_chain] == [0, 0]


def test_seeds_render_and_pass_the_static_checks() -> None:
    drafts = LibOpCoder().seed(_problem(CONV_GROUPNORM), fx.H100)
    assert len(drafts) == 2 and all(d.template == "triton.libop" for d in drafts)
    assert all(check_source(d.source) == [] for d in drafts)
    assert "library calls kept (Conv2d)" in drafts[0].transformation


PARAMETER_LIST_MATMUL = _src(
    "        self.w = nn.ParameterList([nn.Parameter(torch.randn(6, 6)) for _ in range(2)])\n",
    "        for w in self.w:\n"
    "            x = torch.relu(x @ w) + x\n"
    "        return x\n",
    "torch.randn(4, 6)",
    "",
)


def test_parameters_of_a_parameter_list_are_reached_by_their_dotted_path() -> None:
    """fx names them ``w.0``: a path, not one attribute of the traced module."""
    drafts = LibOpCoder().seed(_problem(PARAMETER_LIST_MATMUL), fx.H100)
    assert drafts and all(check_source(d.source) == [] for d in drafts)


CASES = {
    "groupnorm": CONV_GROUPNORM,
    "min_softmax": CONV3D_MIN_SOFTMAX,
    "pool_lse": CONVT_POOL_LSE,
    "bn_softmax": GEMM_BATCHNORM_SOFTMAX,
    "maxpool_sum": CONV_MAXPOOL_SUM,
    "long_rows": LONG_ROW_LAYERNORM,
    "gemm_groupnorm_constant": GEMM_GROUPNORM_MIN,
    "parameter_list": PARAMETER_LIST_MATMUL,
}


def test_stages_match_the_reference_under_the_interpreter(tmp_path: Path) -> None:
    """One config with a small one-pass limit (the long rows take the two-pass loop) and the
    first seed, fp32 and fp16, one interpreter subprocess for all."""
    coder = LibOpCoder()
    two_pass = next(c for c in CONFIGS if c["MAX_ONE_PASS"] == 512)
    cases = []
    for name, source in CASES.items():
        problem = _problem(source, name)
        for label, params in (("seed", CONFIGS[0]), ("split", two_pass)):
            text = coder.render(problem, fx.H100, {**params, "channels_last": 0})
            for dt, tol in (("float32", 1e-4), ("float16", 2e-2)):
                if dt == "float16" and label == "split":
                    continue
                cases.append({"id": f"{name}-{label}-{dt}", "reference": source,
                              "candidate": text, "dtype": dt, "seeds": [0],
                              "atol": tol, "rtol": tol})  # fmt: skip
    for name, source in (("bare3d", BARE_CONV3D), ("depthwise", BARE_DEPTHWISE)):
        for d in coder.seed(_problem(source, name), fx.H100):
            cases.append({"id": f"{name}-{d.params['contiguous_out']}", "reference": source,
                          "candidate": d.source, "seeds": [0], "atol": 1e-4, "rtol": 1e-4})  # fmt: skip
    # the stages read a channels-last convolution output in place (strides, no copy)
    for name in ("groupnorm", "min_softmax", "pool_lse"):
        draft = coder.seed(_problem(CASES[name], name), fx.H100)[1]
        assert draft.params["channels_last"] == 1
        cases.append({"id": f"{name}-channels_last", "reference": CASES[name],
                      "candidate": draft.source, "seeds": [0], "atol": 1e-4, "rtol": 1e-4})  # fmt: skip
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    bad = {k: v for k, v in results.items() if not v["ok"]}
    assert not bad, bad
    assert len(results) == len(cases) == 31
