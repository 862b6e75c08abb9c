"""Checkpoint loading rebuilds only the project's registered types (graph/checkpoint.py).

A checkpoint database is data a tampering process could write; loading it must not construct
classes the project never put there. The checks take a checkpointer factory, so the Postgres
checkpointer runs the same ones (tests/integration/test_postgres_state.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.serde.event_hooks import register_serde_event_listener
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

from agents.memory.schemas import ChildPlan
from agents.planner.schemas import RunRequest
from graph.checkpoint import CHECKPOINT_TYPES, sqlite_checkpointer

BUILT: list[str] = []
"""Notes of every Tampered object constructed (the side effect a hostile class could have)."""


class Tampered(BaseModel):
    """A class no kevolve state holds; constructing it records the construction."""

    note: str

    def model_post_init(self, context: Any) -> None:
        BUILT.append(self.note)


@pytest.fixture
def serde_events() -> Iterator[list[dict[str, Any]]]:
    """LangGraph's allowlist events (allowed-with-warning, blocked) seen during the test."""
    events: list[dict[str, Any]] = []
    unregister = register_serde_event_listener(lambda e: events.append(dict(e)))
    yield events
    unregister()


def write_checkpoint(saver: BaseCheckpointSaver, thread_id: str, values: dict[str, Any]) -> None:
    """Store one checkpoint whose channels hold ``values``, as any writer could."""
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(values)
    versions = {name: 1 for name in values}
    checkpoint["channel_versions"] = dict(versions)
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    saver.put(config, checkpoint, {"source": "input", "step": -1}, versions)  # type: ignore[arg-type]


def check_unregistered_type_stays_data(
    open_writer: Callable[[], BaseCheckpointSaver],
    open_reader: Callable[[], BaseCheckpointSaver],
    events: list[dict[str, Any]],
) -> None:
    """A foreign class in a checkpoint comes back as its fields; registered ones as objects."""
    request = RunRequest(problem="softmax", target="h100", budget=3)
    plan = ChildPlan(parent_id="c0", memory_mode="inherit", language="triton", generation=1,
                     index=0, rng_seed=7)
    write_checkpoint(open_writer(), "tampered", {
        "payload": Tampered(note="ran"), "request": request, "frontier": [plan],
    })  # fmt: skip
    BUILT.clear()
    events.clear()
    loaded = open_reader().get_tuple({"configurable": {"thread_id": "tampered"}})
    assert loaded is not None
    values = loaded.checkpoint["channel_values"]
    assert not isinstance(values["payload"], Tampered) and BUILT == []
    assert values["payload"] == {"note": "ran"}
    assert values["request"] == request and isinstance(values["request"], RunRequest)
    assert values["frontier"] == [plan] and isinstance(values["frontier"][0], ChildPlan)
    refused = {(e["module"], e["name"]) for e in events if e["kind"] == "msgpack_blocked"}
    assert refused == {(__name__, "Tampered")}
    assert not [e for e in events if e["kind"] == "msgpack_unregistered_allowed"]


def permissive_sqlite(path: Path) -> BaseCheckpointSaver:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(conn, serde=JsonPlusSerializer(allowed_msgpack_modules=True))
    saver.setup()
    return saver


def test_sqlite_checkpoint_loading_refuses_unregistered_types(tmp_path, serde_events):
    path = tmp_path / "checkpoints.sqlite"
    check_unregistered_type_stays_data(
        lambda: permissive_sqlite(path), lambda: sqlite_checkpointer(path), serde_events
    )


def test_every_registered_type_is_a_pydantic_model_of_the_project():
    for cls in CHECKPOINT_TYPES:
        assert issubclass(cls, BaseModel), cls
        assert cls.__module__.split(".")[0] in {"graph", "agents", "tools", "kevolve"}, cls
