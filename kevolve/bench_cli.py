"""``kevolve bench SUITE``: run a benchmark suite and print its scorecard.

Mounted in ``kevolve/cli.py`` with ``register(app)`` (a command of its own: a typer group with
a positional argument would not parse ``bench SUITE --opt``). Progress goes to stderr, one
line per problem; the table (or ``--json``) goes to stdout last.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from kevolve.console import err, fail, out, print_json, setup_logging

DEFAULT_OUT = Path("bench-results")


def _command_line() -> str:
    """The command as typed, from ``bench`` on (for provenance)."""
    args = sys.argv[1:]
    args = args[args.index("bench") :] if "bench" in args else ["bench", *args]
    return shlex.join(["kevolve", *args])


def _fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def _table(doc: Any) -> Table:
    ceil = doc.ceilings
    title = f"kevolve bench {doc.suite} on {doc.target}"
    if ceil is not None:
        title += (
            f" ({ceil.label} on {ceil.device}: copy {ceil.copy_gbps:.0f} GB/s, matmul "
            + ", ".join(f"{k} {v:.3g}" for k, v in ceil.matmul_tflops.items())
            + " TFLOP/s)"
        )
    table = Table(title=title)
    for col in (
        "problem",
        "ok",
        "answer",
        "ms",
        "vs eager",
        "vs compile",
        "achieved",
        "of ceiling",
        "evals",
        "wall s",
    ):
        table.add_column(col, overflow="fold")
    for row in doc.problems.values():
        if row.status == "failed":
            table.add_row(row.name, "[red]failed[/]", row.error[:60], *[""] * 7)
            continue
        achieved = (
            _fmt(row.achieved_tflops, "{:.1f} TFLOP/s")
            if row.kind == "compute"
            else _fmt(row.achieved_gbps, "{:.0f} GB/s")
        )
        answer = "reference" if row.is_reference else row.language
        if row.measured_on == "modeled":
            answer += " (modeled)"
        table.add_row(
            row.name,
            "[green]yes[/]" if row.correct else "[red]no[/]",
            answer if row.correct else (row.error[:60] or "none accepted"),
            _fmt(row.ours_ms, "{:.4f}"),
            _fmt(row.speedup_vs_eager, "{:.2f}x"),
            _fmt(row.speedup_vs_compile, "{:.2f}x"),
            achieved,
            _fmt(row.fraction_of_ceiling, "{:.0%}"),
            str(row.evaluations),
            f"{row.wall_s:.0f}" + ("*" if row.time_limited else ""),
        )
    table.caption = (
        "* stopped by the per-problem time limit"
        if any(r.time_limited for r in doc.problems.values())
        else None
    )
    return table


def markdown_table(doc: Any) -> str:
    """The per-problem table as Markdown (the README's form): ms, speedups, ceiling fraction."""
    lines = [
        "| problem | eager ms | compile ms | ours ms | vs eager | vs compile "
        "| achieved, of ceiling |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in doc.problems.values():
        if row.status == "failed" or not row.correct:
            lines.append(f"| {row.name} | | | not correct: {row.error[:60]} | | | |")
            continue
        ours = (
            "reference kept"
            if row.is_reference
            else f"{_fmt(row.ours_ms, '{:.3f}')} ({row.language})"
        )
        achieved = (
            _fmt(row.achieved_tflops, "{:.1f} TFLOP/s")
            if row.kind == "compute"
            else _fmt(row.achieved_gbps, "{:.0f} GB/s")
        )
        lines.append(
            f"| {row.name} | {_fmt(row.eager_ms, '{:.3f}')} | {_fmt(row.compile_ms, '{:.3f}')} "
            f"| {ours} | {_fmt(row.speedup_vs_eager, '{:.2f}x')} "
            f"| {_fmt(row.speedup_vs_compile, '{:.2f}x')} "
            f"| {achieved}, {_fmt(row.fraction_of_ceiling, '{:.0%}')} |"
        )
    return "\n".join(lines)


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="summary")
    table.add_column("metric")
    table.add_column("value")
    rows = [
        (
            "correct",
            (
                f"{summary['correct']}/{summary['finished']} finished "
                f"({summary['returned_reference']} returned the reference)"
            ),
        ),
        (
            "fast_0 / fast_1 vs eager",
            f"{summary['fast_0_vs_eager']:.0%} / {summary['fast_1_vs_eager']:.0%}",
        ),
        (
            "fast_0 / fast_1 vs compile",
            f"{summary['fast_0_vs_compile']:.0%} / {summary['fast_1_vs_compile']:.0%}",
        ),
        ("geomean speedup vs eager", _fmt(summary["geomean_speedup_vs_eager"], "{:.3f}x")),
        ("geomean speedup vs compile", _compile_headline(summary)),
        ("memory-bound at >= 90% of copy bw", summary["goals"]["memory_bound_at_90pct"]),
        (
            "memory-bound median fraction",
            _fmt(summary["memory_bound"]["median_fraction"], "{:.0%}"),
        ),
        (
            "compute-bound median fraction",
            _fmt(summary["compute_bound"]["median_fraction"], "{:.0%}"),
        ),
        (
            "evaluations / wall time",
            (
                f"{summary['evaluations']} / {summary['wall_s']:.0f} s"
                f" ({summary['time_limited']} time-limited)"
            ),
        ),
    ]
    t = summary["triton"]
    if summary["modeled"] or t["candidates"]:
        rows.append(
            (
                "triton candidates: correct / with resources / spilling",
                f"{t['correct']}/{t['candidates']} / {t['with_resources']} / {t['spilling']}",
            )
        )
    if summary["modeled"]:
        rows.append(("times", "modeled (the target is not on this machine)"))
    for warning in summary.get("warnings", []):
        rows.append(("[yellow]warning[/]", warning))
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def _compile_headline(summary: dict[str, Any]) -> str:
    """The vs-compile geomean; over sound baselines only when some compile times were broken."""
    every = summary["geomean_speedup_vs_compile"]
    sound = summary.get("geomean_speedup_vs_compile_sound_baselines", every)
    if sound == every:
        return _fmt(every, "{:.3f}x")
    return (
        f"{_fmt(sound, '{:.3f}x')} over sound baselines ({_fmt(every, '{:.3f}x')} with the problems "
        "whose torch.compile ran far slower than eager; see the warnings)"
    )


def bench(
    suite: Annotated[
        str, typer.Argument(help=(
            "A folder of problems (a KernelBench level folder, or KernelBench/ for every "
            "level) or a suite name under evals/problems."
        ))
    ],
    target: Annotated[
        Optional[str], typer.Option(help="Chip name or alias (h100, mi300x, cpu).")
    ] = None,
    budget: Annotated[int, typer.Option(help="Evaluations per problem.", min=1)] = 40,
    scale: Annotated[
        float, typer.Option(help="Multiply every declared size (0.01 for a CPU run).")
    ] = 1.0,
    max_mb: Annotated[
        Optional[float],
        typer.Option(
            "--max-mb",
            help=(
                "Then shrink each problem to at most this many MiB of inputs and weights "
                "(KernelBench's module-level size constants too; the row says when a file "
                "cannot be)."
            ),
        ),
    ] = None,
    only: Annotated[
        Optional[str], typer.Option(help="Comma-separated name globs or family names.")
    ] = None,
    time_limit: Annotated[
        Optional[float], typer.Option(
            "--time-limit",
            help="Hard limit in seconds per problem: evaluations in flight are stopped (0: none).",
        )
    ] = 600.0,
    deadline: Annotated[
        Optional[float], typer.Option(
            help="Start no problem after this many seconds (one already started keeps its "
            "whole time limit)."
        )
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for bench.json and resized problems.")
    ] = DEFAULT_OUT,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip problems bench.json already has.")
    ] = False,
    rerun: Annotated[
        bool,
        typer.Option("--rerun", help="With --resume: run the --only problems again anyway."),
    ] = False,
    merge: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--merge",
            help="Run nothing: fold these folders' bench.json into --out's (repeatable).",
        ),
    ] = None,
    language: Annotated[
        Optional[list[str]], typer.Option("--language", "-l", help="Kernel languages (repeatable).")
    ] = None,
    no_knowledge: Annotated[
        bool, typer.Option("--no-knowledge", help="Skip the knowledge base.")
    ] = False,
    data_dir: Annotated[
        Optional[Path],
        typer.Option("--data-dir", help="kevolve data dir for the runs (default: <out>/data)."),
    ] = None,
    record: Annotated[
        bool,
        typer.Option("--record", help="Also write the result with provenance into evals/results/."),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print bench.json on stdout.")] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the table as Markdown on stdout.")
    ] = False,
) -> None:
    """Optimize every problem of SUITE and report correctness, speedups and ceiling fractions."""
    from kevolve.bench import BenchConfig, run_bench
    from kevolve.settings import get_settings
    from tools.errors import KevolveError

    try:
        settings = get_settings(
            data_dir=data_dir or out_dir / "data",
            target=target,
            use_knowledge=False if no_knowledge else None,
        )
        config = BenchConfig(
            suite=suite,
            target=settings.target,
            budget=budget,
            out_dir=out_dir,
            scale=scale,
            max_mb=max_mb,
            only=only,
            time_limit_s=time_limit or None,
            deadline_s=deadline,
            resume=resume,
            rerun=rerun,
            languages=language or [],
            command=_command_line(),
        )
    except ValueError as e:
        fail(f"invalid option: {str(e).splitlines()[0]}")
    setup_logging(settings.log_level)
    try:
        if merge:
            from kevolve.bench import merge_into

            doc = merge_into(out_dir, list(merge))
        else:
            doc = run_bench(config, settings, say=lambda line: err.print(line, highlight=False))
    except KevolveError as e:
        fail(str(e))
    if record:
        from evals.record import record as write_record

        name = f"bench_{doc.suite}_{doc.target}_{doc.updated_at[:10].replace('-', '')}"
        path = write_record(
            name,
            config.command,
            doc.model_dump(mode="json"),
            Path(__file__).resolve().parents[1] / "evals" / "results",
        )
        err.print(f"recorded {path}")
    if json_out:
        print_json(doc.model_dump(mode="json"))
        return
    if markdown:
        print(markdown_table(doc))
        return
    out.print(_table(doc))
    out.print(_summary_table(doc.summary))


def register(app: typer.Typer) -> None:
    """Mount ``kevolve bench`` on the CLI."""
    app.command("bench", no_args_is_help=True)(bench)
