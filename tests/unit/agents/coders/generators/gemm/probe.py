"""Compile a candidate's kernels for sm_90 the way the JIT would, and report their resources.

Usage: ``python probe.py SPEC.json`` with ``{"reference", "candidate", "dtype"}``; prints
one JSON list, one entry per launch: kernel name, shared memory, registers and stack (from
``cuobjdump``) and how many ``cp.async`` copies the software pipeliner emitted.

Unlike ``tests/unit/agents/coders/harness.py`` (which compiles with plain signatures), pointers and integers
divisible by 16 carry ``tt.divisibility`` as the JIT specialises them, so vectorised loads and
the pipeliner behave as on a real H100. Kept outside pytest's collection.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from tests.unit.agents.coders import harness


def main() -> None:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    spec = json.loads(Path(sys.argv[1]).read_text())
    ref = harness.load_source(spec["reference"], "reference")
    new = harness.load_source(spec["candidate"], "candidate")
    launches = harness.capture_launches(new)
    dtype = getattr(torch, spec.get("dtype", "float32"))
    torch.manual_seed(0)
    model = new["ModelNew"](*ref["get_init_inputs"]()).to(dtype)
    model(*[t.to(dtype) for t in ref["get_inputs"]()])
    cuobjdump = Path(triton.__file__).parent / "backends/nvidia/bin/cuobjdump"
    out = []
    for fn, args, kwargs in launches:
        signature, constexprs, options = harness.signature_of(fn, args, kwargs)
        options = {k: v for k, v in options.items() if k in ("num_warps", "num_stages")}
        bound = dict(zip(fn.arg_names, args, strict=False)) | kwargs
        attrs = {}
        for i, name in enumerate(fn.arg_names):
            value = bound[name]
            aligned = isinstance(value, torch.Tensor) or (
                isinstance(value, int) and not isinstance(value, bool) and value % 16 == 0
            )
            if signature[name] != "constexpr" and aligned:
                attrs[(i,)] = [["tt.divisibility", 16]]
        kernel = triton.compile(
            ASTSource(fn, signature, constexprs, attrs),
            target=GPUTarget("cuda", 90, 32),
            options=options,
        )
        with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as f:
            f.write(kernel.asm["cubin"])
        usage = subprocess.run(
            [str(cuobjdump), "--dump-resource-usage", f.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        os.unlink(f.name)
        match = re.search(r"REG:(\d+) STACK:(\d+)", usage)
        out.append(
            {
                "kernel": fn.__name__,
                "shared": kernel.metadata.shared,
                "registers": int(match.group(1)) if match else -1,
                "stack": int(match.group(2)) if match else -1,
                "async_copies": kernel.asm["ttgir"].count("async_copy_global_to_local"),
            }
        )
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
