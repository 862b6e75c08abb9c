"""Every run's report: figures as PNG files, report.html with the same figures and tables,
the winning transformations, the spread of each timing, modeled vs measured."""

from __future__ import annotations

from graph.report_extras import extra_sections, lineage, render_html, write_extras
from graph.report_plots import best_so_far, outcome, peak_for, tree_layout, write_figures
from tools.hardware import load_target
from tools.records import Candidate, EvalResult
from tools.records.eval_result import Diagnostics, Stage


def records():
    c = {
        "a": Candidate(id="a", language="pytorch", source="", memory_mode="seed"),
        "b": Candidate(id="b", parent_ids=["a"], generation=1, language="triton", source="",
                       memory_mode="inherit", transformation="fuse the max and the sum"),
        "c": Candidate(id="c", parent_ids=["b"], generation=2, language="triton", source="",
                       memory_mode="combine", transformation="BLOCK 1024 -> 2048"),
        "d": Candidate(id="d", parent_ids=["a"], generation=1, language="triton", source="",
                       memory_mode="restart", transformation="online softmax"),
    }
    diag = Diagnostics(bytes_moved=8 << 20, flops=5 << 20)
    r = {
        "a": EvalResult(candidate_id="a", target="h100", static_ok=True, compiled=True,
                        correct=True, runtime_ms=1.0, runtime_spread_ms=0.02, ref_eager_ms=1.0,
                        ref_compile_ms=0.8, speedup_vs_eager=1.0, speedup_vs_compile=0.8,
                        measured_on="NVIDIA H100", diagnostics=diag),
        "b": EvalResult(candidate_id="b", target="h100", static_ok=True, compiled=True,
                        correct=True, runtime_ms=0.5, runtime_spread_ms=0.01, ref_eager_ms=1.0,
                        ref_compile_ms=0.8, speedup_vs_eager=2.0, speedup_vs_compile=1.6,
                        measured_on="NVIDIA H100", diagnostics=diag),
        "c": EvalResult(candidate_id="c", target="h100", static_ok=True, compiled=True,
                        correct=True, runtime_ms=0.25, ref_eager_ms=1.0, ref_compile_ms=0.8,
                        speedup_vs_eager=4.0, speedup_vs_compile=3.2, measured_on="modeled",
                        diagnostics=diag),
        "d": EvalResult(candidate_id="d", target="h100", static_ok=True, compiled=True,
                        correct=False, stage_failed=Stage("correctness")),
    }
    return c, r


def test_figures_and_html(tmp_path):
    cands, results = records()
    target = load_target("h100")
    figures = write_figures(tmp_path, cands, results, ["a", "b", "d", "c"], target, "float32", "c")
    for name in figures:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 300_000
    md = "# run r\n\n| x |\n|---|\n| 1 |\n" + extra_sections(cands, results, "c", figures)
    for name in figures:
        assert f"]({name})" in md
    page = render_html(md, "kevolve run r")
    for name in figures:
        assert f'src="{name}"' in page
    assert "<table>" in page and "<h2>Winning transformations</h2>" in page
    write_extras(tmp_path, md, "kevolve run r", ["H100 guide\nuse TMA"])
    assert (tmp_path / "report.html").read_text() == page
    assert "H100 guide" in (tmp_path / "knowledge.json").read_text()


def test_sections_say_what_won_how_noisy_and_what_was_modeled():
    cands, results = records()
    md = extra_sections(cands, results, "c", ["search_tree.png"])
    won = md.split("## Winning transformations")[1].split("##")[0]
    assert won.index("`a`") < won.index("fuse the max") < won.index("BLOCK 1024 -> 2048")
    assert "online softmax" not in won
    assert "| b | NVIDIA H100 | 0.5000 | 0.0100 | 2.0% |" in md
    modeled = md.split("## Modeled vs measured")[1]
    assert "measured on NVIDIA H100" in modeled and "modeled (1 candidates)" in modeled
    assert [c.id for c in lineage(cands, "c")] == ["a", "b", "c"]


def test_tree_and_curve_are_functions_of_the_records():
    cands, results = records()
    assert [outcome(results[k]) for k in "abcd"] == ["accepted", "accepted", "accepted", "wrong"]
    assert outcome(None) == "not evaluated"
    pos = tree_layout(cands)
    assert pos["a"][0] == 0 and pos["c"][0] == 2 and pos["b"][1] != pos["d"][1]
    assert best_so_far(["a", "d", "b", "c"], results) == [1.0, 1.0, 2.0, 4.0]


def test_roofline_uses_the_peak_of_the_problems_dtype():
    h100 = load_target("h100")
    assert peak_for(h100, "float32") == ("fp32", h100.peak_tflops["fp32"])
    assert peak_for(h100, "bfloat16") == ("bf16", h100.peak_tflops["bf16"])
