"""ColumnReduceCoder and the strided/exclusive scan seeds: recognition on the suite files,
interpreter correctness at small irregular sizes, and AOT compilation for sm_90 and gfx942.

The suite files (009, 010, 031, 033) are analysed as shipped (meta tensors, full sizes);
kernels run under ``TRITON_INTERPRET=1`` on the same sources with their sizes shrunk to odd
values, since the evaluator checks problems at sizes other than the traced ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agents.coders.generators.scans import ScanCoder, analyze_scan
from agents.coders.generators.scans.colreduce_coder import ColumnReduceCoder
from agents.coders.generators.scans.colreduce_spec import analyze_colreduce
from tests.support import SUITE
from tests.unit.agents.coders.generators.scans import fixtures as sf
from tests.unit.agents.coders.interpreter import InterpreterChecks
from tools.problems.loader import load_problem_file

COL = ColumnReduceCoder()
SCAN = ScanCoder()
SPLIT = {
    "variant": "split",
    "BLOCK_I": 16,
    "BLOCK_R": 4,
    "waves": 4,
    "MIN_STEPS": 2,
    "num_warps": 2,
    "num_stages": 1,
}
"""Forces a split of the reduced dim at test sizes (chunks of 8 rows)."""


def _suite(stem: str) -> Any:
    return load_problem_file(next(SUITE.glob(f"{stem}_*.py")))


def _shrunk(stem: str, **sizes: int) -> Any:
    problem = _suite(stem)
    src = problem.source
    for name, value in sizes.items():
        src, n = re.subn(rf"^{name} = \d+", f"{name} = {value}", src, flags=re.MULTILINE)
        assert n == 1, name
    return problem.model_copy(update={"source": src, "name": f"{problem.name}-small"})


def _col(name: str, body: str, inputs: str, dtype: str = "float32") -> Any:
    return sf.problem(name, sf.source(body, inputs), dtype)


def _case(case_id: str, problem: Any, source: str, **extra: Any) -> dict[str, Any]:
    return sf.case(case_id, problem, source, **extra)


# ---- recognition on the suite files (meta tensors) -------------------------------------------
def test_suite_column_reductions_are_claimed() -> None:
    mean = analyze_colreduce(_suite("009"))
    assert (mean.op, mean.first, mean.last, mean.keepdim) == ("mean", 1, 1, False)
    assert (mean.outer, mean.length, mean.inner) == (32, 2048, 1024)
    amax = analyze_colreduce(_suite("010"))
    assert (amax.op, amax.first, amax.outer, amax.inner) == ("max", 0, 1, 1024)
    for stem in ("009", "010"):
        assert COL.supports(_suite(stem), sf.H100) and COL.supports(_suite(stem), sf.MI300X)
        assert not COL.supports(_suite(stem), sf.CPU)
    for stem in ("008", "028", "033"):  # a row reduction and two scans are not column reductions
        assert not COL.supports(_suite(stem), sf.H100)


def test_suite_scans_are_claimed_and_length_generic() -> None:
    for stem in ("028", "031", "032", "033"):
        assert SCAN.supports(_suite(stem), sf.H100), stem
    exclusive = analyze_scan(_suite("031"))
    assert exclusive.static_len == 0 and "(exclusive)" in exclusive.summary
    assert analyze_scan(_suite("033")).layout == "cols"


def test_fixed_length_windows_stay_static() -> None:
    body = "return F.pad(torch.cumsum(x, 1)[:, :20], (0, 17))"  # a 20-long slice: baked in
    assert analyze_scan(sf.problem("fixed", sf.source(body, "torch.randn(5, 37)"))).static_len == 37


REJECTED = {
    "row": ("return x.sum(dim=-1)", "innermost"),
    "gap": ("return x.sum(dim=(0, 2))", "not adjacent"),
    "computed": ("return (x * 2).sum(dim=1)", "computed tensor"),
    "indices": ("return torch.max(x, dim=1)[1]", "indices"),
    "all": ("return x.sum()", "not a sum/mean"),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_other_references_are_rejected_in_one_sentence(name: str) -> None:
    body, words = REJECTED[name]
    sf.assert_refused(analyze_colreduce, _col(name, body, "torch.randn(4, 6, 8, 5)"), words, COL)


def test_seeds_fit_the_suite_shapes() -> None:
    for stem in ("009", "010"):
        spec = COL.spec_for(_suite(stem), sf.H100)
        seeds = COL.seed_params(spec, sf.H100)
        space = COL.space(spec, sf.H100)
        assert 2 <= len(seeds) <= 4 and all(space.is_legal(s) for s in seeds)
        assert (seeds[0]["BLOCK_I"], seeds[0]["BLOCK_R"], seeds[0]["num_warps"]) == (128, 32, 8)
        assert all(space.is_legal(p) for p in COL.safer(seeds[0], spec, sf.H100))
        amd = COL.seed_params(COL.spec_for(_suite(stem), sf.MI300X), sf.MI300X)
        assert all("waves_per_eu" in s for s in amd)
    fp16 = COL.spec_for(_col("h", "return x.sum(0)", "torch.randn(64, 512)", "float16"), sf.H100)
    assert COL.seed_params(fp16, sf.H100)[0]["BLOCK_I"] == 256  # 512-byte rows in fp16
    cols = SCAN.seed_params(SCAN.spec_for(_suite("033"), sf.H100), sf.H100)
    assert [s["variant"] for s in cols] == ["chained", "tiled", "tiled", "chained"]
    assert (cols[0]["BLOCK_A"], cols[0]["BLOCK_L"]) == (32, 128)  # 16384 programs, chains of 32
    assert cols[1]["BLOCK_A"] == 32 and cols[1]["PREFETCH"] == 1  # 512 carried programs
    short = SCAN.spec_for(_shrunk("033", SEQ=100), sf.H100)
    assert all(s["variant"] == "tiled" for s in SCAN.seed_params(short, sf.H100))
    reverse = SCAN.spec_for(sf.problem("r", sf.source(*sf.SCANS["cols_dim0_reverse"][:2])), sf.H100)
    assert "chained" not in SCAN.space(reverse, sf.H100).variants  # chains run forwards only


def test_draft_is_self_contained_and_splits_in_code() -> None:
    source = COL.seed(_suite("010"), sf.H100)[0].source
    sf.assert_self_contained(source, "torch.amax")
    assert "_kv_colred_finish" in source and "Bytes moved" in source


# ---- interpreter correctness -----------------------------------------------------------------
def _quick_cases() -> list[dict[str, Any]]:
    fp16 = {"dtype": "float16", "atol": 2e-2, "rtol": 1e-2}
    mean = _shrunk("009", BATCH=3, SEQ=37, HIDDEN=20)
    amax = _shrunk("010", SAMPLES=301, FEATURES=19)
    maxv = _col("maxv", "return torch.max(x, dim=1, keepdim=True)[0]", "torch.randn(2, 33, 5, 7)")
    prod = _col("prod", "return torch.prod(x, dim=1)", "torch.rand(4, 13, 9) + 0.5")
    sums = _col("sums", "return x.sum(dim=(1, 2))", "torch.randn(2, 30, 20, 24)", "float16")
    exclusive = _shrunk("031", ROWS=5, COLS=45)
    cols = _shrunk("033", BATCH=2, SEQ=300, FEATURES=37)
    body, inputs, args, dim = sf.SCANS["cols_cumprod_minus"]
    prod_minus = sf.problem("cols_cumprod_minus", sf.source(body, inputs, args, dim))
    chained = {"variant": "chained", "BLOCK_A": 8, "BLOCK_L": 32, "num_warps": 2}
    return [
        _case("009-seed0", mean, COL.seed(mean, sf.H100)[0].source, noncontiguous=True),
        _case("010-split", amax, COL.render(amax, COL.spec_for(amax, sf.H100), sf.H100, SPLIT)),
        _case("010-seed1-mi300x", amax, COL.seed(amax, sf.MI300X)[1].source),
        _case("maxv-split", maxv, COL.render(maxv, COL.spec_for(maxv, sf.H100), sf.H100, SPLIT)),
        _case("prod-seed0", prod, COL.seed(prod, sf.H100)[0].source),
        _case("sums-fp16", sums, COL.seed(sums, sf.H100)[0].source, **fp16),
        _case("031-seed0", exclusive, SCAN.seed(exclusive, sf.H100)[0].source),
        _case("033-seed0", cols, SCAN.seed(cols, sf.H100)[0].source),
        _case("033-seed1", cols, SCAN.seed(cols, sf.H100)[1].source, noncontiguous=True),
        *_other_length_cases(),
        *_exclusive_minus_cases(),
        _case(
            "chained-cumprod-epilogue",
            prod_minus,
            SCAN.render(prod_minus, SCAN.spec_for(prod_minus, sf.H100), sf.H100, chained),
        ),
    ]


def _other_length_cases() -> list[dict[str, Any]]:
    """Drafts planned at length 37 run at length 53: windows must follow the length."""
    cases = []
    for name in ("exclusive_kb92", "reverse_exclusive"):
        body, inputs, args, dim = sf.SCANS[name]
        planned = sf.problem(name, sf.source(body, inputs, args, dim))
        checked = sf.problem(name, sf.source(body, inputs.replace("37", "53"), args, dim))
        assert analyze_scan(planned).static_len == 0
        cases.append(_case(f"{name}-len53", checked, SCAN.seed(planned, sf.H100)[0].source))
    return cases


def _exclusive_minus_cases() -> list[dict[str, Any]]:
    """Exclusive sums computed as inclusive minus input, carried across chunks."""
    rows = _shrunk("031", ROWS=3, COLS=700)
    looped = {"variant": "looped", "BLOCK_A": 2, "BLOCK_L": 256, "num_warps": 4, "num_stages": 1}
    body = "return F.pad(torch.cumsum(x, 1)[:, :-1], (0, 0, 1, 0))"
    cols = sf.problem("cols_exclusive", sf.source(body, "torch.randn(2, 100, 37)"))
    assert analyze_scan(cols).carry_of == "scan_c" and analyze_scan(rows).carry_of == "scan_c"
    chained = {"variant": "chained", "BLOCK_A": 16, "BLOCK_L": 32, "num_warps": 2}
    return [
        _case("031-looped", rows, SCAN.render(rows, SCAN.spec_for(rows, sf.H100), sf.H100, looped)),
        _case(
            "cols-exclusive-chained",
            cols,
            SCAN.render(cols, SCAN.spec_for(cols, sf.H100), sf.H100, chained),
        ),
    ]


class TestDraftsInInterpreter(InterpreterChecks):
    pytestmark = pytest.mark.slow
    harness = sf.HARNESS
    cases = staticmethod(_quick_cases)


# ---- AOT compilation -------------------------------------------------------------------------
@pytest.mark.slow
def test_drafts_compile_for_sm90_and_gfx942(tmp_path: Path) -> None:
    amax = _shrunk("010", SAMPLES=4096, FEATURES=256)
    mean = _shrunk("009", BATCH=2, SEQ=64, HIDDEN=128)
    exclusive = _shrunk("031", ROWS=4, COLS=256)
    cols = _shrunk("033", BATCH=2, SEQ=512, FEATURES=64)
    cases = [
        _case("010", amax, COL.seed(amax, sf.H100)[0].source),
        _case("009-mi300x", mean, COL.seed(mean, sf.MI300X)[0].source),
        _case("031", exclusive, SCAN.seed(exclusive, sf.H100)[0].source),
        _case("033", cols, SCAN.seed(cols, sf.H100)[0].source),
        _case("033-tiled-mi300x", cols, SCAN.seed(cols, sf.MI300X)[1].source),
    ]
    for case in cases:
        case["targets"] = ["cuda:90", "hip:gfx942"]
    results = sf.run("compile", cases, tmp_path)
    for case in cases:
        result = results[case["id"]]
        assert result["ok"], result
        names = {k["kernel"] for k in result["kernels"]}
        assert names, result
        assert all(k.get("vgpr_spill", 0) == 0 for k in result["kernels"]), result
    assert {"_kv_colred_kernel", "_kv_colred_finish"} <= {
        k["kernel"] for k in results["010"]["kernels"]
    }
    assert {k["kernel"] for k in results["033"]["kernels"]} == {"_kv_scan_chained_kernel"}
