"""Slices and concatenations fused into one pointwise kernel (``agents.coders.generators.pointwise.remap``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agents.coders.generators.pointwise.hybrid import HybridCoder
from agents.coders.generators.pointwise.remap import analyze_remap
from tests.support import REPO, SUITE
from tests.unit.agents.coders import fixtures as fx
from tools.errors import ProblemError
from tools.problems.loader import load_problem_file
from tools.records import Problem

ROTARY = (SUITE / "066_rotary_embedding.py").read_text()


def _sized(source: str, **sizes: int) -> str:
    for name, value in sizes.items():
        lines = source.splitlines()
        lines = [f"{name} = {value}" if ln.startswith(f"{name} = ") else ln for ln in lines]
        source = "\n".join(lines) + "\n"
    return source


SMALL_ROTARY = _sized(ROTARY, BATCH=2, HEADS=3, SEQ=5, HEAD_DIM=16)

MIDDLE_CAT = '''import torch
import torch.nn as nn


class Model(nn.Module):
    """Three pieces along dim 1, negative slice bounds, a broadcast buffer inside a piece."""

    def __init__(self, width):
        super().__init__()
        self.register_buffer("b", torch.randn(1, 1, width))
        self.w = nn.Parameter(torch.randn(width))

    def forward(self, x, z):
        y = torch.cat(
            [torch.relu(x[:, -3:, :]), x[:, :2, :] * 2.0, torch.sigmoid(x[:, 1:4] + self.b)], dim=1
        )
        return y * self.w + z


def get_inputs():
    return [torch.randn(3, 6, 7), torch.randn(3, 8, 7)]


def get_init_inputs():
    return [7]
'''

DIM0_CAT = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x, y):
        return torch.tanh(torch.cat((x[..., 1:5], -y[..., :4]), 0) * 0.5) + 1.0


def get_inputs():
    return [torch.randn(3, 9), torch.randn(5, 6)]


def get_init_inputs():
    return []
"""

VIEW_ONLY = """import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x, y):
        n = x.size(1)
        return x[:, 1 : n - 1] * 2.0 + y.transpose(0, 1)


def get_inputs():
    return [torch.randn(5, 11), torch.randn(9, 5)]


def get_init_inputs():
    return []
"""

CHUNKED_ROTARY = ROTARY.replace(
    """        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)""",
    """        x1, x2 = x.chunk(2, dim=-1)
        rotated = torch.cat((-x2, x1), dim=-1)
        seq = x.size(-2)""",
).replace("x * self.cos + rotated * self.sin", "x * self.cos[:seq] + rotated * self.sin[:seq]")
SMALL_CHUNKED = _sized(CHUNKED_ROTARY, BATCH=2, HEADS=3, SEQ=5, HEAD_DIM=16)

MASKED = _sized((SUITE / "006_masked_fill_clamp.py").read_text(), ROWS=7, COLS=37)


def _problem(source: str, name: str = "remap") -> Problem:
    return Problem(name=name, source=source, op=None, shapes=[[1]], origin="test")


def _case(i: str, reference: str, candidate: str, **extra: object) -> dict:
    return {"id": i, "reference": reference, "candidate": candidate, "seeds": [0, 1],
            "atol": 1e-5, "rtol": 1e-5, **extra}  # fmt: skip


def test_rotary_suite_file_is_one_kernel_with_no_library_call() -> None:
    problem = load_problem_file(SUITE / "066_rotary_embedding.py")
    coder = HybridCoder()
    drafts = coder.seed(problem, fx.H100)
    assert drafts and all(d.template == "triton.remap" for d in drafts)
    assert drafts[0].transformation.endswith("library calls kept: none (one kernel)")
    forward = drafts[0].source.split("def forward")[1]
    assert "torch.cat" not in forward and "_kv_remap(" in forward
    assert drafts[0].source.count("@triton.jit") == 2  # the kernel and its tanh helper only
    graph = analyze_remap(ROTARY)
    assert graph.chain.summary == "neg -> cat -> mul -> mul -> add"
    assert [c.dim for c in graph.cats] == [-1] and len(graph.cats[0].pieces) == 2


