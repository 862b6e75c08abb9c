"""Texts agree with the numbers beside them: skill gains, report changes, ties and noise."""

from __future__ import annotations

import re

from agents.curator.rules import distil_skills
from agents.tree import RunTree
from graph.noise import combine, passthrough_warning, speedup
from graph.report import best_message, change_text
from tools.hardware import load_target
from tools.problems import load_problem
from tools.records import Candidate, EvalResult

PAIR = re.compile(r"([\d.]+)x -> \S+ ([\d.]+)x vs eager|\(([\d.]+)x -> ([\d.]+)x vs eager")
GAIN = re.compile(r"([\d.]+)x faster")


def _cand(cid: str, params: dict, parent: str | None = None, text: str = "") -> Candidate:
    return Candidate(
        id=cid, parent_ids=[parent] if parent else [], language="cpp", source=f"# {cid}",
        memory_mode="inherit" if parent else "seed", transformation=text or f"initial {cid}",
        template="cpp.softmax", params=params,
    )  # fmt: skip


def _timed(cid: str, runtime_ms: float, eager_ms: float) -> EvalResult:
    return EvalResult(
        candidate_id=cid, target="cpu", static_ok=True, compiled=True, correct=True,
        runtime_ms=runtime_ms, runtime_spread_ms=runtime_ms * 0.02, ref_eager_ms=eager_ms,
        speedup_vs_eager=eager_ms / runtime_ms, measured_on="AMD EPYC",
    )  # fmt: skip


def test_a_skill_gain_is_the_ratio_of_the_figures_it_shows():
    # The case: 30.81 ms -> 15.53 ms, but eager was timed slower beside the parent,
    # so the speedups vs eager (what the gain is taken from) moved only 1.28x.
    cands = [_cand("p", {"BLOCK": 256}), _cand("c", {"BLOCK": 512}, "p", "BLOCK 256 -> 512")]
    results = {"p": _timed("p", 30.81, 61.0), "c": _timed("c", 15.53, 39.36)}
    tree = RunTree(problem=load_problem("softmax", shape="8x64"), target=load_target("cpu"),
                   candidates={c.id: c for c in cands}, results=results)  # fmt: skip
    skills = distil_skills("run", tree)
    assert skills
    for skill in skills:
        gain = float(GAIN.search(skill.summary).group(1))
        a, b = (float(x) for x in next(g for g in PAIR.findall(skill.summary)) if x)
        assert abs(b / a - gain) <= 0.006 * gain, skill.summary
        assert abs(gain - skill.gain) <= 0.006 * skill.gain
        assert " ms" not in skill.summary  # no figure the gain is not computed from


def test_the_change_column_is_read_from_the_kernels_parameters():
    parent = _cand("p", {"BLOCK": 512, "num_threads": 2})
    # the coder's text says the opposite of what its parameters record
    child = _cand("c", {"BLOCK": 256, "num_threads": 2}, "p", text="BLOCK 256 -> 512")
    assert change_text(child, parent) == "BLOCK 512 -> 256"
    assert change_text(parent, None) == "initial p"


def test_a_speedup_whose_interval_contains_one_is_a_tie():
    noisy = speedup(1.04, runtime_ms=1.0, spread_ms=0.1)  # ±7%: contains 1.0
    assert noisy.tie and noisy.verdict == "tie" and "a tie" in noisy.text()
    clear = speedup(1.5, runtime_ms=1.0, spread_ms=0.02)
    assert not clear.tie and clear.verdict == "faster"
    both = combine([speedup(1.5, 1.0, 0.02), speedup(0.98, 1.0, 0.02)])  # re-measured: fell back
    assert both.samples == 2 and both.tie
    cand, res = _cand("k", {"BLOCK": 1}), _timed("k", 1.0, 1.04)
    message = best_message("k", cand, res, noisy, None)
    assert "tie" in message and "not shown to be faster" in message


def test_the_passthrough_ratio_is_the_load_probe():
    assert passthrough_warning(1.03) == ""
    assert "0.55x" in passthrough_warning(0.55) and "loaded" in passthrough_warning(1.60)


def test_the_bench_never_headlines_an_implausible_figure_without_its_reason():
    from rich.console import Console

    from kevolve.bench_cli import _summary_table
    from kevolve.bench_stats import ProblemRow, row_warnings, summarize

    def row(name: str, **kw) -> ProblemRow:
        base = dict(name=name, file=f"{name}.py", family="pointwise", kind="memory", status="done",
                    correct=True, eager_ms=1.0, compile_ms=1.0, ours_ms=0.5, speedup_vs_eager=2.0,
                    speedup_vs_compile=2.0, passthrough_vs_eager=1.0, fraction_of_ceiling=0.8,
                    ceiling="copy_gbps")  # fmt: skip
        r = ProblemRow(**{**base, **kw})
        return r.model_copy(update={"warnings": row_warnings(r)})

    rows = [
        row("fine"),
        row("loaded", passthrough_vs_eager=0.55),
        row("too_fast", fraction_of_ceiling=1.91),
        row("bad_compile", compile_ms=164.3, speedup_vs_compile=328.62),  # the CPU bench
    ]
    assert rows[0].warnings == [] and all(r.warnings for r in rows[1:])
    summary = summarize(rows, None)
    assert summary["geomean_speedup_vs_compile"] > 7  # every row, the broken baseline included
    assert abs(summary["geomean_speedup_vs_compile_sound_baselines"] - 2.0) < 1e-9
    console = Console(record=True, width=300)
    console.print(_summary_table(summary))
    text = console.export_text()
    assert "0.55x" in text and "191%" in text and "328.62x" in text and "broken baseline" in text
    assert "2.000x over sound baselines" in text


def test_the_winner_is_measured_again_before_it_is_reported(tmp_path, make_run_context):
    import dataclasses

    import graph.confirm as confirm

    calls = []

    class Remeasure:
        def __init__(self, answer):
            self.answer = answer

        def evaluate(self, problem, cand, target, *, run_id, allow_lower_precision=False,
                     remeasure=None):  # fmt: skip
            calls.append((cand.id, remeasure))
            return self.answer(cand)

    fresh = Remeasure(lambda cand: _timed(cand.id, 1.0, 1.02))  # fresh rounds: only 1.02x now
    ctx = dataclasses.replace(make_run_context(tmp_path), evaluator=fresh)
    cand, first = _cand("k", {"BLOCK": 1}), _timed("k", 1.0, 1.30)
    problem, target = load_problem("softmax", shape="8x64"), load_target("cpu")
    found = confirm.confirm_best("run", cand, first, problem, target, ctx)
    assert len(calls) == confirm.CONFIRM_MEASUREMENTS and found.accepted
    assert calls[0] == ("k", 0)  # a re-measurement: fresh seeds, not the search's
    vs = found.vs("eager")
    assert vs.samples == 1 + confirm.CONFIRM_MEASUREMENTS
    assert vs.low <= 1.02 and vs.high >= 1.30  # covers every measurement
    assert confirm.confirm_best("run", cand, first, problem, target, ctx).vs("eager") == vs
    assert len(calls) == confirm.CONFIRM_MEASUREMENTS  # kept in the run folder, not re-run
    wrong = Remeasure(lambda cand: EvalResult(candidate_id="k2", target="cpu",
                                              error="wrong on a fresh seed"))  # fmt: skip
    ctx = dataclasses.replace(ctx, evaluator=wrong)
    failed = confirm.confirm_best("run", _cand("k2", {"BLOCK": 2}), first, problem, target, ctx)
    assert not failed.accepted
