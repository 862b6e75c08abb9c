"""Chat: ``POST /api/chat`` streams one reply as NDJSON events; the session (pending question,
last run) is kept server-side under ``session_id``.

Events: ``{"type": "session", "session_id"}``, ``question``, ``note``, ``started``
(``run_id``), ``evaluated`` (``candidate_id``, ``done``, ``budget``, ``speedup_vs_eager``),
``finished`` (``summary``), ``answer`` (a follow-up answered from the last run), ``error``.
"""

from __future__ import annotations

import json
import queue
import secrets
import threading
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from kevolve.chat_session import ChatSession
from tools.errors import KevolveError


class ChatBody(BaseModel):
    message: str = Field(min_length=1, max_length=100_000)
    session_id: str | None = None


def router(settings: Any) -> APIRouter:
    api = APIRouter(prefix="/api/chat", tags=["chat"])
    sessions: dict[str, ChatSession] = {}
    lock = threading.Lock()

    def session(session_id: str | None) -> tuple[str, ChatSession]:
        with lock:
            if session_id and session_id in sessions:
                return session_id, sessions[session_id]
            sid = secrets.token_hex(8)
            sessions[sid] = ChatSession(settings)
            return sid, sessions[sid]

    @api.post("")
    def chat(body: ChatBody) -> StreamingResponse:
        """One message in, a stream of NDJSON events out."""
        sid, chat_session = session(body.session_id)
        events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=_converse, args=(chat_session, body.message, settings, events),
                         daemon=True).start()  # fmt: skip

        def stream() -> Iterator[bytes]:
            yield (json.dumps({"type": "session", "session_id": sid}) + "\n").encode()
            while (event := events.get()) is not None:
                yield (json.dumps(event, default=str) + "\n").encode()

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    return api


def _converse(chat_session: ChatSession, message: str, settings: Any,
              events: queue.Queue[dict[str, Any] | None]) -> None:  # fmt: skip
    from kevolve.api import plan_run, start_run

    try:
        reply = chat_session.handle(message)
        if reply.kind != "run":
            events.put({"type": reply.kind, "text": reply.text})
            return
        for note in reply.notes:
            events.put({"type": "note", "text": note})
        plan = plan_run(reply.request, settings)
        done = [0]

        def on_event(event: str, data: dict[str, Any]) -> None:
            if event == "started":
                chat_session.ran(data["run_id"])
                events.put({"type": "started", "run_id": data["run_id"], "budget": data["budget"]})
            elif event == "evaluated":
                done[0] += 1
                r = data["result"]
                events.put({"type": "evaluated", "candidate_id": data["candidate_id"],
                            "done": done[0], "budget": plan.budget, "correct": r.correct,
                            "speedup_vs_eager": r.speedup_vs_eager})  # fmt: skip

        summary = start_run(reply.request, settings, on_event=on_event, plan=plan)
        events.put({"type": "finished", "summary": summary})
    except KevolveError as e:
        events.put({"type": "error", "text": str(e)})
    except Exception as e:  # noqa: BLE001 - the stream must end with what went wrong
        events.put({"type": "error", "text": f"{type(e).__name__}: {e}"})
    finally:
        events.put(None)
