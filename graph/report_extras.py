"""What the report adds around the core markdown: figures, the winning transformations, the
spread of each timing, what was modeled vs measured; and ``report.html`` rendered from the
same markdown (same figures, same tables)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from graph.report_plots import FIGURES
from tools.records import Candidate, EvalResult


def lineage(cands: Mapping[str, Candidate], best_id: str | None) -> list[Candidate]:
    """The best candidate and its ancestors, root first (first parent at each step)."""
    chain: list[Candidate] = []
    seen: set[str] = set()
    cid = best_id
    while cid and cid in cands and cid not in seen:
        seen.add(cid)
        chain.append(cands[cid])
        cid = cands[cid].parent_ids[0] if cands[cid].parent_ids else None
    return list(reversed(chain))


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.4f}"


def extra_sections(cands: Mapping[str, Candidate], results: Mapping[str, EvalResult],
                   best_id: str | None, figures: Sequence[str]) -> str:  # fmt: skip
    """Markdown sections appended to the report."""
    lines = ["", "## Figures", ""]
    lines += [f"![{FIGURES.get(f, f)}]({f})" for f in figures]
    lines += ["", "## Winning transformations", ""]
    chain = lineage(cands, best_id)
    if not chain:
        lines.append("No candidate won.")
    for i, c in enumerate(chain, 1):
        res = results.get(c.id)
        gain = f" -> {res.speedup_vs_eager:.2f}x vs eager" if res and res.speedup_vs_eager else ""
        lines.append(f"{i}. `{c.id}` ({c.language}, {c.memory_mode}): "
                     f"{c.transformation or 'initial'}{gain}")  # fmt: skip
    lines += [
        "",
        "## Timing spread",
        "",
        "Median of the timed repetitions and their interquartile range (IQR); a speedup "
        "smaller than the spread of its two timings is not a difference.",
        "",
        "| id | measured on | median ms | IQR ms | IQR % | eager ms | compile ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for cid, res in sorted(results.items()):
        if res.runtime_ms is None:
            continue
        rel = (f"{100 * res.runtime_spread_ms / res.runtime_ms:.1f}%"
               if res.runtime_spread_ms is not None and res.runtime_ms else "—")  # fmt: skip
        lines.append(f"| {cid} | {res.measured_on or '—'} | {_ms(res.runtime_ms)} | "
                     f"{_ms(res.runtime_spread_ms)} | {rel} | {_ms(res.ref_eager_ms)} | "
                     f"{_ms(res.ref_compile_ms)} |")  # fmt: skip
    measured = sorted({r.measured_on for r in results.values()
                       if r.runtime_ms is not None and r.measured_on not in ("", "modeled")})  # fmt: skip
    modeled = [cid for cid, r in results.items() if r.measured_on == "modeled"]
    lines += ["", "## Modeled vs measured", ""]
    if measured:
        lines.append(f"- measured on {', '.join(measured)}: candidate, eager and torch.compile "
                     "times, side by side in the same process.")  # fmt: skip
    if modeled:
        lines.append(f"- modeled ({len(modeled)} candidates): times come from the roofline "
                     "model and the target compile's resources; correctness was checked in "
                     "Triton's interpreter. Measure on the chip before trusting a speedup.")  # fmt: skip
    lines.append("- always measured: correctness (every seed), bytes and FLOPs counted; "
                 "roofline fractions use the chip's datasheet peaks.")  # fmt: skip
    return "\n".join(lines) + "\n"


HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #212121; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }}
img {{ max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }}
code {{ background: #f5f5f5; padding: 0 3px; word-break: break-all; }}
blockquote {{ border-left: 4px solid #f9a825; margin: 0; padding-left: 1em; }}
</style></head><body>
{body}
</body></html>
"""


def render_html(markdown_text: str, title: str) -> str:
    """``report.html``: the report's markdown as a standalone page (figures by file name)."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
    return HTML_PAGE.format(title=html.escape(title), body=body)


def knowledge_json(documents: Sequence[str], refs: Sequence[dict] = ()) -> str:
    """``knowledge.json``: the chip documents the run retrieved (first line, text, and where
    each came from: source, section, page, chip)."""
    docs = []
    for i, d in enumerate(documents):
        if not d:
            continue
        ref = refs[i] if i < len(refs) else {}
        docs.append({"title": d.splitlines()[0][:200], "text": d,
                     **{k: ref.get(k) for k in ("source", "section", "page", "chip")}})  # fmt: skip
    return json.dumps(docs, indent=2, default=str)


def write_extras(run_dir: Path, markdown_text: str, title: str, documents: Sequence[str],
                 refs: Sequence[dict] = ()) -> Path:  # fmt: skip
    """Write report.html and knowledge.json next to report.md; returns the html path."""
    path = Path(run_dir) / "report.html"
    path.write_text(render_html(markdown_text, title), encoding="utf-8")
    (Path(run_dir) / "knowledge.json").write_text(knowledge_json(documents, refs),
                                                  encoding="utf-8")  # fmt: skip
    return path
