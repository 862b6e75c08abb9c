"""The web page in headless Chromium: a request typed into the chat box runs, and the finished
run page renders (search tree, figures, kernel code). Chromium is Debian's package, driven over
the DevTools protocol; the test installs it with apt when it is missing (CI runs as root).

Set KEVOLVE_SCREENSHOT=docs/screenshot.png to refresh the README's screenshot (and
KEVOLVE_SCREENSHOT_REQUEST to type a bigger request than the test's two-candidate one).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import python_path

ROOT = Path(__file__).resolve().parents[2]


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("Chromium is not installed and apt-get is unavailable (or not root) to "
                    "install Debian's chromium package")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        subprocess.run(cmd, capture_output=True, timeout=900, check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("apt-get install chromium did not install a chromium binary")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=None, open_timeout=30).__enter__()
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def js(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_request_through_the_page_renders_the_run(tmp_path):
    browser = chromium()
    port = free_port()
    data = tmp_path / "data"
    env = {**os.environ, "KEVOLVE_DATA_DIR": str(data), "KEVOLVE_CONFIG": str(tmp_path / "n.toml"),
           "KEVOLVE_USE_KNOWLEDGE": "false", "KEVOLVE_CHILDREN_PER_GENERATION": "1",
           "KEVOLVE_MAX_CONCURRENCY": "1", "KEVOLVE_EVAL_SEEDS": "1", "KEVOLVE_EVAL_REP_MS": "5",
           "PYTHONPATH": python_path()}
    env.pop("KEVOLVE_API_TOKEN", None)
    server = subprocess.Popen([sys.executable, "-m", "kevolve.cli", "serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "server.log", "w"), start_new_session=True)
    profile = tmp_path / "chromium-profile"
    chrome = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "--window-size=1200,1400", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/api/health", timeout=5)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                assert time.time() < deadline, "the service did not start"
                time.sleep(0.5)
        port_file = profile / "DevToolsActivePort"
        while not port_file.exists():
            assert chrome.poll() is None and time.time() < deadline, "chromium did not start"
            time.sleep(0.2)
        devtools_port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        cdp = DevTools(page["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        cdp.call("Page.navigate", url=base + "/")
        while cdp.js("document.readyState") != "complete" or not cdp.js("!!document.querySelector('#chat-input')"):
            time.sleep(0.2)
        request = os.environ.get("KEVOLVE_SCREENSHOT_REQUEST",
                                 "optimize relu over 8x16 fp32 for h100 with budget 2")
        cdp.js(f"document.querySelector('#chat-input').value = {json.dumps(request)};"
               "document.querySelector('#chat-send').click(); true")
        deadline = time.time() + 900
        while not cdp.js("document.body.dataset.runRendered || ''"):
            assert time.time() < deadline, cdp.js("document.querySelector('#chat-log').innerText")
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(1)
        run_id = cdp.js("document.body.dataset.runRendered")
        summary = json.loads((data / "runs" / run_id / "summary.json").read_text())
        assert summary["status"] == "finished"
        assert cdp.js("location.hash") == f"#/runs/{run_id}"
        nodes = cdp.js("Array.from(document.querySelectorAll('#tree .node'))"
                       ".map(n => [n.dataset.id, n.dataset.outcome, n.querySelector('title').textContent])")
        assert len(nodes) >= summary["candidates_evaluated"] >= 2
        assert all(outcome in ("accepted", "flagged", "wrong", "failed") for _, outcome, _ in nodes)
        assert all("[" in title and "]" in title for *_, title in nodes)  # memory mode + change
        assert cdp.js("document.querySelector('#tree .node.best') !== null")
        assert "ModelNew" in cdp.js("document.querySelector('#kernel-code').textContent")
        deadline = time.time() + 60
        while not cdp.js("document.querySelector('#fig-speedup').naturalWidth > 0 && "
                         "document.querySelector('#fig-roofline').naturalWidth > 0"):
            assert time.time() < deadline, "the figures did not load"
            time.sleep(0.3)
        shot = base64.b64decode(cdp.call("Page.captureScreenshot", format="png")["data"])
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
        (tmp_path / "screenshot.png").write_bytes(shot)
        if os.environ.get("KEVOLVE_SCREENSHOT"):
            Path(os.environ["KEVOLVE_SCREENSHOT"]).write_bytes(shot)
    finally:
        for proc in (chrome, server):
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
            proc.wait(timeout=30)
