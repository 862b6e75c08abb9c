"""Terminal output shared by the CLI commands: consoles, errors, progress."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

out = Console()
err = Console(stderr=True)


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

    def __enter__(self) -> "RunProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
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
