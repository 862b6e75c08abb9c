"""The ``report`` node: best kernel file, markdown report and the run's summary object."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime

from agents.llm import usage_summary
from graph import search
from graph.context import RunContext
from graph.ports import RunStatus
from graph.state import RunState
from tools.records import Candidate, EvalResult, Target


def choose_best(
    cands: Mapping[str, Candidate], results: Mapping[str, EvalResult]
) -> tuple[str | None, bool]:
    """The kernel to hand back and whether it is just the PyTorch reference.

    A custom kernel is returned only when it is accepted and faster than the reference
    passthrough measured in the same run; otherwise the passthrough itself is the answer.
    """
    passthrough = next(
        (cid for cid, c in sorted(cands.items()) if c.language == "pytorch" and cid in results),
        None,
    )
    kernels = {cid: c for cid, c in cands.items() if c.language != "pytorch"}
    best_kernel = search.best_candidate(kernels, results)
    if best_kernel is not None:
        ref = results[passthrough].reward if passthrough and results[passthrough].accepted else 1.0
        if results[best_kernel].reward > max(1.0, ref):
            return best_kernel, False
    if passthrough is not None and results[passthrough].accepted:
        return passthrough, True
    return best_kernel, False


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
        lines.append(
            f"| {cid} | {','.join(cand.parent_ids) or '—'} | {cand.memory_mode} | {cand.language} "
            f"| {cand.template or '—'} | {cand.transformation.replace('|', '/')} "
            f"| {'yes' if res.correct else 'no'} | {_fmt(res.runtime_ms)} "
            f"| {_fmt(res.speedup_vs_eager, '{:.2f}x')} | {_fmt(res.speedup_vs_compile, '{:.2f}x')} "
            f"| {res.measured_on or '—'} | {_resources(res, target)} "
            f"| {(note + ' ' + insight).strip().replace('|', '/')[:160]} |"
        )
    if state.new_skills:
        lines += ["", "## Skills learned", ""]
        lines += [f"- {s['summary']} (gain {s['gain']:.2f}x)" for s in state.new_skills]
    lines += knowledge_lines(state, prompted)
    return "\n".join(lines) + "\n"


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
    """Write best_kernel.py, report.md and summary.json; mark the run finished."""
    store = runtime.context.recorder
    cands, results = state.candidate_records(), state.result_records()
    best_id, is_reference = choose_best(cands, results)
    best: dict[str, Any] | None = None
    status: RunStatus
    if best_id is None:
        status = "failed"
        message = "No candidate was correct, not even the PyTorch passthrough; see the tree below."
    else:
        status = "finished"
        res = results[best_id]
        path = store.write_text(state.run_id, "best_kernel.py", cands[best_id].source)
        if is_reference:
            message = (
                "No generated kernel beat the PyTorch reference on this target; the best kernel "
                "is the reference itself (a plain PyTorch passthrough)."
            )
        else:
            where = "modeled" if res.measured_on == "modeled" else f"measured on {res.measured_on}"
            message = (
                f"Best kernel `{best_id}` ({cands[best_id].language}) runs "
                f"{res.speedup_vs_eager:.2f}x vs eager and "
                f"{_fmt(res.speedup_vs_compile, '{:.2f}x')} vs torch.compile ({where})."
            )
        best = {
            "candidate_id": best_id,
            "language": cands[best_id].language,
            "path": str(path),
            "correct": res.correct,
            "runtime_ms": res.runtime_ms,
            "speedup_vs_eager": res.speedup_vs_eager,
            "speedup_vs_compile": res.speedup_vs_compile,
            "measured_on": res.measured_on,
            "is_reference": is_reference,
        }
    usage = usage_summary(runtime.context.runs_dir, state.run_id, runtime.context.models)
    prompted = usage.by_agent.get("coder", None) is not None and usage.by_agent["coder"].calls > 0
    text = render_report(state, best_id, is_reference, message, prompted)
    if usage.calls:
        text += f"\n## Model usage\n\n{usage.line()}\n"
    report_path = store.write_text(state.run_id, "report.md", text)
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
