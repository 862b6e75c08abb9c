"""One ticket -> one optimization run: resolve the request, start the run, or resume the run
a lost worker left (the checkpoint keeps every finished evaluation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kevolve.tickets.models import Ticket


class TicketStop(RuntimeError):
    """The worker must stop working on this ticket: it was cancelled, its lease was lost, or
    the worker is shutting down. (A RuntimeError so LangGraph's retry policies never retry it.)"""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NeedsInput(Exception):
    """The request is incomplete; the ticket waits for ``kevolve ticket answer``."""

    def __init__(self, question: str) -> None:
        super().__init__(question)
        self.question = question


@dataclass
class Outcome:
    """How a ticket's run ended."""

    ok: bool
    run_id: str | None
    best: dict[str, Any] | None
    error: str = ""
    notes: list[str] = field(default_factory=list)


Runner = Callable[[Ticket, Any, Callable[[str], None], Callable[[], None]], Outcome]
"""``runner(ticket, settings, on_run, check)``: ``on_run(run_id)`` is called once the run
exists; ``check()`` raises ``TicketStop`` when the worker must stop."""


def resolve_request(ticket: Ticket, settings: Any) -> tuple[Any, list[str]]:
    """The ``RunRequest`` a ticket asks for, and notes for the user.

    Raises:
        NeedsInput: The text names no op or an ambiguous chip, and no answer was given yet.
        KevolveError: The request is invalid (one sentence).
    """
    from graph.state import RunRequest

    spec = ticket.spec
    notes: list[str] = []
    if spec.text:
        from agents.planner.intake import intake_context
        from graph.intake import Intake

        intake = Intake(intake_context(settings))
        text = spec.text if not spec.chip else f"{spec.text} for {spec.chip}"
        step = intake.start(text)
        if step.question and ticket.answer:
            step = intake.answer(ticket.answer)
        if step.question:
            raise NeedsInput(step.question)
        assert step.request is not None
        request = step.request
        if spec.budget:
            request = request.model_copy(update={"budget": spec.budget})
        return request, list(step.notes)
    assert spec.problem is not None
    problem = spec.problem
    if "\n" in problem:
        from agents.planner.intake import pasted_problem_file

        problem = str(pasted_problem_file(problem, settings.data_dir / "requests"))
    target = spec.chip
    if not target:
        target = settings.target
        notes.append(f"no chip was named; using the default target {target}")
    return (
        RunRequest(
            problem=problem,
            target=target,
            budget=spec.budget or settings.budget,
            languages=spec.languages,
            shape=spec.shape,
            dtype=spec.dtype,
            use_knowledge=settings.use_knowledge,
        ),
        notes,
    )


def run_ticket(
    ticket: Ticket,
    settings: Any,
    on_run: Callable[[str], None],
    check: Callable[[], None],
) -> Outcome:
    """Drive a ticket's run to its end: resume ``ticket.run_id`` if it has one, else start it.

    ``check`` is called on every progress event of the graph (before and after each
    evaluation), so a cancelled ticket or a lost lease stops the run at the next evaluation
    boundary; the run's checkpoint stays valid and another worker resumes it.
    """
    from kevolve.api import plan_run, resume_run, start_run
    from kevolve.runstores import open_run_store

    def on_event(event: str, data: dict[str, Any]) -> None:
        if event == "started":
            on_run(data["run_id"])
        check()

    notes: list[str] = list(ticket.notes)
    check()
    # the shared store, not this host's folder: on Postgres the lost worker may have run elsewhere
    store = open_run_store(settings.runs_dir, settings.database_url)
    if ticket.run_id and store.has_run(ticket.run_id):
        summary = resume_run(ticket.run_id, settings, on_event=on_event)
    else:
        request, more = resolve_request(ticket, settings)
        notes += more
        plan = plan_run(request, settings)
        notes += [n for n in plan.notes if n not in notes]
        summary = start_run(request, settings, on_event=on_event, plan=plan)
    ok = summary.get("status") == "finished"
    return Outcome(
        ok=ok,
        run_id=summary.get("run_id"),
        best=summary.get("best"),
        error="" if ok else str(summary.get("message", "the run failed")),
        notes=notes,
    )
