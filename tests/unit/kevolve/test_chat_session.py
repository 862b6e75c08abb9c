"""The conversation's memory: the default chip is used (and said) when none is named, and a
follow-up question about the last run is answered from that run's records."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kevolve.chat_session import ChatSession
from kevolve.cli import app
from kevolve.runstore import RunStore
from kevolve.settings import get_settings
from tests.export_fixtures import make_run
from tools.records import EvalResult
from tools.records.eval_result import Diagnostics


@pytest.fixture
def settings(data_dir):
    return get_settings(target="cpu")


def test_default_chip_is_used_and_said(settings):
    reply = ChatSession(settings).handle("optimize relu over 8x16")
    assert reply.kind == "run" and reply.request.target == "cpu"
    assert any("default target cpu" in n for n in reply.notes)


def test_a_named_chip_is_kept_and_a_missing_op_is_asked(settings):
    chat = ChatSession(settings)
    first = chat.handle("make my kernel faster on h100")
    assert first.kind == "question" and "operator" in first.text
    second = chat.handle("relu over 8x16 fp32 budget 2")
    assert second.kind == "run"
    assert (second.request.problem, second.request.target, second.request.budget) == ("relu", "h100", 2)


def test_followup_is_answered_from_the_last_run(settings):
    run_id = make_run(settings.runs_dir)
    RunStore(settings.runs_dir).save_result(run_id, EvalResult(
        candidate_id="g00-01-aaaaaa", target="cpu", static_ok=True, compiled=True, correct=True,
        runtime_ms=0.02, ref_eager_ms=0.024, ref_compile_ms=0.015, speedup_vs_eager=1.2,
        speedup_vs_compile=0.75, measured_on="test CPU",
        diagnostics=Diagnostics(bound="memory", roofline_fraction=0.41, achieved_gbps=20.0)))
    summary = json.loads((settings.runs_dir / run_id / "summary.json").read_text())
    summary["best"]["speedup_vs_compile"] = 0.75
    (settings.runs_dir / run_id / "summary.json").write_text(json.dumps(summary))
    chat = ChatSession(settings)
    assert not chat.is_followup("why is it slower than torch.compile?")  # no run yet
    chat.ran(run_id)
    assert chat.is_followup("why is it slower than torch.compile?")
    assert not chat.is_followup("optimize gelu on h100")
    reply = chat.handle("why is it slower than torch.compile?")
    assert reply.kind == "answer"
    assert run_id in reply.text and "slower than torch.compile" in reply.text
    assert "0.0200 ms against 0.0150 ms" in reply.text and "memory-bound at 41%" in reply.text


def test_version_flag():
    from importlib.metadata import version

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"kevolve {version('kevolve')}"


def test_doctor_json_has_real_versions():
    res = CliRunner().invoke(app, ["doctor", "--json"])
    report = json.loads(res.stdout)
    import torch

    assert report["versions"]["torch"] == torch.__version__
    assert report["versions"]["fastapi"][0].isdigit()
    gxx = report["toolchains"]["g++ (CPU C++ kernels)"]
    assert gxx == "not found" or any(ch.isdigit() for ch in gxx.split("(")[-2])


def test_tables_fold_ids_at_80_columns(settings, monkeypatch):
    long_id = "layer_norm_with_a_long_name-20261207-163100-abcd"
    make_run(settings.runs_dir, run_id=long_id)
    monkeypatch.setenv("COLUMNS", "80")
    res = CliRunner().invoke(app, ["runs", "list"], terminal_width=80)
    rows = [line.split("│")[1].strip() for line in res.stdout.splitlines() if line.startswith("│")]
    assert "".join(rows) == long_id, res.stdout  # folded onto lines, every character kept
    assert "…" not in res.stdout
    assert all(len(line) <= 80 for line in res.stdout.splitlines())
