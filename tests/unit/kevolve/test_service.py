"""The HTTP service: token rules, runs/reports/kernels, tickets, uploads, chat, OpenAPI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kevolve.service.app import create_app
from kevolve.service.auth import check_bind, is_loopback
from kevolve.settings import get_settings
from tests.export_fixtures import make_run
from tests.support import REPO as ROOT
from tools.errors import ConfigError


@pytest.fixture
def settings(data_dir):
    return get_settings(target="cpu")


@pytest.fixture
def client(settings):
    return TestClient(create_app(settings, max_upload_bytes=2048))


def test_beyond_loopback_needs_a_token(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(ConfigError, match="KEVOLVE_API_TOKEN"):
        check_bind("0.0.0.0", None)
    env = {"PATH": "/usr/bin:/bin", "KEVOLVE_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
           "KEVOLVE_CONFIG": str(tmp_path / "none.toml")}
    proc = subprocess.run([sys.executable, "-m", "kevolve.cli", "serve", "--host", "0.0.0.0",
                           "--port", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "KEVOLVE_API_TOKEN" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_token_is_checked_on_every_api_route(settings):
    c = TestClient(create_app(settings, token="s3cret"))
    assert c.get("/api/runs").status_code == 401
    assert c.get("/api/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get("/api/tickets").status_code == 401
    assert c.post("/api/chat", json={"message": "hi"}).status_code == 401
    ok = c.get("/api/runs", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json() == []
    assert c.get("/").status_code == 200  # the page itself; it asks for the token


def test_runs_reports_and_kernels(client, settings):
    run_id = make_run(settings.runs_dir)
    (settings.runs_dir / run_id / "best_kernel.py").write_text("class ModelNew: ...\n")
    (settings.runs_dir / run_id / "report.html").write_text("<html>report</html>")
    assert [r["run_id"] for r in client.get("/api/runs").json()] == [run_id]
    view = client.get(f"/api/runs/{run_id}").json()
    (node,) = view["nodes"]
    assert node["memory_mode"] == "seed" and node["transformation"] == "exp/sum rewrite"
    assert node["outcome"] == "not evaluated"
    assert view["best_kernel"].startswith("class ModelNew")
    assert client.get(f"/api/runs/{run_id}/kernel").text.startswith("class ModelNew")
    assert "report" in client.get(f"/api/runs/{run_id}/report").text
    assert client.get(f"/api/runs/{run_id}/files/run.json").status_code == 404
    assert client.get(f"/api/runs/{run_id}/files/..%2Frun.json").status_code == 404
    assert client.get("/api/runs/..").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404


def test_tickets(client):
    made = client.post("/api/tickets", json={"problem": "softmax", "chip": "h100", "budget": 3})
    assert made.status_code == 201 and made.json()["status"] == "queued"
    tid = made.json()["ticket_id"]
    assert client.get(f"/api/tickets/{tid}").json()["chip"] == "h100"
    assert client.post(f"/api/tickets/{tid}/answer", json={"text": "x"}).status_code == 409
    assert client.post(f"/api/tickets/{tid}/cancel").json()["status"] == "cancelled"
    assert client.get("/api/tickets/t-nope").status_code == 404
    assert client.post("/api/tickets", json={"problem": "softmax", "chips": "x"}).status_code == 422


def test_uploads_are_checked_and_stay_in_the_data_dir(client, settings):
    ok = client.post("/api/manuals", data={"chip": "h100"},
                     files={"file": ("../../guide.md", b"# H100\nUse TMA.\n")})
    assert ok.status_code == 201, ok.text
    path = Path(ok.json()["path"])
    assert path.is_relative_to(settings.data_dir.resolve() / "uploads" / "h100")
    assert path.read_bytes() == b"# H100\nUse TMA.\n"
    bad = [
        ({"chip": "h100"}, ("tool.exe", b"MZ..."), 415),
        ({"chip": "h100"}, ("fake.pdf", b"not a pdf"), 415),
        ({"chip": "h100"}, ("bin.txt", b"a\x00b"), 415),
        ({"chip": "h100"}, ("big.md", b"x" * 4096), 413),
        ({"chip": "../etc"}, ("a.md", b"x"), 422),
        ({"chip": "h100"}, ("empty.md", b""), 422),
    ]
    for form, file, code in bad:
        assert client.post("/api/manuals", data=form, files={"file": file}).status_code == code
    pdf = client.post("/api/manuals", data={"chip": "mi300x"},
                      files={"file": ("m.pdf", b"%PDF-1.7\n...")})
    assert pdf.status_code == 201


def test_openapi_schema_lists_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/runs", "/api/runs/{run_id}", "/api/tickets", "/api/chat", "/api/manuals",
              "/api/runs/{run_id}/kernel", "/api/runs/{run_id}/report"):
        assert p in paths, p


def test_chat_streams_a_question_and_keeps_the_session(client):
    res = client.post("/api/chat", json={"message": "make my kernel faster on h100"})
    events = [json.loads(line) for line in res.text.splitlines()]
    assert events[0]["type"] == "session" and events[1]["type"] == "question"
    assert "operator" in events[1]["text"]
    sid = events[0]["session_id"]
    res = client.post("/api/chat", json={"message": "no idea", "session_id": sid})
    events = [json.loads(line) for line in res.text.splitlines()]
    assert events[0]["session_id"] == sid and events[1]["type"] == "error"