def test_pure_chains_and_library_heads_are_not_claimed() -> None:
    with pytest.raises(ProblemError, match="whole forward is pointwise"):
        analyze_remap(fx.CHAIN)
    conv = MIDDLE_CAT.replace("return y * self.w + z", "return torch.sort(y, -1).values + z")
    with pytest.raises(ProblemError, match="sort"):
        analyze_remap(conv)
    computed = ROTARY.replace("x[..., half:], x[..., :half]", "(x * 2)[..., half:], x[..., :half]")
    with pytest.raises(ProblemError, match="views or measures a computed tensor"):
        analyze_remap(computed)  # a slice of a computed value would hide a library call


@pytest.mark.slow
@pytest.mark.parametrize("source", [SMALL_ROTARY, SMALL_CHUNKED, MIDDLE_CAT, DIM0_CAT, VIEW_ONLY])
def test_slice_cat_equivalence_on_random_inputs(source: str, tmp_path: Path) -> None:
    drafts = HybridCoder().seed(_problem(source), fx.H100)
    assert drafts[0].template == "triton.remap"
    cases = [_case(f"d{i}", source, d.source) for i, d in enumerate(drafts[:2])]
    cases.append(_case("nc", source, drafts[2].source, noncontiguous=True))
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    assert all(r["ok"] for r in results.values()), results


@pytest.mark.slow
def test_sizes_are_read_at_call_time_and_fp16_stays_exact(tmp_path: Path) -> None:
    draft = HybridCoder().seed(_problem(SMALL_ROTARY), fx.H100)[0]
    odd = _sized(ROTARY, BATCH=1, HEADS=2, SEQ=3, HEAD_DIM=10)  # half = 5: unaligned pieces
    wide = _sized(ROTARY, BATCH=1, HEADS=1, SEQ=2, HEAD_DIM=2048)  # several column blocks
    cases = [
        _case("odd", odd, draft.source),
        _case("wide", wide, draft.source),
        _case("fp16", SMALL_ROTARY, draft.source, dtype="float16", atol=2e-3, rtol=2e-3),
    ]
    results = fx.run_harness("check", cases, tmp_path, interpret=True)
    assert all(r["ok"] for r in results.values()), results


@pytest.mark.slow
def test_kernels_compile_for_sm90_and_gfx942(tmp_path: Path) -> None:
    cases = []
    for i, source in enumerate([SMALL_ROTARY, MIDDLE_CAT, MASKED]):
        for j, draft in enumerate(HybridCoder().seed(_problem(source), fx.H100)[:2]):
            cases.append({"id": f"c{i}{j}", "reference": source, "candidate": draft.source,
                          "targets": ["cuda:90", "hip:gfx942"]})  # fmt: skip
    results = fx.run_harness("compile", cases, tmp_path)
    assert all(r["ok"] for r in results.values()), results
    assert all(k["vgpr_spill"] == 0 for r in results.values() for k in r["kernels"]
               if k["target"].startswith("hip"))  # fmt: skip


def test_cat_geometry_matches_torch() -> None:
    namespace: dict = {}
    exec(  # noqa: S102 - the helpers of a rendered module
        HybridCoder().seed(_problem(DIM0_CAT), fx.H100)[0].source.split("# ---- the model")[0]
        .split("@triton.jit", 1)[0] + "\n" + _helpers(), namespace
    )  # fmt: skip
    shape, bounds = namespace["_kv_cat_geometry"](((3, 4), (5, 4), (0, 4)), -2)
    assert shape == torch.cat([torch.empty(3, 4), torch.empty(5, 4), torch.empty(0, 4)]).shape
    assert bounds == [0, 3, 8, 8]
    t = torch.empty(4, 1, 6)[..., ::2]
    assert namespace["_kv_strides"](t, (2, 4, 5, 3)) == [0, 6, 0, 2]  # t.stride() is (6, 6, 2)


def _helpers() -> str:
    source = HybridCoder().seed(_problem(DIM0_CAT), fx.H100)[0].source
    start = source.index("def _kv_cat_geometry")
    return source[start : source.index("def _kv_remap(")]


_BOOL_CHECK = """
import sys, torch
from tests.support import load_module
ref = load_module(sys.argv[1], "ref_mod", register=True)
new = load_module(sys.argv[2], "new_mod", register=True)
torch.manual_seed(0)
x, keep = ref.get_inputs()
x = x * 500.0  # the clamp bites
got = new.ModelNew()(x[:, ::1], keep.t().contiguous().t())  # a transposed bool mask
want = ref.Model()(x, keep)
assert got.dtype == want.dtype and torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
print("ok")
"""


