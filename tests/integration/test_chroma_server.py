"""The knowledge store against a real Chroma server (``chroma run``) on 127.0.0.1.

Starts the server that ships with chromadb on a free local port, waits (bounded) until its
heartbeat answers, runs the same ``StoreContract`` as the in-memory unit tests through
``HttpClient``, checks that two processes can share the server at once (the point of server
mode), and stops the server by its process id.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.vectorstore import test_vectorstore_store as contract
from vectorstore.embeddings import HashingEmbedding
from vectorstore.ingest import ingest_file
from vectorstore.store import KnowledgeStore

# One worker runs this module: its tests share one server (a module fixture).
pytestmark = pytest.mark.xdist_group("chroma_server")

READY_TIMEOUT_S = 60.0
_SERVER = "import sys; from chromadb.cli.cli import app; sys.argv[0] = 'chroma'; sys.exit(app())"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"chroma run exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"chroma run did not answer within {READY_TIMEOUT_S:.0f} s: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("chroma_server")
    port = _free_port()
    log = root / "server.log"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, "run", "--path", str(root / "db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class TestHttpStore(contract.StoreContract):
    @pytest.fixture
    def store(self, server_url: str, request: pytest.FixtureRequest) -> KnowledgeStore:
        prefix = f"t{abs(hash(request.node.nodeid)) % 10**10}"  # own collections per test
        return KnowledgeStore.http(server_url, embedding_function=HashingEmbedding(), prefix=prefix)


def test_two_processes_share_the_server(server_url: str, tmp_path: Path) -> None:
    here = KnowledgeStore.http(server_url, embedding_function=HashingEmbedding(), prefix="shared")
    guide = contract.write_guide(tmp_path)
    code = (
        "from pathlib import Path\n"
        "from vectorstore.embeddings import HashingEmbedding\n"
        "from vectorstore.ingest import ingest_file\n"
        "from vectorstore.store import KnowledgeStore\n"
        f"s = KnowledgeStore.http({server_url!r}, embedding_function=HashingEmbedding(), prefix='shared')\n"
        f"print(ingest_file(s, Path({str(guide)!r}), 'zx9').chunks)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path.cwd())
    assert done.returncode == 0, done.stderr[-2000:]
    assert here.count() == int(done.stdout.strip()) > 0  # written there, visible here
    ingest_file(here, guide, "zx9")  # and this process writes at the same time: no owner lock
    assert here.count() == int(done.stdout.strip())


def test_from_settings_uses_the_server_when_a_url_is_set(server_url: str, tmp_path: Path) -> None:
    store = KnowledgeStore.from_settings(tmp_path, server_url, embedding_function=HashingEmbedding())
    assert store.count() >= 0
    assert not (tmp_path / "kb").exists()  # no embedded directory was made


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_curators_service_and_runs_share_the_server_named_by_kevolve_chroma_url(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``KEVOLVE_CHROMA_URL`` alone sends each process that touches the knowledge base to the
    server: a curator's ``kevolve kb ingest`` (its own process), the service's manual upload
    and a run's skills; each sees what the others wrote, and no embedded store is made."""
    import chromadb
    from fastapi.testclient import TestClient

    from agents.knowledge import ChromaKnowledge, KnowledgeSettings
    from kevolve.kb_cli import open_store
    from kevolve.service.app import create_app
    from kevolve.settings import get_settings
    from tools.hardware import load_target
    from tools.problems import load_problem
    from vectorstore.store import DOCS_COLLECTION, SKILLS_COLLECTION

    # The settings name no collection prefix: start from empty default collections (another
    # test of this module's server may have made them with a different embedding).
    host, port = server_url.rsplit("//", 1)[1].split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    for name in (DOCS_COLLECTION, SKILLS_COLLECTION):
        if name in [c.name for c in client.list_collections()]:
            client.delete_collection(name)

    data = tmp_path / "data"
    env = {"KEVOLVE_CHROMA_URL": server_url, "KEVOLVE_DATA_DIR": str(data),
           "KEVOLVE_CONFIG": str(tmp_path / "none.toml")}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = get_settings(target="cpu")
    assert settings.chroma_url == server_url

    guide = contract.write_guide(tmp_path)
    curator = subprocess.run(
        [sys.executable, "-m", "kevolve.cli", "kb", "ingest", str(guide), "--chip", "zx9", "--new-chip"],
        capture_output=True, text=True, timeout=400, cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, **env, "ANONYMIZED_TELEMETRY": "False"},
    )
    assert curator.returncode == 0, curator.stderr[-2000:]

    service = TestClient(create_app(settings))
    upload = service.post("/api/manuals", data={"chip": "zx8", "ingest": "true"},
                          files={"file": ("zx8.md", contract.ZX9_GUIDE.replace("ZX9", "ZX8").encode())})  # fmt: skip
    assert upload.status_code == 201, upload.text

    run = ChromaKnowledge(data_dir=settings.data_dir, settings=settings.section(KnowledgeSettings))
    run.remember([contract.make_skill("shared-skill", 1.7)])

    with open_store(settings, shipped=False) as store:  # what a curator or the service reads
        deadline = time.monotonic() + 300
        while {"zx8", "zx9"} - {d.chip for d in store.list_documents()}:
            assert time.monotonic() < deadline, "the service's upload never reached the server"
            time.sleep(0.5)
    found = run.retrieve(load_problem("softmax", shape="8x64"), load_target("h100"))
    assert "shared-skill" in [s.id for s in found.skills]
    assert not (data / "kb").exists()  # no embedded store anywhere
