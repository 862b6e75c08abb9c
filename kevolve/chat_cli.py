"""``kevolve ask "..."`` and ``kevolve chat``: requests in plain words.

Both go through the planner's intake graph (``graph.intake``): the text is parsed
(the planner's model if one is configured, else the offline rules); when the op or the chip
is missing or ambiguous the intake asks one question, answered here, and resumes. The run
itself is an ordinary ``kevolve.api.start_run``. Mount with :func:`register`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kevolve.console import (
    RunProgress,
    err,
    fail,
    finish,
    load_settings,
    out,
    stopped,
    summary_table,
)
from kevolve.interrupt import RunInterrupted
from tools.errors import KevolveError

HELP = (
    "Describe what to optimize, e.g. [bold]optimize softmax over 4096x8192 fp32 for MI300[/]; "
    "an op, a KernelBench file path, or PyTorch code pasted between ``` lines. "
    "[bold]quit[/] leaves."
)


def _intake(context: Any, settings: Any) -> Any:
    from agents.planner.intake import intake_context
    from graph.intake import Intake

    return Intake(intake_context(settings, context.models))


def _run(
    request: Any, settings: Any, notes: list[str], intake: Any, context: Any
) -> dict[str, Any]:
    """Plan and run a request; raises KevolveError with one sentence.

    The planner's model calls (made before the run existed) join the run's usage ledger.
    """
    from agents.llm.usage import Ledger, record_fallback
    from kevolve.api import plan_run, start_run

    plan = plan_run(request, settings, context=context)
    planner_calls = list(intake.ctx.calls)
    planner_fallbacks = list(intake.ctx.fallbacks)
    with RunProgress(plan.budget) as progress:

        def on_event(event: str, data: dict[str, Any]) -> None:
            if event == "started" and planner_calls:
                Ledger(settings.runs_dir, data["run_id"], intake.ctx.llm).record_lines(
                    planner_calls
                )
            if event == "started":
                for f in planner_fallbacks:
                    record_fallback(settings.runs_dir, data["run_id"], f["agent"], f["step"], f["reason"])
            progress(event, data)

        for note in notes:
            progress.progress.console.print(f"[yellow]note:[/] {note}")
        return start_run(request, settings, on_event=on_event, plan=plan, context=context)


def _with_usage(summary: dict[str, Any], context: Any) -> dict[str, Any]:
    """The summary with the run's model usage added when it used a model."""
    from agents.llm.usage import usage_summary

    usage = usage_summary(context.runs_dir, summary["run_id"], context.models)
    if usage.calls:
        return {**summary, "llm_usage": {**usage.model_dump(mode="json"), "line": usage.line()}}
    return summary


def _context(settings: Any) -> Any:
    """The run context (models, ports) every request of this command shares."""
    from kevolve.api import run_context

    return run_context(settings)


def ask(
    text: Annotated[
        str,
        typer.Argument(help="The request, e.g. 'optimize softmax over 4096x8192 fp32 for MI300'."),
    ],
    answer: Annotated[
        str | None, typer.Option(help="Answer to the question the planner may ask.")
    ] = None,
    budget: Annotated[
        int | None, typer.Option(help="Default budget when the text names none.", min=1)
    ] = None,
    no_knowledge: Annotated[
        bool, typer.Option("--no-knowledge", help="Skip the knowledge base.")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where runs and caches live.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout.")
    ] = False,
) -> None:
    """Optimize what TEXT asks for (the planner may ask one question)."""
    settings = load_settings(data_dir=data_dir, budget=budget,
                             use_knowledge=False if no_knowledge else None)  # fmt: skip
    context = _context(settings)
    intake = _intake(context, settings)
    try:
        step = intake.start(text)
        if step.question:
            if answer is None and sys.stdin.isatty() and not json_out:
                answer = typer.prompt(step.question, default="", show_default=False)
            if answer is None:
                fail(f"{step.question} (answer it with --answer)")
            step = intake.answer(answer)
    except KevolveError as e:
        fail(str(e))
    assert step.request is not None
    try:
        summary = _run(step.request, settings, step.notes, intake, context)
    except RunInterrupted as e:
        stopped(e)
    except KevolveError as e:
        fail(str(e), code=1)
    summary = _with_usage(summary, context)
    summary["request"] = step.request.model_dump(mode="json")
    if not json_out and "llm_usage" in summary:
        err.print(f"model usage: {summary['llm_usage']['line']}", highlight=False)
    finish(summary, json_out)


