"""Plain-text views of records for prompts: a result's outcome line and its full report."""

from __future__ import annotations

from typing import Any

from tools.records import EvalResult


def outcome(result: EvalResult | None) -> str:
    """One line: how a candidate fared."""
    if result is None:
        return "not evaluated"
    if result.stage_failed is not None:
        first = (result.error.strip().splitlines() or [""])[-1][:160]
        return f"failed at {result.stage_failed.value}: {first}"
    if not result.accepted:
        return f"correct but flagged ({', '.join(result.flags)})"
    speed = f"{result.speedup_vs_eager:.2f}x vs eager" if result.speedup_vs_eager else "no speedup"
    where = " (modeled)" if result.measured_on == "modeled" else ""
    ms = f"{result.runtime_ms:.4f} ms, " if result.runtime_ms is not None else ""
    return f"correct, {ms}{speed}{where}, {result.diagnostics.bound}-bound"


def result_report(result: EvalResult | None) -> str:
    """Markdown bullets of an evaluation: stages, times, diagnostics, flags."""
    if result is None:
        return "- not evaluated"
    d = result.diagnostics
    rows: list[tuple[str, Any]] = [
        ("outcome", outcome(result)),
        ("runtime", f"{result.runtime_ms:.4f} ms" if result.runtime_ms is not None else None),
        ("reference eager / torch.compile",
         f"{result.ref_eager_ms} ms / {result.ref_compile_ms} ms" if result.ref_eager_ms else None),
        ("measured on", result.measured_on or None),
        ("max abs / rel error", f"{result.max_abs_err:.3g} / {result.max_rel_err:.3g}"
         if result.max_abs_err is not None and result.max_rel_err is not None else None),
        ("bound", d.bound),
        ("roofline fraction", f"{d.roofline_fraction:.0%}" if d.roofline_fraction is not None else None),
        ("achieved", f"{d.achieved_gbps:.0f} GB/s" if d.achieved_gbps is not None else None),
        ("bytes moved (minimum)", d.bytes_moved or None),
        ("kernel launches", d.kernel_launches or None),
        ("registers per thread", d.registers_per_thread),
        ("spilled bytes", d.spill_bytes),
        ("shared memory per block", f"{d.shared_mem_bytes} B" if d.shared_mem_bytes is not None else None),
        ("occupancy", f"{d.occupancy:.0%}" if d.occupancy is not None else None),
        ("compiled for", d.compiled_for or None),
        ("flags", ", ".join(result.flags) or None),
        ("notes", "; ".join(d.notes) or None),
    ]  # fmt: skip
    return "\n".join(f"- {label}: {value}" for label, value in rows if value is not None)
