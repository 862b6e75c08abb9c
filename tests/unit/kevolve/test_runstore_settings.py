"""Run store files and the settings precedence."""

from __future__ import annotations

import re

import pytest

from kevolve.runstore import RunInfo, RunStore
from kevolve.settings import Settings, get_settings
from tests.support import REPO
from tools.errors import RunStoreError
from tools.records import Candidate, EvalResult


def test_run_roundtrip(tmp_path):
    store = RunStore(tmp_path / "runs")
    info = RunInfo(run_id="r1", problem="softmax", target="cpu", budget=3)
    store.create(info, "# problem")
    cand = Candidate(id="c1", language="triton", source="src")
    store.save_candidate("r1", cand)
    assert store.candidate_path("r1", "c1").read_text() == "src"
    assert store.load_result("r1", "c1") is None
    store.save_result("r1", EvalResult(candidate_id="c1", target="cpu", correct=True))
    assert store.load_result("r1", "c1").correct
    assert store.evaluation_log("r1") == ["c1"]
    assert store.set_status("r1", "finished").status == "finished"
    assert [i.run_id for i in store.list()] == ["r1"]
    with pytest.raises(RunStoreError):
        store.create(info, "# again")


def test_unknown_run_is_one_sentence(tmp_path):
    with pytest.raises(RunStoreError, match="kevolve runs list"):
        RunStore(tmp_path).info("nope")


def test_precedence_cli_over_file_over_env(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text("budget = 20\ntarget = 'h100'\n")
    monkeypatch.setenv("KEVOLVE_CONFIG", str(cfg))
    monkeypatch.setenv("KEVOLVE_BUDGET", "30")
    monkeypatch.setenv("KEVOLVE_MAX_CONCURRENCY", "3")
    s = get_settings()
    assert s.budget == 20  # file beats environment
    assert s.max_concurrency == 3  # environment beats default
    assert get_settings(budget=5).budget == 5  # CLI beats file
    assert s.target == "h100"


def test_invalid_setting_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("KEVOLVE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("KEVOLVE_BUDGET", "0")
    with pytest.raises(ValueError):
        Settings()


def test_documented_defaults_match_code():
    """README's settings table lists every field with the code's default."""
    readme = (REPO / "README.md").read_text()
    rows = dict(re.findall(r"^\| `KEVOLVE_(\w+)` \| `([^`]*)` \|", readme, flags=re.M))
    fields = Settings.model_fields
    assert rows, "README has no settings table"
    for name, field in fields.items():
        key = name.upper()
        assert key in rows, f"README does not document KEVOLVE_{key}"
        default = field.default
        shown = "unset" if default is None else str(default)
        assert rows[key] == shown, f"KEVOLVE_{key}: README says {rows[key]}, code says {shown}"
