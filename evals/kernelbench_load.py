"""Load every problem of a KernelBench checkout and run its reference on CPU at a reduced size.

Run from the repository root, against your own clone of ScalingIntelligence/KernelBench::

    python evals/kernelbench_load.py PATH/KernelBench --max-mb 1 [--record]

For each ``levelN/*.py``: the file is resized to ``--max-mb`` as ``kevolve bench --max-mb``
does (``tools.problems.fit``; the note says when it cannot be), loaded as a problem
(``tools.problems.load_problem_file``: static checks, meta-device shapes, traced op family),
counted (bytes floor, FLOPs), and its reference ``Model`` is run once on CPU under a byte cap.
Nothing is optimized: this checks that every problem is an input kevolve can take.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evals.record import record  # noqa: E402
from tools.problems import load_problem_file  # noqa: E402
from tools.problems.counts import problem_counts  # noqa: E402
from tools.problems.fit import fit_problem  # noqa: E402
from tools.problems.materialize import (  # noqa: E402
    build_model,
    call_get_inputs,
    cpu_guard,
    exec_source,
)

CPU_RUN_BYTES = 2 * 2**30
"""Byte cap of building the inputs and the model on CPU (whole Level 3 models keep their
weights); the cap counts every allocation, so the forward itself runs without it."""

logger = logging.getLogger("kernelbench_load")


def check_file(path: Path, max_bytes: int, work: Path) -> dict[str, Any]:
    """Resize, load, count and run one problem; every failure becomes the row's ``error``."""
    row: dict[str, Any] = {"file": f"{path.parent.name}/{path.name}"}
    t0 = time.monotonic()
    try:
        fit = fit_problem(path.read_text(encoding="utf-8"), max_bytes)
        row.update(
            resized=fit.resized, factor=fit.factor, mib_before=fit.bytes_before / 2**20,
            mib_after=fit.bytes_after / 2**20, size_note=fit.note,
        )  # fmt: skip
        local = work / path.parent.name / path.name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(fit.source, encoding="utf-8")
        problem = load_problem_file(local)
        row.update(family=problem.op_family, op=problem.op, dtype=problem.dtype)
        counts = problem_counts(fit.source)
        if counts is not None:
            row.update(bytes_floor=counts.bytes_floor, flops=counts.flops)
        torch.manual_seed(0)
        with cpu_guard(CPU_RUN_BYTES):  # the build (inputs, weights) under the cap
            namespace = exec_source(fit.source, path.name)
            model, inputs = build_model(namespace), call_get_inputs(namespace)
        with torch.no_grad():  # the forward's temporaries are freed as it goes: no cap
            out = model(*inputs)
        outs = out if isinstance(out, (tuple, list)) else [out]
        row["output_shapes"] = [list(o.shape) for o in outs if isinstance(o, torch.Tensor)]
        row["ok"] = True
    except (Exception, SystemExit) as e:  # noqa: BLE001 - each problem's failure is recorded
        row["ok"] = False
        text = str(e).strip().splitlines()
        row["error"] = f"{type(e).__name__}: {text[0][:300] if text else ''}"
    row["seconds"] = round(time.monotonic() - t0, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernelbench", type=Path, help="The KernelBench/ folder of a checkout.")
    parser.add_argument("--levels", default="level1,level2,level3")
    parser.add_argument("--max-mb", type=float, default=1.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/kernelbench_load"))
    parser.add_argument("--record", action="store_true", help="Write evals/results/.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for level in args.levels.split(","):
        files = sorted(
            (args.kernelbench / level).glob("*.py"),
            key=lambda p: (int(p.name.split("_", 1)[0]), p.name),
        )
        for path in files:
            row = check_file(path, int(args.max_mb * 2**20), args.work)
            rows.append(row)
            status = "ok" if row["ok"] else f"FAILED {row['error']}"
            note = f" [{row['size_note']}]" if row.get("size_note") else ""
            print(f"{row['file']}: {status}{note}", flush=True)
    summary: dict[str, Any] = {}
    for level in args.levels.split(","):
        mine = [r for r in rows if r["file"].startswith(level + "/")]
        summary[level] = {
            "files": len(mine),
            "loaded_and_ran": sum(r["ok"] for r in mine),
            "within_budget": sum(r["ok"] and not r.get("size_note") for r in mine),
            "failed": [r["file"] for r in mine if not r["ok"]],
        }
    print(summary)
    if args.record:
        command = shlex.join(["python", "evals/kernelbench_load.py", *sys.argv[1:]])
        payload = {"max_mb": args.max_mb, "summary": summary, "problems": rows,
                   "method": "resized with tools.problems.fit, loaded, reference run once on CPU"}
        path = record(
            f"kernelbench_load_cpu_{args.levels.replace(',', '_')}_{time.strftime('%Y%m%d')}",
            command, payload,
            ROOT / "evals" / "results",
        )  # fmt: skip
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
