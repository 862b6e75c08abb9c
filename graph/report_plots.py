"""The report's figures as PNG files (matplotlib, no display): the search tree, the best
speedup against evaluations spent, and the best kernel on the chip's roofline.

Pure functions of the run's records; the web page shows the same files.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools.records import Candidate, EvalResult, Target
from tools.records.target import peak_key

log = logging.getLogger(__name__)

OUTCOME_COLOURS = {
    "accepted": "#2e7d32",
    "flagged": "#f9a825",
    "wrong": "#c62828",
    "failed": "#757575",
    "not evaluated": "#ffffff",
}
"""Node colour by outcome (the web page uses the same)."""

FIGURES = {
    "search_tree.png": "Search tree",
    "speedup.png": "Best speedup vs evaluations",
    "roofline.png": "Roofline",
}


def outcome(res: EvalResult | None) -> str:
    """accepted | flagged (correct but disqualified) | wrong | failed | not evaluated."""
    if res is None:
        return "not evaluated"
    if res.accepted:
        return "accepted"
    if res.correct:
        return "flagged"
    if res.compiled and res.stage_failed is not None and res.stage_failed.value == "correctness":
        return "wrong"
    return "failed"


def tree_layout(cands: Mapping[str, Candidate]) -> dict[str, tuple[float, float]]:
    """(x, y) of each node: x = generation, y spreads the nodes of a generation evenly."""
    by_gen: dict[int, list[str]] = {}
    for cid, c in sorted(cands.items(), key=lambda kv: (kv[1].generation, kv[0])):
        by_gen.setdefault(c.generation, []).append(cid)
    pos: dict[str, tuple[float, float]] = {}
    for gen, ids in by_gen.items():
        for i, cid in enumerate(ids):
            pos[cid] = (float(gen), (i + 0.5) / len(ids))
    return pos


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_tree(cands: Mapping[str, Candidate], results: Mapping[str, EvalResult],
              best_id: str | None, path: Path) -> Path:  # fmt: skip
    """Nodes coloured by outcome, sized by speedup, labelled with their memory mode."""
    plt = _plt()
    pos = tree_layout(cands)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=90)
    for cid, c in cands.items():
        for parent in c.parent_ids:
            if parent in pos:
                (x0, y0), (x1, y1) = pos[parent], pos[cid]
                ax.plot([x0, x1], [y0, y1], color="#9e9e9e", lw=0.8, zorder=1)
    for cid, c in cands.items():
        res = results.get(cid)
        speed = res.speedup_vs_eager if res and res.speedup_vs_eager else 0.0
        x, y = pos[cid]
        ax.scatter([x], [y], s=60 + 220 * min(speed, 4.0), zorder=2,
                   c=OUTCOME_COLOURS[outcome(res)], edgecolors="black" if cid == best_id else "#424242",
                   linewidths=2.5 if cid == best_id else 0.6)  # fmt: skip
        ax.annotate(f"{c.memory_mode[:4]} {c.language}" + (f"\n{speed:.2f}x" if speed else ""),
                    (x, y), xytext=(6, 4), textcoords="offset points", fontsize=7)  # fmt: skip
    for name, colour in OUTCOME_COLOURS.items():
        ax.scatter([], [], c=colour, edgecolors="#424242", label=name, s=40)
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=5, bbox_to_anchor=(0, 1.12))
    ax.set_xlabel("generation")
    ax.set_yticks([])
    ax.set_xlim(-0.5, max((p[0] for p in pos.values()), default=0) + 1.0)
    ax.set_title("search tree (size: speedup vs eager; thick edge: best)", fontsize=9, pad=22)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def best_so_far(order: Sequence[str], results: Mapping[str, EvalResult]) -> list[float]:
    """Best accepted speedup vs eager after each evaluation, in the order they ran."""
    best, curve = 0.0, []
    for cid in order:
        res = results.get(cid)
        if res is not None and res.accepted and res.speedup_vs_eager:
            best = max(best, res.speedup_vs_eager)
        curve.append(best)
    return curve


def plot_speedup(order: Sequence[str], results: Mapping[str, EvalResult], path: Path) -> Path:
    """Best speedup vs eager (and vs torch.compile) against evaluations spent."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=90)
    xs = list(range(1, len(order) + 1))
    ax.step(xs, best_so_far(order, results), where="post", label="best vs eager")
    comp, best = [], 0.0
    for cid in order:
        res = results.get(cid)
        if res is not None and res.accepted and res.speedup_vs_compile:
            best = max(best, res.speedup_vs_compile)
        comp.append(best)
    ax.step(xs, comp, where="post", label="best vs torch.compile", linestyle="--")
    ax.axhline(1.0, color="#9e9e9e", lw=0.8)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("speedup (x)")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("best speedup vs evaluations spent", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def peak_for(target: Target, dtype: str) -> tuple[str, float]:
    """The chip's peak for the problem's dtype (``fp32`` when it lists none for it), TFLOP/s."""
    key = peak_key(dtype)
    if key not in target.peak_tflops:
        key = "fp32" if "fp32" in target.peak_tflops else min(target.peak_tflops, default="fp32")
    return key, target.peak_tflops.get(key, 1.0)


def roofline_point(res: EvalResult) -> tuple[float, float] | None:
    """(arithmetic intensity in FLOP/byte, achieved GFLOP/s) of a timed result."""
    d = res.diagnostics
    if not res.runtime_ms or not d.bytes_moved:
        return None
    intensity = max(d.flops, 1) / d.bytes_moved
    return intensity, max(d.flops, 1) / (res.runtime_ms * 1e-3) / 1e9


def plot_roofline(target: Target, res: EvalResult | None, dtype: str, path: Path) -> Path:
    """The chip's roofline (bandwidth and the dtype's peak) with the best kernel on it."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=90)
    key, peak = peak_for(target, dtype)
    bw = target.memory_bandwidth_gbps
    ridge = peak * 1e3 / bw
    pt = roofline_point(res) if res is not None else None
    lo = min(ridge / 1e3, pt[0] / 4) if pt else ridge / 1e3
    hi = max(ridge * 1e3, pt[0] * 4) if pt else ridge * 1e3
    xs = [lo, ridge, hi]
    ax.loglog(xs, [min(bw * x, peak * 1e3) for x in xs], color="#37474f",
              label=f"{target.display_name}: {bw:.0f} GB/s, {peak:.1f} TFLOP/s {key}")  # fmt: skip
    if res is not None and pt is not None:
        label = "best kernel" + (" (modeled)" if res.measured_on == "modeled" else "")
        ax.scatter([pt[0]], [pt[1]], c="#2e7d32", s=60, zorder=3, label=label)
        if res.ref_eager_ms and res.runtime_ms is not None:
            ax.scatter([pt[0]], [pt[1] * res.runtime_ms / res.ref_eager_ms], c="#c62828",
                       s=40, marker="s", zorder=3, label="PyTorch eager")  # fmt: skip
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("GFLOP/s")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_title("roofline", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_figures(run_dir: Path, cands: Mapping[str, Candidate],
                  results: Mapping[str, EvalResult], order: Sequence[str], target: Target,
                  dtype: str, best_id: str | None) -> list[str]:  # fmt: skip
    """Write the three figures into ``run_dir``; returns the file names written."""
    run_dir = Path(run_dir)
    order = [cid for cid in order if cid in results] or sorted(results)
    plot_tree(cands, results, best_id, run_dir / "search_tree.png")
    plot_speedup(order, results, run_dir / "speedup.png")
    plot_roofline(target, results.get(best_id) if best_id else None, dtype,
                  run_dir / "roofline.png")  # fmt: skip
    return list(FIGURES)
