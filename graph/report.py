"""The ``report`` node: best kernel file, markdown report and the run's summary object."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime

from agents.llm import usage_summary
from agents.llm.parse import UNUSABLE_PREFIX
from agents.llm.usage import read_fallbacks
from graph import search
from graph.confirm import Confirmation, confirm_best
from graph.context import RunContext
from graph.noise import Speedup, passthrough_warning, speedup
from graph.ports import RunRecorder, RunStatus
from graph.report_extras import extra_sections, write_extras
from graph.report_plots import write_figures
from graph.state import RunState
from graph.tree import passthrough_id as _passthrough
from graph.tree import reference_failure
from tools.records import Candidate, EvalResult, Target


def choose_best(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
) -> tuple[str | None, bool]:
    """The kernel to hand back and whether it is just the PyTorch reference.

    A custom kernel is returned only when it is accepted and faster than the reference
    passthrough measured in the same run; otherwise the passthrough itself is the answer.
    Without a measured reference (its evaluation failed, or ran out of memory) nothing is
    returned: no speedup can be believed without the reference measured beside it.
    """
    passthrough = _passthrough(cands, results)
    if passthrough is None or not results[passthrough].accepted:
        return None, False
    kernels = {cid: c for cid, c in cands.items() if c.language != "pytorch"}
    best_kernel = search.best_candidate(kernels, results)
    if best_kernel is not None:
        if results[best_kernel].reward > max(1.0, results[passthrough].reward):
            return best_kernel, False
    return passthrough, True


def best_message(
    best_id: str, cand: Candidate, res: EvalResult, vs_eager: Speedup | None, vs_compile: Speedup | None
) -> str:
    """The result sentence for a generated kernel, each speedup with its interval.

    A speedup whose interval contains 1.0 is called a tie, whatever its median says.
    """
    where = "modeled" if res.measured_on == "modeled" else f"measured on {res.measured_on}"
    if vs_eager is None:
        eager_text = _fmt(res.speedup_vs_eager, "{:.2f}x")
        compile_text = _fmt(res.speedup_vs_compile, "{:.2f}x")
        return (f"Best kernel `{best_id}` ({cand.language}) runs {eager_text} vs eager and "
                f"{compile_text} vs torch.compile ({where}).")  # fmt: skip
    times = f"{vs_eager.samples} measurement{'s' if vs_eager.samples > 1 else ''}"
    text = (
        f"Best kernel `{best_id}` ({cand.language}) runs {vs_eager.text()} vs eager and "
        f"{vs_compile.text() if vs_compile else '—'} vs torch.compile ({where}, median of {times})."
    )
    if vs_eager.tie:
        text += " Against eager it is a tie: the interval contains 1.0, so it is not shown to be faster."
    if vs_compile is not None and vs_compile.tie:
        text += " Against torch.compile it is a tie."
    return text


def change_text(cand: Candidate, parent: Candidate | None) -> str:
    """What changed from the parent, read from the two kernels' own parameters.

    For a child of the same template the change is computed from the recorded parameters
    (``BLOCK 256 -> 512``), so it cannot contradict them; otherwise the coder's description.
    """
    if parent is None or not cand.template or cand.template != parent.template:
        return cand.transformation
    old, new = dict(parent.params), dict(cand.params)
    parts = [
        f"{key} {old.get(key, '-')} -> {new.get(key, '-')}"
        for key in [*new, *(k for k in old if k not in new)]
        if old.get(key, "-") != new.get(key, "-")
    ]
    return ", ".join(parts) if parts else "no parameter change"


def _with_spread(value: float | None, res: EvalResult) -> str:
    """``1.42x ±3%`` from the timing spread (see ``graph.noise``); a bare figure when unknown."""
    if value is None:
        return "—"
    s = speedup(value, res.runtime_ms, res.runtime_spread_ms)
    if s.high == s.low:
        return f"{value:.2f}x"
    return f"{value:.2f}x ±{(s.high - s.value) / s.value:.0%}" + (" (tie)" if s.tie else "")


def _fmt(value: float | None, pattern: str = "{:.4f}") -> str:
    return "—" if value is None else pattern.format(value)


def _resources(res: EvalResult, target: Target) -> str:
    d = res.diagnostics
    if d.registers_per_thread is None and d.shared_mem_bytes is None:
        return "—"
    reg = "VGPRs" if target.vendor == "amd" else "regs"
    smem = "LDS" if target.vendor == "amd" else "smem"
    return (
        f"{d.registers_per_thread} {reg}, {d.shared_mem_bytes} B {smem}, "
        f"{d.spill_bytes or 0} B spills"
    )


def render_report(
    state: RunState, best_id: str | None, is_reference: bool, message: str, prompted: bool = False
) -> str:
    """The markdown report of a run (``prompted``: a model's prompts quoted the chip knowledge)."""
    problem, target = state.problem_record(), state.target_record()
    cands, results = state.candidate_records(), state.result_records()
    lines = [
        f"# kevolve run {state.run_id}",
        "",
        f"- problem: **{problem.name}** ({problem.op_family}, {problem.dtype}, shapes {problem.shapes})",
        f"- target: **{target.display_name}** (`{target.name}`, {target.arch})",
        f"- languages: {', '.join(state.languages) or 'none'}",
        f"- candidates evaluated: {len(results)} of a budget of {state.budget}",
        f"- stopped because: {state.stop_reason or 'finished'}",
        "",
        "## Result",
        "",
        message,
        "",
    ]
    if best_id and best_id in results:
        res, cand = results[best_id], cands[best_id]
        lines += [
            f"- best: `{best_id}` ({cand.language}, {cand.template or 'free-form'})",
            *(
                ["- origin: inductor export -- torch.compile's own kernels are the best found"]
                if cand.author == "inductor export"
                else []
            ),
            f"- runtime: {_fmt(res.runtime_ms)} ms; reference eager {_fmt(res.ref_eager_ms)} ms; "
            f"torch.compile {_fmt(res.ref_compile_ms)} ms",
            f"- speedup vs eager {_fmt(res.speedup_vs_eager, '{:.2f}x')}, "
            f"vs torch.compile {_fmt(res.speedup_vs_compile, '{:.2f}x')}",
            f"- measured on: **{res.measured_on}**",
            f"- target compile resources: {_resources(res, target)}",
            f"- bound: {res.diagnostics.bound}; roofline fraction "
            f"{_fmt(res.diagnostics.roofline_fraction, '{:.0%}')}",
            "",
        ]
    probe = next(
        (results[cid].speedup_vs_eager for cid, c in sorted(cands.items())
         if c.language == "pytorch" and cid in results and results[cid].measured_on != "modeled"),
        None,
    )  # fmt: skip
    if warning := passthrough_warning(probe):
        lines += [f"> Warning: {warning}.", ""]
    if any(r.measured_on == "modeled" for r in results.values()):
        lines += [
            "> Times marked `modeled` were not measured: this machine does not have the target "
            "chip. They come from a roofline model fed with the target compile's register and "
            "shared-memory use, and only rank candidates; measure on the chip before trusting "
            "a speedup.",
            "",
        ]
    lines += [
        "## Search tree",
        "",
        "| id | parent | mode | lang | template | change | correct | ms | vs eager | vs compile "
        "| measured on | resources | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cid, cand in sorted(cands.items(), key=lambda kv: (kv[1].generation, kv[0])):
        found = results.get(cid)
        if found is None:
            lines.append(f"| {cid} | {','.join(cand.parent_ids)} | {cand.memory_mode} | "
                         f"{cand.language} | {cand.template} | {cand.transformation} | not evaluated "
                         "| | | | | | |")
            continue
        res = found
        note = res.stage_failed.value if res.stage_failed else ", ".join(res.flags)
        insight = state.insights.get(cid, {}).get("explanation", "")
        change = change_text(cand, cands.get(cand.parent_ids[0]) if cand.parent_ids else None)
        lines.append(
            f"| {cid} | {','.join(cand.parent_ids) or '—'} | {cand.memory_mode} | {cand.language} "
            f"| {cand.template or '—'} | {change.replace('|', '/')} "
            f"| {'yes' if res.correct else 'no'} | {_fmt(res.runtime_ms)} "
            f"| {_with_spread(res.speedup_vs_eager, res)} | {_with_spread(res.speedup_vs_compile, res)} "
            f"| {res.measured_on or '—'} | {_resources(res, target)} "
            f"| {(note + ' ' + insight).strip().replace('|', '/')[:160]} |"
        )
    if state.new_skills:
        lines += ["", "## Skills learned", ""]
        lines += [f"- {s['summary']} (gain {s['gain']:.2f}x)" for s in state.new_skills]
    lines += knowledge_lines(state, prompted)
    return "\n".join(lines) + "\n"


def fallback_section(fallbacks: list[dict[str, str]], state: RunState) -> str:
    """Which steps the offline rules did because a model's answer was unusable, and why.

    Coder answers that could not be used are children recorded as failed (their change text
    starts with ``unusable model answer``); they are counted here too.
    """
    unusable = [c for c in state.candidate_records().values() if c.transformation.startswith(UNUSABLE_PREFIX)]
    if not fallbacks and not unusable:
        return ""
    lines = ["", "## Steps done by the offline rules", ""]
    lines += [f"- {f['agent']} ({f['step']}): {f['reason']}" for f in fallbacks]
    lines += [f"- coder: child `{c.id}` recorded as failed: {c.transformation[len(UNUSABLE_PREFIX):][:200]}"
              for c in unusable]  # fmt: skip
    return "\n".join(lines) + "\n"


def _figures_and_extras(store: RunRecorder, state: RunState, best_id: str | None) -> str:
    """Write the report's figures; the markdown sections that show them and the rest."""
    cands, results = state.candidate_records(), state.result_records()
    try:
        figures = write_figures(
            store.run_dir(state.run_id), cands, results, store.evaluation_log(state.run_id),
            state.target_record(), state.problem_record().dtype, best_id,
        )
    except Exception as e:  # noqa: BLE001 - a figure must never cost the run its report
        logging.getLogger(__name__).warning("report figures failed: %s", e, exc_info=True)
        return extra_sections(cands, results, best_id, []) + \
            f"\n> The figures could not be drawn: {type(e).__name__}: {e}\n"  # fmt: skip
    return extra_sections(cands, results, best_id, figures)


def knowledge_lines(state: RunState, prompted: bool) -> list[str]:
    """The report's list of retrieved manual chunks: source, section and page of each.

    Args:
        state: The run (``document_refs`` says where each retrieved excerpt came from).
        prompted: Whether a model's prompt quoted them (an LLM coder ran); an offline run
            retrieves them but no prompt uses them, and the report says so.
    """
    if not state.documents:
        return []
    how = (
        "quoted into the coders' model prompts"
        if prompted
        else "retrieved, but no model prompt used them (the offline coders do not read manuals)"
    )
    lines = ["", "## Chip knowledge in the prompts", "", f"{len(state.documents)} chunk(s), {how}:", ""]
    if not state.document_refs:  # a run checkpointed before references were kept
        return lines + ["- (sources not recorded for this run)"]
    lines += ["| source | section | page | chip |", "|---|---|---|---|"]
    for ref in state.document_refs:
        cells = [ref.get("source_path") or ref.get("source", ""), ref.get("section") or "—",
                 str(ref.get("page") or "—"), ref.get("chip", "")]  # fmt: skip
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return lines


def report(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Re-measure the winner, then write best_kernel.py, report.md and summary.json."""
    ctx = runtime.context
    store = ctx.recorder
    cands, results = state.candidate_records(), state.result_records()
    best_id, is_reference = choose_best(cands, results)
    confirmation: Confirmation | None = None
    dropped = ""
    if best_id is not None and not is_reference:
        confirmation = confirm_best(
            state.run_id, cands[best_id], results[best_id], state.problem_record(),
            state.target_record(), ctx, state.request.allow_lower_precision,
        )  # fmt: skip
        if not confirmation.accepted:
            failed = confirmation.failed
            stage = failed.stage_failed.value if failed and failed.stage_failed else "flags"
            dropped = (
                f"The search's best, `{best_id}`, failed when measured again ({stage}: "
                f"{(failed.error if failed else '')[:160]}); it is not reported as the winner. "
            )
            rest = {cid: r for cid, r in results.items() if cid != best_id}
            best_id, is_reference = choose_best(cands, rest)
            confirmation = None
    best: dict[str, Any] | None = None
    status: RunStatus
    if best_id is None:
        status = "failed"
        why = reference_failure(cands, results)
        message = dropped + (
            f"Stopped: {why}; without the reference measured no candidate is returned."
            if why
            else "No candidate was correct, not even the PyTorch passthrough; see the tree below."
        )
    else:
        status = "finished"
        res = results[best_id]
        path = store.write_text(state.run_id, "best_kernel.py", cands[best_id].source)
        vs_eager = confirmation.vs("eager") if confirmation else None
        vs_compile = confirmation.vs("compile") if confirmation else None
        if is_reference:
            message = dropped + (
                "No generated kernel beat the PyTorch reference on this target; the best kernel "
                "is the reference itself (a plain PyTorch passthrough)."
            )
        else:
            message = dropped + best_message(best_id, cands[best_id], res, vs_eager, vs_compile)
        best = {
            "candidate_id": best_id,
            "language": cands[best_id].language,
            "path": str(path),
            "correct": res.correct,
            "runtime_ms": confirmation.runtime_ms if confirmation else res.runtime_ms,
            "speedup_vs_eager": vs_eager.value if vs_eager else res.speedup_vs_eager,
            "speedup_vs_compile": vs_compile.value if vs_compile else res.speedup_vs_compile,
            "measured_on": res.measured_on,
            "is_reference": is_reference,
        }
        if vs_eager is not None:
            best["speedup_vs_eager_interval"] = [vs_eager.low, vs_eager.high]
            best["verdict_vs_eager"] = vs_eager.verdict
            best["measurements"] = vs_eager.samples
        if vs_compile is not None:
            best["speedup_vs_compile_interval"] = [vs_compile.low, vs_compile.high]
            best["verdict_vs_compile"] = vs_compile.verdict
    usage = usage_summary(ctx.runs_dir, state.run_id, ctx.models)
    prompted = usage.by_agent.get("coder", None) is not None and usage.by_agent["coder"].calls > 0
    text = render_report(state, best_id, is_reference, message, prompted)
    if usage.calls:
        text += f"\n## Model usage\n\n{usage.line()}\n"
    text += fallback_section(read_fallbacks(ctx.runs_dir, state.run_id), state)
    text += _figures_and_extras(store, state, best_id)
    report_path = store.write_text(state.run_id, "report.md", text)
    write_extras(store.run_dir(state.run_id), text, f"kevolve run {state.run_id}",
                 state.documents, state.document_refs)  # fmt: skip
    summary = {
        "run_id": state.run_id,
        "status": status,
        "target": state.target_record().name,
        "problem": state.problem_record().name,
        "candidates_evaluated": len(results),
        "report": str(report_path),
        "best": best,
        "message": message,
        "stop_reason": state.stop_reason,
    }
    if usage.calls:
        # Offline runs have nothing to account for; their summary stays as documented.
        summary["llm_usage"] = usage.model_dump(mode="json")
    store.write_text(state.run_id, "summary.json", json.dumps(summary, indent=2))
    store.set_status(state.run_id, status)
    return {"summary": summary}
