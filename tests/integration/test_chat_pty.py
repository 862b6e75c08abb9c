"""`kevolve chat` in a pseudo-terminal (80 columns): a request, a clarifying question, a
finished run, and a follow-up question about that run answered from its records."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.support import python_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_chat_request_question_run_followup(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "KEVOLVE_DATA_DIR": str(tmp_path), "KEVOLVE_CONFIG": str(tmp_path / "n.toml"),
           "KEVOLVE_USE_KNOWLEDGE": "false", "KEVOLVE_CHILDREN_PER_GENERATION": "1",
           "KEVOLVE_MAX_CONCURRENCY": "1", "KEVOLVE_EVAL_SEEDS": "1", "KEVOLVE_EVAL_REP_MS": "5",
           "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "80", "LINES": "40",
           "PYTHONPATH": python_path()}
    child = pexpect.spawn(sys.executable, ["-m", "kevolve.cli", "chat"], cwd=str(ROOT), env=env,
                          encoding="utf-8", timeout=900, dimensions=(40, 80))
    child.logfile_read = open(tmp_path / "chat.log", "w")  # noqa: SIM115 - closed at the end
    try:
        child.expect("default chip: cpu")
        child.expect("kevolve> ")
        child.sendline("make my kernel faster on h100")
        child.expect("Which operator should I optimize")
        child.expect("kevolve> ")
        child.sendline("relu over 8x16 fp32 budget 2")
        child.expect("optimizing relu on h100 \\(budget 2\\)")
        child.expect("run id \\(for `kevolve runs show` / `kevolve export`\\):\r\n")
        child.expect(r"(relu-\S+)\r\n")
        run_id = child.match.group(1)
        assert (tmp_path / "runs" / run_id / "summary.json").exists()
        child.expect("kevolve> ")
        child.sendline("why is it slower than torch.compile?")
        child.expect(f"About run {re.escape(run_id)}")
        child.expect("Full report: ")
        child.expect("kevolve> ")
        child.sendline("quit")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
        child.logfile_read.close()
    log = (tmp_path / "chat.log").read_text()
    assert "Traceback" not in log
    # The follow-up was answered, not read as a new request: no second run was started.
    assert log.count("optimizing ") == 1
    assert len(list((tmp_path / "runs").iterdir())) == 1
