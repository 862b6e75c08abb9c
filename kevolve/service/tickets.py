"""Tickets: ``/api/tickets``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from kevolve.tickets.models import TicketSpec
from kevolve.tickets.spec import resolve_problem_path
from kevolve.tickets.store import TicketError, TicketStore
from tools.errors import KevolveError


class AnswerBody(BaseModel):
    text: str


def router(settings: Any) -> APIRouter:
    api = APIRouter(prefix="/api/tickets", tags=["tickets"])
    store = TicketStore.from_settings(settings)

    def _get(ticket_id: str):  # noqa: ANN202
        try:
            return store.get(ticket_id)
        except TicketError as e:
            raise HTTPException(404, str(e)) from e

    @api.post("", status_code=201)
    def submit(spec: TicketSpec) -> dict[str, Any]:
        """Queue a ticket (the YAML keys as JSON; a problem path must be absolute here)."""
        try:
            spec = resolve_problem_path(spec, settings.data_dir)
        except KevolveError as e:
            raise HTTPException(422, str(e)) from e
        t = store.submit(spec, notes=["submitted through the web service"])
        return {"ticket_id": t.ticket_id, "status": t.status}

    @api.get("")
    def list_tickets(status: str | None = None) -> list[dict[str, Any]]:
        """Tickets, newest first."""
        return [t.view() for t in store.list(status)]

    @api.get("/{ticket_id}")
    def show(ticket_id: str) -> dict[str, Any]:
        return _get(ticket_id).view()

    @api.post("/{ticket_id}/cancel")
    def cancel(ticket_id: str) -> dict[str, Any]:
        _get(ticket_id)
        try:
            return store.cancel(ticket_id).view()
        except TicketError as e:
            raise HTTPException(409, str(e)) from e

    @api.post("/{ticket_id}/answer")
    def answer(ticket_id: str, body: AnswerBody) -> dict[str, Any]:
        _get(ticket_id)
        try:
            return store.answer(ticket_id, body.text).view()
        except TicketError as e:
            raise HTTPException(409, str(e)) from e

    return api
