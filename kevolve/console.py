"""Terminal output shared by the CLI commands: consoles, errors, progress."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kevolve.settings import Settings, get_settings

if TYPE_CHECKING:
    from kevolve.interrupt import RunInterrupted

out = Console()
err = Console(stderr=True)

EXIT_INTERRUPTED = 130
"""Exit status of a command stopped with Ctrl-C (as a shell reports it)."""


def setup_logging(level: str) -> None:
    """Log to stderr through rich, so stdout stays clean for ``--json``."""
    logging.basicConfig(
        level=level.upper(),
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
        force=True,
    )


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one sentence to stderr and exit (2: bad input)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    """One JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def load_settings(**overrides: Any) -> Settings:
    """Settings with the CLI's flags applied; a bad value ends the command with one sentence."""
    try:
        settings = get_settings(**overrides)
    except ValueError as e:
        fail(f"invalid setting: {e}".splitlines()[0])
    setup_logging(settings.log_level)
    return settings


def summary_table(summary: dict[str, Any]) -> None:
    """A run's summary as a table on stdout."""
    best = summary.get("best") or {}
    table = Table(title=f"run {summary['run_id']} — {summary['status']}")
    table.add_column("field", overflow="fold")
    table.add_column("value", overflow="fold")  # ids and paths fold, never cut
    table.add_row("target", summary["target"])
    table.add_row("candidates evaluated", str(summary["candidates_evaluated"]))
    for key in ("candidate_id", "language", "runtime_ms", "speedup_vs_eager",
                "speedup_vs_compile", "measured_on", "path"):
        value = best.get(key)
        if isinstance(value, float):
            value = f"{value:.4f}"
        table.add_row(f"best {key}", str(value))
    table.add_row("report", summary["report"])
    out.print(table)
    out.print(summary.get("message", ""))


def finish(summary: dict[str, Any], json_out: bool) -> None:
    """Print a run's summary (JSON or a table); exit 1 unless the run finished."""
    if json_out:
        print_json(summary)
    else:
        summary_table(summary)
    if summary["status"] != "finished":
        raise typer.Exit(1)


def stopped(e: RunInterrupted) -> NoReturn:
    """One line naming the run and how to resume it; exit 130 (as a shell does for Ctrl-C).

    The run's status is already stored. The process ends at once: interpreter shutdown would
    wait for the stopped graph's worker threads (a model request may wait minutes for its
    answer) and for the libraries' exit hooks, and nothing of the run is written after the
    interrupt anyway.
    """
    err.print(f"interrupted: {e}", highlight=False, soft_wrap=True)
    logging.shutdown()
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(EXIT_INTERRUPTED)


def run_with_progress(budget: int, run: Callable[[RunProgress], dict[str, Any]]) -> dict[str, Any]:
    """``run(progress)`` under a progress bar of ``budget`` evaluations; returns its summary.

    A stopped run ends the process (:func:`stopped`); a run that fails exits 1 with its
    one-sentence error.
    """
    from kevolve.interrupt import RunInterrupted
    from tools.errors import KevolveError

    try:
        with RunProgress(budget) as progress:
            return run(progress)
    except RunInterrupted as e:
        stopped(e)
    except KevolveError as e:
        fail(str(e), code=1)


class RunProgress:
    """A rich progress bar fed by the graph's events (drawn on stderr)."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[best]}"),
            console=err,
            disable=not enabled,
            transient=False,
        )
        self.task = self.progress.add_task("evaluating", total=total, best="")
        self.best = 0.0

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "started" or event == "resumed":
            self.progress.update(self.task, total=data["budget"], completed=data.get("done", 0))
            for note in data.get("notes", []):
                self.progress.console.print(f"[yellow]note:[/] {note}")
        elif event == "evaluated":
            result = data["result"]
            self.progress.advance(self.task)
            if result.accepted and (result.speedup_vs_eager or 0) > self.best:
                self.best = result.speedup_vs_eager or 0.0
                where = " (modeled)" if result.measured_on == "modeled" else ""
                self.progress.update(self.task, best=f"best {self.best:.2f}x vs eager{where}")
        elif event == "evaluating":
            self.progress.update(self.task, description=f"evaluating {data['candidate_id']}")
