"""The ``kevolve`` command line (typer + rich).

Exit codes: 0 success (``check``: candidate accepted), 1 ``check`` rejected the candidate or a
run failed, 2 bad input (one sentence on stderr, no traceback), 130 stopped with Ctrl-C (one
line naming the run and its resume command).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from kevolve.console import EXIT_INTERRUPTED, fail, out, print_json, run_with_progress
from kevolve.console import finish as _finish
from kevolve.console import load_settings as _settings
from tools.errors import KevolveError

app = typer.Typer(
    name="kevolve",
    help="Write, prove and measure compute kernels for a PyTorch operator on a named chip.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(help="List, inspect and resume optimization runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

DataDir = Annotated[
    Optional[Path], typer.Option("--data-dir", help="Where runs and caches live (~/.kevolve).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


@app.command()
def optimize(
    problem: Annotated[str, typer.Argument(help="A KernelBench problem file or an op name.")],
    target: Annotated[Optional[str], typer.Option(help="Chip name or alias (h100, MI300, cpu).")] = None,
    budget: Annotated[Optional[int], typer.Option(help="Candidates to evaluate.", min=1)] = None,
    language: Annotated[
        Optional[list[str]], typer.Option("--language", "-l", help="triton, cuda, hip, cpp (repeatable).")
    ] = None,
    shape: Annotated[Optional[str], typer.Option(help="Shape for a named op, e.g. 4096x8192.")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="float32, float16 or bfloat16.")] = None,
    no_knowledge: Annotated[bool, typer.Option("--no-knowledge", help="Skip the knowledge base.")] = False,
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Optimize PROBLEM for a chip and print the best kernel's speedup."""
    from graph.state import RunRequest
    from kevolve.api import plan_run, run_context, start_run

    settings = _settings(data_dir=data_dir, target=target, budget=budget,
                         use_knowledge=False if no_knowledge else None)
    request = RunRequest(
        problem=problem, target=settings.target, budget=settings.budget,
        languages=language or [], shape=shape, dtype=dtype,
        use_knowledge=settings.use_knowledge,
    )
    context = run_context(settings)
    try:
        plan = plan_run(request, settings, context=context)
    except KevolveError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted before the run started; nothing to resume", code=EXIT_INTERRUPTED)
    summary = run_with_progress(
        plan.budget,
        lambda progress: start_run(
            request, settings, on_event=progress, plan=plan, context=context
        ),
    )
    _finish(summary, json_out)


@app.command()
def check(
    problem: Annotated[str, typer.Argument(help="A KernelBench problem file or an op name.")],
    candidate_file: Annotated[Path, typer.Argument(help="A file defining class ModelNew.")],
    target: Annotated[Optional[str], typer.Option(help="Chip name or alias.")] = None,
    shape: Annotated[Optional[str], typer.Option(help="Shape for a named op.")] = None,
    dtype: Annotated[Optional[str], typer.Option(help="dtype for a named op.")] = None,
    allow_lower_precision: Annotated[bool, typer.Option(help="Accept fp16/bf16/TF32 math for an fp32 reference.")] = False,
    profile: Annotated[str, typer.Option(help="Extra profiling: 'none' or 'ncu' (Nsight Compute over one forward call; CUDA only).")] = "none",
    data_dir: DataDir = None,
    json_out: JsonFlag = False,
) -> None:
    """Evaluate one ModelNew file against PROBLEM; exit 0 accepted, 1 rejected, 2 bad input."""
    from kevolve.checking import check_file

    settings = _settings(data_dir=data_dir, target=target)
    try:
        result = check_file(problem, candidate_file, settings, shape=shape, dtype=dtype,
                            allow_lower_precision=allow_lower_precision, profile=profile)
    except KevolveError as e:
        fail(str(e))
    view = {
        "accepted": result.accepted,
        "compiled": result.compiled,
        "correct": result.correct,
        "stage_failed": result.stage_failed.value if result.stage_failed else None,
        "error": result.error,
        "runtime_ms": result.runtime_ms,
        "ref_eager_ms": result.ref_eager_ms,
        "ref_compile_ms": result.ref_compile_ms,
        "speedup_vs_eager": result.speedup_vs_eager,
        "speedup_vs_compile": result.speedup_vs_compile,
        "measured_on": result.measured_on,
        "flags": result.flags,
        "max_abs_err": result.max_abs_err,
        "diagnostics": result.diagnostics.model_dump(mode="json"),
    }
    if json_out:
        print_json(view)
    else:
        verdict = "[green]accepted[/]" if result.accepted else "[red]rejected[/]"
        out.print(f"{candidate_file}: {verdict}")
        for key in ("stage_failed", "error", "runtime_ms", "ref_eager_ms", "ref_compile_ms",
                    "speedup_vs_eager", "speedup_vs_compile", "measured_on", "flags"):
            if view[key] not in (None, "", []):
                out.print(f"  {key}: {view[key]}", highlight=False)
    raise typer.Exit(0 if result.accepted else 1)


