"""The evaluation worker's import closure: tools/ only, none of the orchestrator's stack.

A GPU or Ray node installs torch, triton, numpy, pydantic, pyyaml (and ray); importing the
sandbox worker, the evaluator API, the evaluator seam and the Ray task module must not pull
in LangGraph, LangChain, Chroma, sentence-transformers or FastAPI.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import REPO as ROOT

WORKER_MODULES = [
    "tools.evaluator.worker",
    "tools.evaluator.api",
    "tools.evaluator.backend",
    "tools.evaluator.ray_backend",
]
FORBIDDEN = ["langgraph", "langchain", "langchain_core", "chromadb", "sentence_transformers",
             "fastapi", "kevolve", "graph", "agents", "vectorstore"]

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


def test_worker_modules_import_no_orchestrator_packages():
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *WORKER_MODULES],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
