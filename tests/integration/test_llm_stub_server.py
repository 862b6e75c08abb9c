"""kevolve end to end with a model: a scripted OpenAI-compatible server on 127.0.0.1.

The server (``llm_stub.py``) answers coder calls with a valid Triton softmax ``ModelNew``
(after one prose-only answer, to exercise the retry) and structured calls (planner,
interpreter, curator) with fixed JSON. The CLI runs as a subprocess pointed at it through
``KEVOLVE_LLM_MODEL=openai:<name>`` and ``KEVOLVE_LLM_BASE_URL``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tests.integration.llm_stub import PROSE_ONLY_ANSWER, TRITON_SOFTMAX_ANSWER, StubServer
from tests.support import CLI, REPO, cli_env

MODEL = "openai:kevolve-stub-coder"


def kevolve(args: list[str], data_dir: Path, base_url: str | None, stdin: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:  # fmt: skip
    env = cli_env(data_dir, children_per_generation=2, max_concurrency=1)
    if base_url is not None:
        env.update(KEVOLVE_LLM_MODEL=MODEL, KEVOLVE_LLM_BASE_URL=base_url, OPENAI_API_KEY="dummy")
    return subprocess.run([*CLI, *args], check=False, cwd=REPO, env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def records(run_dir: Path, folder: str) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (run_dir / folder).glob("*.json")}


@pytest.mark.slow
def test_optimize_with_a_model_evaluates_its_candidates(tmp_path):
    with StubServer([PROSE_ONLY_ANSWER, TRITON_SOFTMAX_ANSWER]) as server:
        proc = kevolve(["optimize", "softmax", "--target", "h100", "--budget", "3",
                        "--shape", "32x256", "--json"], tmp_path, server.base_url)  # fmt: skip
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "finished" and summary["target"] == "h100"
    run_dir = tmp_path / "runs" / summary["run_id"]
    cands, results = records(run_dir, "candidates"), records(run_dir, "results")
    by_model = [cid for cid, c in cands.items() if c["author"] == MODEL]
    assert by_model, f"no candidate written by the model: {[c['author'] for c in cands.values()]}"
    assert all(cid in results for cid in by_model)  # evaluated
    assert any(results[cid]["correct"] for cid in by_model)
    # The first answer had no code: one retry with the reason, then the good answer.
    coder_calls = [r for r in requests if not r.get("response_format") and not r.get("tools")]
    assert len(coder_calls) >= 2
    first = coder_calls[0]["messages"]
    assert first[0]["role"] == "system" and "Triton" in first[0]["content"]
    assert "memory bandwidth: 3350 GB/s" in first[1]["content"]
    assert "could not be used" in coder_calls[1]["messages"][-1]["content"]
    # The interpreter's model explained the kernels; tokens were counted for the run.
    assert "stub: the kernel streams" in (run_dir / "report.md").read_text()
    ledger = [json.loads(line) for line in (run_dir / "llm_usage.jsonl").read_text().splitlines()]
    assert {line["agent"] for line in ledger} >= {"coder", "interpreter"}


def test_unreachable_model_is_one_clear_sentence(tmp_path):
    proc = kevolve(["optimize", "softmax", "--target", "h100", "--budget", "3", "--shape", "32x256",
                    "--json"], tmp_path, "http://127.0.0.1:9/v1")  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "unreachable at http://127.0.0.1:9/v1" in errors[0]
    assert "Traceback" not in proc.stderr


def _check_ask(summary: dict, data_dir: Path) -> Path:
    assert summary["status"] == "finished"
    assert summary["target"] == "mi300x" and summary["problem"] == "softmax"
    run_dir = data_dir / "runs" / summary["run_id"]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["request"]["shape"] == "64x256" and run["request"]["dtype"] == "float32"
    assert "(64, 256)" in (run_dir / "problem.py").read_text()
    return run_dir


ASK = ["ask", "optimize softmax over 64x256 fp32 for MI300", "--budget", "3", "--json"]


@pytest.mark.slow
def test_ask_offline_produces_a_run_on_mi300x(tmp_path):
    proc = kevolve(ASK, tmp_path, None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    _check_ask(summary, tmp_path)
    assert "llm_usage" not in summary


@pytest.mark.slow
def test_ask_with_the_stub_model_produces_a_run_on_mi300x(tmp_path):
    with StubServer([TRITON_SOFTMAX_ANSWER]) as server:
        proc = kevolve(ASK, tmp_path, server.base_url)
        names = [
            (r.get("response_format") or {}).get("json_schema", {}).get("name")
            for r in server.requests
        ]
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    run_dir = _check_ask(summary, tmp_path)
    assert names[0] == "RequestAnswer"  # the planner's model read the request
    assert summary["llm_usage"]["by_agent"]["planner"]["calls"] == 1
    assert any(c["author"] == MODEL for c in records(run_dir, "candidates").values())


def test_ask_with_an_ambiguous_chip_asks_and_says_how_to_answer(tmp_path):
    proc = kevolve(["ask", "optimize softmax 64x256 for AMD", "--json"], tmp_path, None)
    assert proc.returncode == 2
    assert "Which chip is it for" in proc.stderr and "--answer" in proc.stderr


@pytest.mark.slow
def test_chat_answers_the_question_and_runs(tmp_path):
    stdin = "optimize softmax over 64x256 fp32 for AMD\nMI300\nquit\n"
    proc = kevolve(["chat"], tmp_path, None, stdin=stdin)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Which chip is it for" in proc.stdout
    runs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/run.json")]
    assert len(runs) == 1 and runs[0]["target"] == "mi300x" and runs[0]["problem"] == "softmax"
    assert runs[0]["status"] == "finished"


@pytest.mark.slow
def test_a_model_that_answers_everything_in_prose_does_not_cost_the_run(tmp_path):
    # Small local models answer JSON requests with prose and a kernel: every structured step
    # must retry once, then fall back to the offline rules, and the run must still finish.
    with StubServer([TRITON_SOFTMAX_ANSWER], structured_as_prose=True) as server:
        proc = kevolve(["optimize", "softmax", "--target", "h100", "--budget", "3",
                        "--shape", "32x256", "--json"], tmp_path, server.base_url)  # fmt: skip
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "finished" and summary["best"]["correct"] is True
    structured = [r for r in requests if r.get("response_format") or r.get("tools")]
    assert structured, "no structured request was made"
    assert any("Reply with only one JSON object" in str(r["messages"][-1]) for r in requests)  # the retry
    run_dir = tmp_path / "runs" / summary["run_id"]
    fallbacks = [json.loads(line) for line in (run_dir / "llm_fallbacks.jsonl").read_text().splitlines()]
    assert fallbacks and {f["agent"] for f in fallbacks} >= {"interpreter"}
    report = (run_dir / "report.md").read_text()
    assert "offline rules" in report and "interpreter" in report


@pytest.mark.slow
def test_a_provider_outage_mid_run_pauses_it_and_resume_finishes_it(tmp_path):
    import time

    env_args = ["optimize", "softmax", "--target", "h100", "--budget", "3", "--shape", "32x256", "--json"]
    server = StubServer([TRITON_SOFTMAX_ANSWER]).__enter__()
    port = server.server_address[1]
    env = cli_env(tmp_path, children_per_generation=2, max_concurrency=1, llm_model=MODEL,
                  llm_base_url=server.base_url) | {"OPENAI_API_KEY": "dummy"}  # fmt: skip
    proc = subprocess.Popen([*CLI, *env_args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not list(tmp_path.glob("runs/*/results/*.json")) and time.monotonic() < deadline:
            time.sleep(0.5)
        server.__exit__()  # the provider goes away once the reference was measured
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-3000:]
    [run_dir] = list((tmp_path / "runs").iterdir())
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "paused", info
    sentence = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(sentence) == 1 and f"kevolve runs resume {run_dir.name}" in sentence[0], err[-2000:]
    done = len((run_dir / "evaluations.log").read_text().splitlines())
    with StubServer([TRITON_SOFTMAX_ANSWER], port=port):  # the provider is back
        resumed = kevolve(["runs", "resume", run_dir.name, "--json"], tmp_path, f"http://127.0.0.1:{port}/v1")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["status"] == "finished"
    log = (run_dir / "evaluations.log").read_text().splitlines()
    assert len(log) >= done and len({json.loads(x)["candidate_id"] for x in log}) == len(log)  # none repeated
