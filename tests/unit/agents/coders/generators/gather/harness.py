"""Runs reference and candidate modules side by side under the Triton interpreter.

Usage: ``TRITON_INTERPRET=1 python harness.py CASES.json`` where each case is
``{"name", "reference", "candidate"}`` (sources). The candidate is built with the
reference's init arguments, given the reference's parameters, and called on the
reference's inputs (two seeds); prints one JSON object: name -> max abs error, or the error.
"""

from __future__ import annotations

import json
import sys
import types

import torch


def _module(source: str, name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = f"<{name}>"
    exec(compile(source, mod.__file__, "exec"), mod.__dict__)
    return mod


def run(case: dict) -> float | str:
    try:
        ref_mod = _module(case["reference"], "ref")
        torch.manual_seed(0)
        ref = ref_mod.Model(*ref_mod.get_init_inputs())
        new_mod = _module(case["candidate"], "cand_" + case["name"])
        new = new_mod.ModelNew(*ref_mod.get_init_inputs())
        new.load_state_dict(ref.state_dict())
        worst = 0.0
        for seed in (1, 2):
            torch.manual_seed(seed)
            inputs = ref_mod.get_inputs()
            with torch.no_grad():
                a = ref(*inputs)
                b = new(*inputs)
            if a.shape != b.shape:
                return f"shape {tuple(b.shape)} != {tuple(a.shape)}"
            worst = max(worst, float((a.double() - b.double()).abs().nan_to_num(1e9).max()))
        return worst
    except Exception as e:  # noqa: BLE001 - reported to the test
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def main() -> None:
    cases = json.loads(open(sys.argv[1]).read())
    print(json.dumps({c["name"]: run(c) for c in cases}))


if __name__ == "__main__":
    main()