@runs_app.command("list")
def runs_list(data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """List runs, newest first."""
    from kevolve.runstores import open_run_store

    settings = _settings(data_dir=data_dir)
    infos = open_run_store(settings.runs_dir, settings.database_url).list()
    if json_out:
        print_json([
            {"run_id": i.run_id, "problem": i.problem, "target": i.target, "status": i.status,
             "budget": i.budget, "created_at": i.created_at}
            for i in infos
        ])
        return
    table = Table(title=f"runs in {settings.runs_dir}")
    for col in ("run_id", "problem", "target", "status", "created"):
        table.add_column(col, overflow="fold")  # ids fold onto more lines, never cut
    for i in infos:
        table.add_row(i.run_id, i.problem, i.target, i.status, i.created_at)
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: str, data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """Show a run: its status, best kernel and report."""
    from kevolve.runstores import open_run_store

    settings = _settings(data_dir=data_dir)
    store = open_run_store(settings.runs_dir, settings.database_url)
    try:
        info = store.info(run_id)
    except KevolveError as e:
        fail(str(e))
    summary = store.read_summary(run_id)
    evaluated = len(store.evaluation_log(run_id))
    if json_out:
        print_json({**info.model_dump(mode="json"), "evaluations_run": evaluated, "summary": summary})
        return
    out.print(f"[bold]{info.run_id}[/] {info.problem} on {info.target}: {info.status} "
              f"({evaluated} evaluations run)")
    if info.error:
        out.print(f"error: {info.error}")
    report = store.run_dir(run_id) / "report.md"
    if report.exists():
        from rich.markdown import Markdown

        out.print(Markdown(report.read_text()))


@runs_app.command("resume")
def runs_resume(run_id: str, data_dir: DataDir = None, json_out: JsonFlag = False) -> None:
    """Resume a run from its last checkpoint (finished evaluations are not repeated)."""
    from kevolve.api import resume_run

    settings = _settings(data_dir=data_dir)
    try:
        from kevolve.runstores import open_run_store

        info = open_run_store(settings.runs_dir, settings.database_url).info(run_id)
    except KevolveError as e:
        fail(str(e))
    summary = run_with_progress(
        info.budget, lambda progress: resume_run(run_id, settings, on_event=progress)
    )
    _finish(summary, json_out)


@app.command()
def doctor(json_out: JsonFlag = False) -> None:
    """Report this machine: devices, toolchains, Triton targets, sandbox protections."""
    from kevolve.doctor import collect

    report = collect()
    if json_out:
        print_json(report)
        return
    for section, items in report.items():
        table = Table(title=section)
        table.add_column("item", overflow="fold")
        table.add_column("status", overflow="fold")
        for key, value in items.items():
            table.add_row(key, str(value))
        out.print(table)


def _mount_optional() -> None:
    try:
        from kevolve.kb_cli import kb_app
    except ImportError as e:  # a GPU worker image may lack chromadb
        logging.getLogger(__name__).debug("kb commands unavailable: %s", e)
        return
    app.add_typer(kb_app, name="kb", help="Chip manuals and skills in the knowledge base.")


_mount_optional()

from kevolve.bench_cli import register as _register_bench  # noqa: E402

_register_bench(app)

from kevolve.chat_cli import register as _register_chat  # noqa: E402

_register_chat(app)
from kevolve.data_export import register_data as _register_data

_register_data(app)
from kevolve.surfaces import register_surfaces  # noqa: E402

register_surfaces(app)


if __name__ == "__main__":
    app()