@pytest.mark.slow
def test_bool_mask_and_full_like_fuse_into_one_kernel(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    draft = HybridCoder().seed(_problem(MASKED), fx.H100)[0]
    assert draft.template == "triton.remap" and "!= 0" in draft.source  # the mask is a predicate
    (tmp_path / "ref.py").write_text(MASKED)
    (tmp_path / "new.py").write_text(draft.source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRITON")}
    env |= {"TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _BOOL_CHECK, str(tmp_path / "ref.py"), str(tmp_path / "new.py")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


@pytest.mark.parametrize(
    "name, template",
    [
        ("003_swiglu_fp16", "triton.pointwise"),
        ("004_long_chain", "triton.pointwise"),  # log1p fuses: no library head
        ("005_residual_scale_add", "triton.pointwise"),
        ("006_masked_fill_clamp", "triton.remap"),  # bool mask + full_like: one kernel
        ("007_bn_fold_hardswish_fp16", "triton.pointwise"),
        ("066_rotary_embedding", "triton.remap"),
    ],
)
def test_suite_pointwise_problems_get_one_kernel_seeds(name: str, template: str) -> None:
    from agents.coders import coder_for

    problem = load_problem_file(SUITE / f"{name}.py")
    every = coder_for("triton").seed(problem, fx.H100)  # other families may seed it too
    drafts = [d for d in every if d.template == template]
    assert len(drafts) >= 2, sorted({d.template for d in every})
    assert not {d.template for d in every} & {"triton.pointwise", "triton.remap"} - {template}
    forward = drafts[0].source.split("    def forward")[1]
    assert "torch." not in forward and "F." not in forward  # no library call left in forward
    kept = drafts[0].transformation.partition("library calls kept: ")[2]
    assert kept in ("", "none (one kernel)")


_PTX_PROBE = """
import re, sys, torch
from triton.runtime.jit import JITFunction
from tests.support import load_module
from tools.compilers.triton_aot import compile_launch
m = load_module(sys.argv[1], "cand", register=True)
ns = {}; exec(open(sys.argv[2]).read(), ns)
launches = []
for v in list(vars(m).values()):
    if isinstance(v, JITFunction):
        v.run = (lambda fn: lambda *a, grid, warmup, **k: launches.append((fn, a, k)))(v)
with torch.device("meta"):
    model = m.ModelNew(*ns["get_init_inputs"]())
    model(*ns["get_inputs"]())
fn, args, kw = launches[0]
names = list(fn.arg_names); bound = dict(zip(names, args)) | kw
const = {p.name for p in fn.params if p.is_constexpr}
sig, consts, aligned = {}, {}, []
for n in names:
    v = bound[n]
    if n in const or (isinstance(v, int) and v == 1):
        sig[n] = "constexpr"; consts[n] = v
    elif isinstance(v, torch.Tensor):
        sig[n] = "*fp32"; aligned.append(n)
    else:
        sig[n] = "i32"; aligned += [n] if v % 16 == 0 else []
launch = {"signature": sig, "constexprs": consts, "aligned": aligned, "num_warps": kw["num_warps"]}
ptx = compile_launch(fn, launch, "cuda", 90, 32).asm["ptx"]
print(len(re.findall(r"ld\\.global\\.v4", ptx)), len(re.findall(r"ld\\.global\\.b32", ptx)))
"""


@pytest.mark.slow
def test_rotary_loads_are_16_byte_vectors_on_sm90(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    problem = load_problem_file(SUITE / "066_rotary_embedding.py")
    draft = HybridCoder().seed(problem, fx.H100)[0]  # BLOCK 1024, 4 warps: 8 floats a thread
    (tmp_path / "new.py").write_text(draft.source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRITON")}
    env |= {"PYTHONPATH": str(REPO), "TRITON_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", _PTX_PROBE, str(tmp_path / "new.py"), str(SUITE / "066_rotary_embedding.py")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    vectors, scalars = map(int, proc.stdout.split())
    assert (vectors, scalars) == (10, 0)  # x, its two shifted halves, cos, sin: 2 x v4 each
