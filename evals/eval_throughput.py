"""Evaluator throughput: candidates fully evaluated per minute for one mid-size softmax.

Evaluates ``--n`` honest PyTorch softmax candidates of one problem one after another through
``tools.evaluator.evaluate`` with the default options (three seeds, timing against eager and
torch.compile, recheck), as a search does within one run, and reads each worker's progress
file for where the time went. Usage (CPU)::

    python -m evals.eval_throughput --n 4 --label after

It runs against whatever ``tools`` package is first on ``PYTHONPATH``, so an older checkout
is measured with ``PYTHONPATH=<old checkout> python <this file> --label before``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

PROBLEM = '''import torch
from torch import nn

ROWS, COLS = {rows}, {cols}


class Model(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=-1)


def get_inputs():
    return [torch.randn(ROWS, COLS)]


def get_init_inputs():
    return []
'''

CANDIDATE = '''import torch
from torch import nn


class ModelNew(nn.Module):
    """Softmax as exp / sum with max subtraction (variant {i})."""

    def forward(self, x):
        shifted = x - x.amax(dim=-1, keepdim=True)
        e = shifted.exp()
        return e / e.sum(dim=-1, keepdim=True)
'''


def _stages(workdir: Path) -> dict[str, float]:
    """Seconds from each progress line to the next (the last stage until the result)."""
    lines = [json.loads(x) for x in (workdir / "progress.jsonl").read_text().splitlines() if x]
    result = workdir / "result.json"
    end = result.stat().st_mtime if result.exists() else lines[-1]["t"]
    out: dict[str, float] = {}
    for a, b in zip(lines, [*lines[1:], {"t": end}]):
        out[a["stage"]] = out.get(a["stage"], 0.0) + b["t"] - a["t"]
    return out


def main(argv: list[str]) -> int:
    """Run the measurement and write ``evals/results/eval_throughput_cpu_<label>.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4, help="candidates to evaluate")
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--label", required=True, help="before / after, in the result's name")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)

    import tools.evaluator as ev
    from evals.record import record
    from tools.records import Candidate, Problem, Target

    cpu = Target(name="cpu", display_name="host CPU", vendor="x86", kind="cpu", arch="x86_64",
                 compute_units=2, memory_bandwidth_gbps=50, languages=["cpp"])  # fmt: skip
    problem = Problem(name="softmax_mid", source=PROBLEM.format(rows=args.rows, cols=args.cols))
    work = Path(tempfile.mkdtemp(prefix="kevolve-throughput-"))
    # a private device lock and admission ledger: other evaluations on this machine do not
    # hold this measurement up (older checkouts ignore the ledger option)
    opts = ev.EvalOptions(work_dir=str(work / "work"), keep_work_dir=True,
                          timing_lock=str(work / "timing.lock"),
                          admission_ledger=str(work / "memory.json"))  # fmt: skip
    rows = []
    start = time.monotonic()
    for i in range(args.n):
        cand = Candidate(id=f"cand{i:02d}", language="pytorch", source=CANDIDATE.format(i=i))
        t0 = time.monotonic()
        r = ev.evaluate(problem, cand, cpu, opts)
        wall = time.monotonic() - t0
        kept = sorted((work / "work").glob(f"cand-{cand.id}-*"))
        stages = _stages(kept[-1]) if kept else {}
        rows.append({"candidate": cand.id, "accepted": r.accepted, "wall_s": round(wall, 2),
                     "stages_s": {k: round(v, 2) for k, v in stages.items()},
                     "speedup_vs_eager": r.speedup_vs_eager, "error": r.error[:200]})  # fmt: skip
        print(f"{cand.id}: accepted={r.accepted} {wall:.1f} s {rows[-1]['stages_s']}", flush=True)
    total = time.monotonic() - start
    per_min = 60.0 * args.n / total
    payload = {
        "label": args.label,
        "target": "cpu",
        "problem": f"softmax {args.rows}x{args.cols} fp32 ({args.rows * args.cols * 4 >> 20} MiB)",
        "candidates": args.n,
        "total_s": round(total, 2),
        "candidates_per_minute": round(per_min, 3),
        "evaluations": rows,
    }
    command = "python -m evals.eval_throughput " + shlex.join(argv)
    path = record(f"eval_throughput_cpu_{args.label}", command, payload, Path(args.out))
    print(f"{per_min:.2f} candidates per minute ({total:.1f} s for {args.n}); wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