def _read_message(prompt: str) -> str | None:
    """One message from stdin: a line, a fenced block of pasted code, or an unfenced function
    up to its first blank line; ``None`` at EOF."""
    out.print(prompt, end="", highlight=False)
    line = sys.stdin.readline()
    if not line:
        return None
    if line.rstrip().endswith(":") and line.lstrip().startswith(("def ", "class ")):
        lines = [line]  # an unfenced function: it runs to the first blank line
        for more in sys.stdin:
            if not more.strip():
                break
            lines.append(more)
        return "".join(lines)
    if not line.strip().startswith("```"):
        return line.strip()
    lines = [line]
    for more in sys.stdin:
        lines.append(more)
        if more.strip().startswith("```"):
            break
    return "".join(lines)


def chat(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where runs and caches live.")
    ] = None,
) -> None:
    """A conversation: describe what to optimize, answer the planner's questions, see results;
    ask about the last run ("why is it slower than torch.compile?")."""
    from kevolve.chat_session import ChatSession

    settings = load_settings(data_dir=data_dir)
    context = _context(settings)
    session = ChatSession(settings, context.models)
    out.print(HELP)
    out.print(f"default chip: {settings.target} (used when a request names none)",
              highlight=False)  # fmt: skip
    while True:
        try:
            message = _read_message("kevolve> ")
        except KeyboardInterrupt:
            out.print("")
            break
        if message is None or message.lower() in ("quit", "exit", ":q", "bye"):
            break
        if not message:
            continue
        if message.lower() == "help":
            out.print(HELP)
            continue
        try:
            reply = session.handle(message)
        except KeyboardInterrupt:
            out.print("request dropped.", highlight=False)
            session.pending = False
            continue
        if reply.kind == "error":
            err.print(f"[bold red]error:[/] {reply.text}", highlight=False)
            continue
        if reply.kind in ("question", "answer"):
            out.print(reply.text, highlight=False, soft_wrap=True)
            continue
        request = reply.request
        out.print(f"optimizing {request.problem} on {request.target} "
                  f"(budget {request.budget})", highlight=False)  # fmt: skip
        try:
            summary = _with_usage(
                _run(request, settings, reply.notes, session.intake, context), context
            )
        except RunInterrupted as e:
            out.print(f"interrupted: {e}", highlight=False, soft_wrap=True)
            session.ran(e.run_id)
            show_finished(settings.runs_dir, e.run_id)
            continue
        except KeyboardInterrupt:
            out.print("interrupted before the run started; nothing to resume.", highlight=False)
            continue
        except KevolveError as e:
            err.print(f"[bold red]error:[/] {e}", highlight=False)
            continue
        session.ran(summary["run_id"])
        summary_table(summary)
        out.print("run id (for `kevolve runs show` / `kevolve export`):", highlight=False)
        out.print(summary["run_id"], highlight=False, soft_wrap=True)
        if "llm_usage" in summary:
            out.print(f"model usage: {summary['llm_usage']['line']}", highlight=False)


def show_finished(runs_dir: Path, run_id: str) -> None:
    """What a stopped run had finished: each evaluated candidate, best accepted first."""
    from rich.table import Table

    from kevolve.runstore import RunStore

    store = RunStore(runs_dir)
    rows = []
    for cid in dict.fromkeys(store.evaluation_log(run_id)):
        result = store.load_result(run_id, cid)
        if result is None:
            continue
        cand = json.loads((store.run_dir(run_id) / "candidates" / f"{cid}.json").read_text())
        rows.append((result.reward, cid, cand.get("language", ""), result))
    if not rows:
        out.print("No evaluation had finished.", highlight=False)
        return
    rows.sort(key=lambda r: (-r[0], r[1]))
    table = Table(title=f"finished in run {run_id}: {len(rows)} evaluation(s)")
    for column in ("candidate", "language", "accepted", "ms", "vs eager", "measured on"):
        table.add_column(column)
    for _, cid, language, res in rows:
        table.add_row(
            cid, language, "yes" if res.accepted else f"no ({res.stage_failed.value if res.stage_failed else 'flags'})",
            "—" if res.runtime_ms is None else f"{res.runtime_ms:.4f}",
            "—" if res.speedup_vs_eager is None else f"{res.speedup_vs_eager:.2f}x",
            res.measured_on or "—",
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``ask`` and ``chat`` commands to the main ``kevolve`` app."""
    app.command("ask")(ask)
    app.command("chat")(chat)


if (
    __name__ == "__main__"
):  # ``python -m kevolve.chat_cli ask "..."`` before the commands are mounted
    _app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True)
    register(_app)
    _app()
