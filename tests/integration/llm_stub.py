"""A scripted OpenAI-compatible chat server on 127.0.0.1 for the LLM tests (stdlib only).

``POST /v1/chat/completions`` answers:

- a structured-output request (``response_format`` json_schema, or ``tools``) with the JSON
  registered for that schema's name (or, with ``structured_as_prose``, like any other request);
- any other request with the next scripted coder answer (the last one repeats).

Every request body is kept in ``server.requests`` for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tests.support import TRITON_SOFTMAX

TRITON_SOFTMAX_ANSWER = (
    "Transformation: one program per row, row kept in registers, fp32 math\n```python\n"
    + TRITON_SOFTMAX.read_text()
    + "```\n"
)
"""A coder answer: the few-shot Triton softmax (``tests.support.TRITON_SOFTMAX``), fenced."""

PROSE_ONLY_ANSWER = "I would use one program per row and keep the row in registers."

STRUCTURED = {
    "InsightAnswer": {
        "bottleneck": "memory",
        "explanation": "stub: the kernel streams each row once; it is bandwidth-bound.",
        "next_moves": ["stub move: process two rows per program", "stub move: wider loads"],
    },
    "SkillText": {
        "summary": "stub: keep each row in registers and do max, exp and sum in one pass.",
        "code_excerpt": "x = x - tl.max(x, axis=0)",
    },
    "RequestAnswer": {
        "op": "softmax",
        "op_choices": [],
        "problem_file": None,
        "shape": "64x256",
        "dtype": "float32",
        "target": "MI300",
        "target_choices": [],
        "languages": [],
        "budget": None,
        "allow_lower_precision": False,
        "allow_library_calls": None,
        "allowed_calls": [],
    },
}


class StubServer(ThreadingHTTPServer):
    """The server; ``coder_answers`` is consumed in order, the last answer repeats."""

    daemon_threads = True

    def __init__(
        self,
        coder_answers: list[str],
        structured: dict[str, Any] | None = None,
        structured_as_prose: bool = False,
        port: int = 0,
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.coder_answers = list(coder_answers)
        self.structured = {**STRUCTURED, **(structured or {})}
        self.structured_as_prose = structured_as_prose
        """Answer structured requests too with the next coder answer (prose plus a kernel),
        as small local models do when asked for JSON."""
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def next_coder_answer(self) -> str:
        with self.lock:
            return (
                self.coder_answers.pop(0) if len(self.coder_answers) > 1 else self.coder_answers[0]
            )


def _schema_name(body: dict[str, Any]) -> str | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"]["name"]
    for tool in body.get("tools") or []:
        return tool["function"]["name"]
    return None


class _Handler(BaseHTTPRequestHandler):
    server: StubServer

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append(body)
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        name = _schema_name(body)
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if name is not None and self.server.structured_as_prose:
            message["content"] = self.server.next_coder_answer()
        elif name is not None and body.get("tools"):
            args = json.dumps(self.server.structured[name])
            message["tool_calls"] = [
                {"id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}
            ]
        elif name is not None:
            message["content"] = json.dumps(self.server.structured[name])
        else:
            message["content"] = self.server.next_coder_answer()
        reply = {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
