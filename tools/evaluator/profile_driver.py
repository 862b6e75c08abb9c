"""The process Nsight Compute profiles: ``python -m tools.evaluator.profile_driver REQ WHICH``.

Started by ``tools.evaluator.ncu`` from the worker, in the candidate's work dir, inside the
worker's sandbox (it inherits the file-system rules and the network namespace). It sends
its own stdout and stderr to ``profile_driver.log`` first, so nothing the candidate prints
reaches ncu's table. Then it builds ``ModelNew`` (``WHICH=candidate``) or the reference
``Model`` (``WHICH=reference``) as the worker does, warms it up with one call (JIT compiles
and autotuning happen there, unprofiled) and brackets exactly one more call with
``cudaProfilerStart``/``cudaProfilerStop`` (ncu runs with ``--profile-from-start off``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LOG_FILE = "profile_driver.log"


def main(argv: list[str]) -> None:
    """Profile one forward call, then leave with ``os._exit`` (no candidate atexit)."""
    log = os.open(LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    import torch

    from tools.evaluator.loader import build_models, draw_inputs, load_module
    from tools.evaluator.protocol import EvalRequest

    request = EvalRequest.model_validate_json(Path(argv[1]).read_text())
    which = argv[2]
    seed = request.options.seeds[0] if request.options.seeds else 0
    ref = load_module(Path(request.problem_file), register=False)
    if which == "candidate":
        cand = load_module(Path(request.candidate_file), register=True)
        _, model, _ = build_models(ref, cand, "cuda", seed)
    else:
        torch.manual_seed(seed)
        model = ref.Model(*ref.get_init_inputs()).to("cuda")
    inputs = draw_inputs(ref, seed, "cuda")
    with torch.no_grad():
        model(*inputs)
        torch.cuda.synchronize()
        torch.cuda.profiler.start()
        model(*inputs)
        torch.cuda.synchronize()
        torch.cuda.profiler.stop()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
