"""One batched GPU session: GPU tests, an optimize run measured on the chip, and the
evaluator's own throughput and timing noise. Prints a short table last.

    python evals/gpu_session.py --out $OUT [--budget 12] [--skip-tests]

Writes ``<out>/gpu_tests.json``, ``<out>/optimize_<chip>.json`` and
``<out>/evaluator_bench_<chip>.json`` (copy them into ``evals/results/``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evals.record import record  # noqa: E402


def run(cmd: list[str], timeout: float, env: dict[str, str]) -> subprocess.CompletedProcess:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=int, default=12)
    ap.add_argument("--problem", default="softmax")
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--noise-reps", type=int, default=10)
    ap.add_argument("--skip-optimize", action="store_true")
    ap.add_argument("--tests", nargs="*", default=["tests/gpu", "tests/adversarial"])
    ap.add_argument("--kernel", type=Path, help="ModelNew file for the evaluator bench")
    args = ap.parse_args()
    from tools.hardware import detect_local_gpu

    chip = detect_local_gpu()
    if chip is None:
        raise SystemExit("no registry GPU visible here")
    data = args.out / "data"
    env = {**os.environ, "KEVOLVE_DATA_DIR": str(data), "KEVOLVE_USE_KNOWLEDGE": "false",
           "KEVOLVE_CONFIG": str(data / "none.toml"), "PYTHONUNBUFFERED": "1"}
    table: list[tuple[str, str]] = []

    if not args.skip_tests:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.tests,
               "--timeout", "400"]
        t0 = time.time()
        proc = run(cmd, 900, env)
        tail = (proc.stdout + proc.stderr)[-4000:]
        record("gpu_tests", " ".join(cmd), {"returncode": proc.returncode, "seconds":
               round(time.time() - t0, 1), "output_tail": tail}, args.out)
        table.append(("gpu tests", f"exit {proc.returncode}: {tail.strip().splitlines()[-1]}"))

    best: dict = {"path": str(args.kernel.resolve()), "candidate_id": args.kernel.stem} if args.kernel else {}
    if not args.skip_optimize:
        best = optimize(args, chip, env, table)
    bench(args, chip, env, table, best)
    print("\n| step | result |\n|---|---|")
    for k, v in table:
        print(f"| {k} | {v} |")


def optimize(args, chip, env, table) -> dict:
    """Run kevolve optimize on the chip and record its summary and report."""
    cmd = [sys.executable, "-m", "kevolve.cli", "optimize", args.problem, "--target", chip.name,
           "--budget", str(args.budget), "--json"]
    t0 = time.time()
    proc = run(cmd, 1200, env)
    wall = time.time() - t0
    summary = json.loads(proc.stdout) if proc.returncode == 0 else {}
    report = Path(summary["report"]).read_text() if summary.get("report") else ""
    record(f"optimize_{args.problem}_{chip.name}", "kevolve " + " ".join(cmd[3:]),
           {"returncode": proc.returncode, "wall_s": round(wall, 1), "summary": summary,
            "report_md": report, "stderr_tail": proc.stderr[-2000:]}, args.out)
    best = summary.get("best") or {}
    table.append(("optimize", f"{summary.get('status')} best={best.get('candidate_id')} "
                  f"{best.get('language')} {best.get('runtime_ms')} ms "
                  f"eager x{best.get('speedup_vs_eager')} compile x{best.get('speedup_vs_compile')} "
                  f"on {best.get('measured_on')} in {wall:.0f}s"))
    return best


def bench(args, chip, env, table, best) -> None:
    """Evaluate one kernel N times in fresh sandboxes: throughput and timing noise."""
    if best.get("path") and args.noise_reps > 0:
        times: list[float] = []
        t0 = time.time()
        for _ in range(args.noise_reps):
            c = [sys.executable, "-m", "kevolve.cli", "check", args.problem, best["path"],
                 "--target", chip.name, "--json"]
            p = run(c, 600, env)
            if p.returncode not in (0, 1):
                print(p.stderr[-1500:], flush=True)
            if p.stdout.strip():
                view = json.loads(p.stdout)
                if view.get("runtime_ms"):
                    times.append(view["runtime_ms"])
        minutes = (time.time() - t0) / 60
        payload = {
            "problem": args.problem,
            "kernel": best["candidate_id"],
            "runtimes_ms": times,
            "median_ms": statistics.median(times) if times else None,
            "spread_pct": (100 * (max(times) - min(times)) / statistics.median(times)) if times else None,
            "stdev_pct": (100 * statistics.stdev(times) / statistics.mean(times)) if len(times) > 1 else None,
            "evaluations_per_minute": args.noise_reps / minutes,
            "note": "each evaluation is a fresh sandboxed subprocess: static checks, compile, "
                    "correctness on 3 seeds, determinism rerun, timing of candidate, eager and "
                    "torch.compile, recheck",
        }
        record(f"evaluator_bench_{chip.name}", " ".join(c[1:]) + f" (x{args.noise_reps})",
               payload, args.out)
        table.append(("evaluator", f"{payload['evaluations_per_minute']:.1f} evals/min, "
                      f"median {payload['median_ms']} ms, spread {payload['spread_pct']:.1f}% "
                      f"over {len(times)} runs" if times else "no timings"))


if __name__ == "__main__":
    main()
