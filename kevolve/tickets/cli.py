"""``kevolve ticket submit|list|show|cancel|answer``. Mount with :func:`register`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from kevolve.console import fail, out, print_json
from kevolve.term import fold_table
from tools.errors import KevolveError

if TYPE_CHECKING:
    from kevolve.tickets.models import Ticket

ticket_app = typer.Typer(help="Queue optimization requests for workers (`kevolve worker`).",
                         no_args_is_help=True)  # fmt: skip

DataDir = Annotated[
    Optional[Path], typer.Option("--data-dir", help="Where runs, tickets and caches live.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _store(data_dir: Path | None):  # noqa: ANN202 - TicketStore
    from kevolve.console import load_settings as _settings
    from kevolve.tickets.store import TicketStore

    return TicketStore.from_settings(_settings(data_dir=data_dir))


def _on_store(data_dir: Path | None, act: Callable[[Any], Ticket]) -> Ticket:
    """``act(store)``'s ticket; a refusal of the store ends the command with its sentence."""
    try:
        return act(_store(data_dir))
    except KevolveError as e:
        fail(str(e))


def _print_status(ticket: Ticket, json_out: bool) -> None:
    """The ticket's id and status, as one JSON object or one line."""
    if json_out:
        print_json({"ticket_id": ticket.ticket_id, "status": ticket.status})
    else:
        out.print(f"{ticket.ticket_id}: {ticket.status}", highlight=False, soft_wrap=True)


@ticket_app.command("submit")
def submit(
    file: Annotated[Optional[Path], typer.Argument(help="A ticket YAML file.")] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="The request in words.")] = None,
    chip: Annotated[Optional[str], typer.Option(help="Chip (with --text).")] = None,
    budget: Annotated[Optional[int], typer.Option(help="Candidates to evaluate.", min=1)] = None,
    priority: Annotated[int, typer.Option(help="Higher runs first.")] = 0,
    requester: Annotated[str, typer.Option(help="Who asks.")] = "",
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Queue a ticket from FILE.yaml or from --text."""
    from kevolve.tickets.models import TicketSpec
    from kevolve.tickets.spec import load_ticket_file

    if (file is None) == (text is None):
        fail("give either a ticket YAML file or --text \"...\" (one of them).")
    try:
        if file is not None:
            spec = load_ticket_file(file)
        else:
            spec = TicketSpec(text=text, chip=chip, budget=budget, priority=priority,
                              requester=requester)  # fmt: skip
        ticket = _store(data_dir).submit(spec)
    except KevolveError as e:
        fail(str(e))
    if json_out:
        print_json({"ticket_id": ticket.ticket_id, "status": ticket.status})
        return
    out.print("ticket queued:", highlight=False)
    out.print(ticket.ticket_id, highlight=False, soft_wrap=True)


@ticket_app.command("list")
def list_tickets(
    status: Annotated[Optional[str], typer.Option(help="Only tickets of this status.")] = None,
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:
    """List tickets, newest first."""
    tickets = _store(data_dir).list(status)
    if json_out:
        print_json([t.view() for t in tickets])
        return
    rows = [(t.ticket_id, t.status, t.spec.problem or t.spec.text, t.spec.chip or "default",
             t.run_id or "") for t in tickets]  # fmt: skip
    out.print(fold_table("tickets", ["ticket", "status", "problem", "chip", "run"], rows))


@ticket_app.command("show")
def show(ticket_id: str, data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """Show a ticket: status, run, best kernel, error or question."""
    view = _on_store(data_dir, lambda store: store.get(ticket_id)).view()
    if json_out:
        print_json(view)
        return
    rows = [(k, v) for k, v in view.items() if v not in (None, "", [])]
    out.print(fold_table(f"ticket {ticket_id}", ["field", "value"], rows))


@ticket_app.command("cancel")
def cancel(ticket_id: str, data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """Cancel a ticket (a running one stops at its next evaluation)."""
    _print_status(_on_store(data_dir, lambda store: store.cancel(ticket_id)), json_out)


@ticket_app.command("answer")
def answer(
    ticket_id: str,
    text: Annotated[str, typer.Argument(help="The answer to the ticket's question.")],
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Answer the question of a ticket waiting in needs-input; it is queued again."""
    _print_status(_on_store(data_dir, lambda store: store.answer(ticket_id, text)), json_out)


def register(app: typer.Typer) -> None:
    """Add ``kevolve ticket ...`` to the main app."""
    app.add_typer(ticket_app, name="ticket")
