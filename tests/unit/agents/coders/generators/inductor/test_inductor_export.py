"""The Inductor-export generator: torch.compile's own kernels as a standalone ModelNew.

The fast tests read a small module shaped like Inductor's output; the slow one runs
Inductor for real on the CPU (C++ kernels) and evaluates the export in the sandbox.
"""

from __future__ import annotations

import ast

import pytest

from agents.coders.generators.inductor.render import clean_output_code, export_source
from tests.support import FIXTURES
from tools.errors import ProblemError
from tools.evaluator.static_checks import check_source
from tools.records import Problem

FIXTURE = FIXTURES / "inductor" / "bias_relu_softmax.py"

OUTPUT_CODE = """# AOT ID: ['0_inference']
import torch
import tempfile
from torch._inductor.async_compile import AsyncCompile
empty_strided_cpu = torch._C._dynamo.guards._empty_strided_cpu
async_compile = AsyncCompile()
cpp_fused_relu_0 = async_compile.cpp_pybinding(['const float*', 'float*', 'const int64_t'], r'''
extern "C" void kernel(const float* in_ptr0, float* out_ptr0, const int64_t ks0) {}
''')


async_compile.wait(globals())
del async_compile

class Runner:
    def call(self, args):
        arg0_1, arg1_1 = args
        args.clear()
        buf0 = empty_strided_cpu((arg0_1, ), (1, ), torch.float32)
        cpp_fused_relu_0(arg1_1, buf0, arg0_1)
        return (buf0, )

runner = Runner()
call = runner.call


def get_args():
    from torch._dynamo.testing import rand_strided
    return [4, rand_strided((4, ), (1, ), device='cpu', dtype=torch.float32)]


if __name__ == "__main__":
    from torch._inductor.wrapper_benchmark import compiled_module_main
    compiled_module_main('None', lambda t, r: None)
"""

REFERENCE = """import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x):
        return torch.relu(x)


def get_inputs():
    return [torch.randn(4)]


def get_init_inputs():
    return []
"""


def _calls(source: str) -> set[str]:
    return {ast.unparse(n.func) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)}


def test_output_code_is_cleaned_of_harness_and_globals_wait():
    cleaned = clean_output_code(OUTPUT_CODE)
    assert "get_args" not in cleaned and "__main__" not in cleaned
    assert "import tempfile" not in cleaned  # unused, and a forbidden import
    assert "globals()" not in cleaned
    assert "async_compile.wait(_kernels)" in cleaned
    assert "cpp_fused_relu_0 = _kernels['cpp_fused_relu_0']" in cleaned
    # the kernel source string is kept byte for byte
    assert 'extern "C" void kernel(const float* in_ptr0' in cleaned


RELU_EXPORT = {
    "problem_name": "relu",
    "reference_source": REFERENCE,
    "output_code": OUTPUT_CODE,
    "arg_exprs": ["inputs[0].size(0)", "inputs[0]"],
    "n_outputs": 1,
    "output_kind": "tensor",
    "torch_version": "2.x",
    "kernel_kind": "C++ kernels",
}
"""The export of the relu reference's Inductor output (the arguments of ``export_source``)."""


def test_exported_module_passes_the_static_checks_and_never_compiles():
    source = export_source(**RELU_EXPORT)
    assert check_source(source) == []
    assert not {c for c in _calls(source) if "compile" in c and "async_compile" not in c}
    assert "inductor export" in source
    tree = ast.parse(source)
    model_new = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ModelNew")
    forward = next(n for n in model_new.body if isinstance(n, ast.FunctionDef))
    assert "_inductor_call([inputs[0].size(0), inputs[0]])" in ast.unparse(forward)


def test_a_name_clash_with_the_reference_is_refused():
    clashing = REFERENCE.replace("import torch.nn as nn", "import torch.nn as nn\nrunner = 3")
    with pytest.raises(ProblemError, match="both define 'runner'"):
        export_source(**(RELU_EXPORT | {"reference_source": clashing}))


def test_a_modeled_gpu_target_gets_no_export(monkeypatch):
    from agents.coders.generators.inductor import coder as inductor_coder
    from tests.unit.agents.coders.fixtures import CPU, H100

    monkeypatch.setenv("KEVOLVE_INDUCTOR_SEED", "1")
    monkeypatch.setattr(inductor_coder, "target_present_isolated", lambda t: (False, ""))
    problem = Problem(name="relu", source=REFERENCE)
    assert not inductor_coder.InductorCoder("triton").supports(problem, H100)
    assert inductor_coder.InductorCoder("cpp").supports(problem, CPU)
    monkeypatch.setenv("KEVOLVE_INDUCTOR_SEED", "0")
    assert not inductor_coder.InductorCoder("cpp").supports(problem, CPU)


@pytest.mark.slow
def test_cpu_export_is_correct_in_the_evaluator(tmp_path, monkeypatch):
    """Inductor's C++ kernels for bias + relu + row softmax, exported and evaluated on the
    CPU: accepted, also correct at the irregular shape, and no compile call in the module."""
    from agents.coders.generators.inductor.coder import InductorCoder
    from tests.unit.agents.coders.fixtures import CPU
    from tools.evaluator import EvalOptions, evaluate
    from tools.records import Candidate

    monkeypatch.setenv("KEVOLVE_INDUCTOR_SEED", "1")
    problem = Problem(name="bias_relu_softmax", source=FIXTURE.read_text())
    coder = InductorCoder("cpp")
    assert coder.supports(problem, CPU)
    (draft,) = coder.seed(problem, CPU)
    assert draft.author == "inductor export" and draft.template == "inductor.export"
    assert "cpp_pybinding" in draft.source
    assert check_source(draft.source) == []
    assert not any(c.startswith(("torch.compile", "torch._dynamo")) for c in _calls(draft.source))
    cand = Candidate(id="inductor-cpu", language="cpp", source=draft.source)
    opts = EvalOptions(work_dir=str(tmp_path), timeout_s=600, measure_compile=False, rep_ms=20.0)
    result = evaluate(problem, cand, CPU, opts)
    assert result.accepted, result.error
    assert any("also correct at the irregular shape" in n for n in result.diagnostics.notes)


def test_an_exhausted_parent_generator_hands_over_to_the_others(monkeypatch):
    """Once every Inductor setting is in the tree, a child of an export comes from another
    generator of the language instead of ending the run."""
    from agents.coders.base import CoderContext, Draft, fingerprint
    from agents.coders.composite import LanguageCoder
    from agents.coders.generators.inductor.coder import TEMPLATE, VARIANTS, InductorCoder
    from tests.unit.agents.coders.fixtures import CPU
    from tools.records import Candidate

    class Other:
        language = "cpp"
        name = "other"
        templates = ("cpp.other",)

        def supports(self, problem, target):
            return True

        def seed(self, problem, target):
            return []

        def propose(self, ctx):
            return Draft(language="cpp", source="x", transformation="other", template="cpp.other")

    problem = Problem(name="relu", source=REFERENCE)
    parent = Candidate(id="p", language="cpp", source="x", template=TEMPLATE)
    tried = [fingerprint(TEMPLATE, {"variant": i, **v}) for i, v in enumerate(VARIANTS)]
    ctx = CoderContext(
        problem=problem, target=CPU, memory_mode="inherit", parent=parent, tried=tried
    )
    monkeypatch.setenv("KEVOLVE_INDUCTOR_SEED", "1")
    coder = LanguageCoder("cpp", [InductorCoder("cpp"), Other()])
    assert coder.propose(ctx).template == "cpp.other"
