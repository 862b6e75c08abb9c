"""Ticket records: what was asked (``TicketSpec``) and where it stands (``Ticket``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

TicketStatus = Literal["queued", "running", "done", "failed", "needs-input", "cancelled"]
"""queued -> running -> done | failed | needs-input | cancelled (needs-input -> queued once
answered; a running ticket whose worker is lost goes back to another worker)."""

TERMINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})
"""Statuses a ticket never leaves."""


class TicketSpec(BaseModel):
    """What a ticket asks for (the YAML keys of a ticket file)."""

    model_config = {"extra": "forbid"}

    problem: str | None = None
    """An op name (``softmax``), a KernelBench file path, or pasted PyTorch code."""
    text: str | None = None
    """A request in plain words, read by the planner's intake (may ask one question)."""
    chip: str | None = None
    """Chip name or alias; unset: the default target (the ticket says so)."""
    budget: int | None = Field(default=None, ge=1)
    """Candidates to evaluate; unset: the default budget."""
    priority: int = 0
    """Higher runs first; equal priorities run in submission order."""
    requester: str = ""
    """Who asked (free text: a name, an email, a team)."""
    shape: str | None = None
    dtype: str | None = None
    languages: list[str] = Field(default_factory=list)


class Ticket(BaseModel):
    """One ticket as stored in the queue."""

    ticket_id: str
    status: TicketStatus
    spec: TicketSpec
    priority: int = 0
    requester: str = ""
    run_id: str | None = None
    best: dict[str, Any] | None = None
    """The run summary's ``best`` object once done."""
    error: str = ""
    question: str = ""
    """The planner's question while the ticket needs input."""
    answer: str = ""
    attempts: int = 0
    """How many times a worker claimed it."""
    worker_id: str | None = None
    lease_expires_at: float | None = None
    """Epoch seconds; a running ticket past it is taken over by another worker."""
    not_before: float = 0.0
    """Epoch seconds before which no worker claims it (retry backoff)."""
    created_at: float = 0.0
    updated_at: float = 0.0
    notes: list[str] = Field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The object ``kevolve ticket show --json`` prints."""
        return {
            "ticket_id": self.ticket_id,
            "status": self.status,
            "run_id": self.run_id,
            "best": self.best,
            "error": self.error,
            "question": self.question,
            "priority": self.priority,
            "requester": self.requester,
            "attempts": self.attempts,
            "problem": self.spec.problem or self.spec.text,
            "chip": self.spec.chip,
            "budget": self.spec.budget,
            "notes": self.notes,
        }
