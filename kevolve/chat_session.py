"""One conversation, for the terminal chat and the web chat alike.

It remembers its state between messages: a pending clarifying question, and the last run it
made, so a follow-up ("why is it slower than torch.compile?") is answered from that run's
records and report instead of being read as a new request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kevolve.runstores import open_run_store
from tools.errors import KevolveError

_QUESTION_WORDS = re.compile(
    r"^\s*(why|how|what|which|where|is|was|does|did|can|could|explain|tell me|show me)\b", re.I
)


@dataclass
class Reply:
    """What the session says back to one message."""

    kind: str
    """``question`` (the planner asks), ``run`` (a request to run: ``request``), ``answer``
    (a follow-up answered from the last run), ``error``."""
    text: str = ""
    request: Any = None
    notes: list[str] = field(default_factory=list)


class ChatSession:
    """A conversation's memory: the intake's pending question and the last run's id."""

    def __init__(self, settings: Any, llm: Any = None) -> None:
        from agents.planner.intake import intake_context
        from graph.intake import Intake

        self.settings = settings
        self.intake = Intake(intake_context(settings, llm))
        self.pending = False
        self.last_run_id: str | None = None

    def is_followup(self, message: str) -> bool:
        """A question about the last run rather than a new request: there is a last run, the
        message names no problem, and it asks something."""
        if self.last_run_id is None or self.pending:
            return False
        from agents.planner.text import parse_text

        try:
            parsed = parse_text(message)
        except KevolveError:
            return False
        asks = message.strip().endswith("?") or bool(_QUESTION_WORDS.match(message))
        return asks and not parsed.has_problem and not parsed.op_choices

    def handle(self, message: str) -> Reply:
        """Read one message."""
        if self.is_followup(message):
            assert self.last_run_id is not None
            return Reply("answer", answer_from_run(self.settings, self.last_run_id, message))
        try:
            step = self.intake.answer(message) if self.pending else self.intake.start(message)
        except KevolveError as e:
            self.pending = False
            return Reply("error", str(e))
        if step.question:
            self.pending = True
            return Reply("question", step.question)
        self.pending = False
        return Reply("run", request=step.request, notes=list(step.notes))

    def ran(self, run_id: str) -> None:
        """Remember the run this conversation made."""
        self.last_run_id = run_id


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def answer_from_run(settings: Any, run_id: str, message: str) -> str:
    """Answer a question about a run from its stored records and report (no model needed)."""
    store = open_run_store(settings.runs_dir, settings.database_url)
    summary = store.read_summary(run_id) or {}
    best = summary.get("best") or {}
    report = store.run_dir(run_id) / "report.md"
    lines = [f"About run {run_id} ({summary.get('problem', '?')} on {summary.get('target', '?')}):"]
    if not best:
        lines.append(summary.get("message") or "it has no best kernel.")
        return "\n".join(lines + [f"report: {report}"])
    res = store.load_result(run_id, best["candidate_id"])
    where = "modeled, not measured" if best.get("measured_on") == "modeled" else \
        f"measured on {best.get('measured_on')}"  # fmt: skip
    lines.append(
        f"the best kernel {best['candidate_id']} ({best['language']}) runs "
        f"{best.get('runtime_ms') or 0:.4f} ms: {_x(best.get('speedup_vs_eager'))} vs eager, "
        f"{_x(best.get('speedup_vs_compile'))} vs torch.compile ({where})."
    )
    if res is not None:
        vs_compile = res.speedup_vs_compile
        if "compile" in message.lower() or (vs_compile is not None and vs_compile < 1.0):
            if vs_compile is not None and vs_compile < 1.0:
                lines.append(
                    f"It is slower than torch.compile: {res.runtime_ms:.4f} ms against "
                    f"{res.ref_compile_ms:.4f} ms for the compiled reference."
                )
            elif vs_compile is not None:
                lines.append(f"It is not slower than torch.compile ({_x(vs_compile)}).")
        d = res.diagnostics
        if d.bound != "unknown" or d.roofline_fraction is not None:
            frac = f"{d.roofline_fraction:.0%} of the chip's roofline" if \
                d.roofline_fraction is not None else "no roofline fraction"  # fmt: skip
            lines.append(f"The profile says it is {d.bound}-bound at {frac}"
                         + (f" ({d.achieved_gbps:.0f} GB/s)." if d.achieved_gbps else "."))  # fmt: skip
        if best.get("is_reference"):
            lines.append("No generated kernel beat the PyTorch reference, so the best kernel is "
                         "the reference itself.")  # fmt: skip
        for note in d.notes[:3]:
            lines.append(f"note: {note}")
    if report.exists():
        stop = re.search(r"- stopped because: (.+)", report.read_text(encoding="utf-8"))
        if stop:
            lines.append(f"The search stopped because: {stop.group(1)}.")
    lines.append(f"Full report: {report}")
    return "\n".join(lines)


EventSink = Callable[[str, dict[str, Any]], None]
