"""The scan and gather generators: ``ScanCoder`` (``triton.scan``) and ``GatherCoder``
(``triton.gather``), offline Triton coders for arbitrary KernelBench references.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agents.coders.generators.scans.gather_spec import GatherSpec, analyze_gather
from agents.coders.generators.scans.scan_spec import ScanSpec, analyze_scan
from agents.coders.generators.scans.spaces import (
    gather_safer,
    gather_seeds,
    gather_space,
    scan_safer,
    scan_seeds,
    scan_space,
)
from agents.coders.kit.dtypes import FLOAT_DTYPES
from agents.coders.kit.generator import TemplateFunctions, TemplateGenerator
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import LAUNCH_KEYS, base_variables
from agents.coders.kit.render import render_template as _render
from agents.coders.kit.space import Params
from tools.errors import ProblemError
from tools.problems.resize import has_declared_sizes
from tools.records import Problem, Target

_LOAD_LINE = re.compile(r"t\d+ = tl\.load\(")
"""A body line that only loads an operand tile (it depends on the indices alone: hoistable)."""



def render_template(name: str, **variables: Any) -> str:
    """Render one of this package's templates (they extend ``triton/_base.py.j2``)."""
    return _render(Path(__file__).parent / "templates", name, **variables)


def template_variables(
    problem: Problem, target: Target, params: Params, template: str, title: str
) -> dict:
    """The variables every template of this package shares (title, launch options, target)."""
    title = f"{title} for {problem.name} on {target.display_name}."
    return {**base_variables(title, template, params, target, LAUNCH_KEYS), **params}


def _split_load(line: str) -> dict[str, str]:
    """``tN = tl.load(...)<cast>`` as its variable, the raw load, and the cast applied on use.

    A prefetched tile stays raw in the loop (``nN``); the cast (fp16 -> fp32, or ``!= 0``
    for a bool mask) is applied when it becomes the current tile, after the current tile is
    scanned and stored, so nothing waits on the prefetch early.
    """
    var, load = line.split(" = ", 1)
    suffix = next((c for c in (".to(tl.float32)", " != 0") if load.endswith(c)), "")
    return {
        "var": var,
        "next": "n" + var[1:],
        "load": load[: len(load) - len(suffix)],
        "cast": suffix,
    }


def forward_block(args: tuple[str, ...], wrapper: str, exprs: list[str]) -> str:
    """``ModelNew.forward`` calling ``wrapper`` on ``exprs``."""
    return f"def forward(self, {', '.join(args)}):\n    return {wrapper}({', '.join(exprs)})\n"


class ScanCoder(TemplateGenerator[ScanSpec]):
    """Scans (cumsum/cumprod, reverse, exclusive, masked, with fused elementwise ops)."""

    name = "triton-scan"
    functions = TemplateFunctions(None, scan_space, scan_seeds, scan_safer)
    dtypes = FLOAT_DTYPES

    def analyze(self, problem: Problem) -> ScanSpec:
        """Trace the reference to ATen and recognise one scan (see ``scan_spec``).

        A scan whose reference slices or pads by fixed amounts is planned for one length;
        when the problem declares resizable sizes the evaluator checks it at another
        length too, so such a kernel would only waste an evaluation: declined.
        """
        spec = analyze_scan(problem)
        if spec.static_len and has_declared_sizes(problem.source):
            raise ProblemError(
                f"The scan is tied to its traced length {spec.static_len} (the reference slices "
                "or pads by fixed amounts) and this problem is checked at other sizes."
            )
        return spec

    def render(self, problem: Problem, spec: ScanSpec, target: Target, params: Params) -> str:
        """The ``ModelNew`` module for one configuration."""
        operands = list(spec.operands)
        forward = forward_block(spec.forward_args, "_kv_scan", [o.expr for o in operands])
        extra: dict[str, Any] = {}
        if params["variant"] == "chained":
            at = next(i for i, line in enumerate(spec.body) if "(scan_p, axis=" in line)
            combine = "+" if spec.op == "cumsum" else "*"
            lhs = spec.body[at].split(" = ", 1)[0]
            extra = {
                "pre": list(spec.body[:at]),
                "post": [f"{lhs} = local {combine} carry", *spec.body[at + 1 :]],
                "combine": combine,
            }
        return render_template(
            "scan_chained.py.j2" if params["variant"] == "chained" else "scan.py.j2",
            **extra,
            **template_variables(problem, target, params, "triton.scan", f"Fused {spec.op} kernel"),
            model_block=model_new_block(problem.source, forward),
            operands=operands,
            names=["out", *(o.name for o in operands)],
            full_names=[o.name for o in operands if o.full],
            summary=spec.summary,
            scan_fn=f"tl.{spec.op}",
            layout=spec.layout,
            axis=1 if spec.layout == "rows" else 0,
            identity="0.0" if spec.op == "cumsum" else "1.0",
            body=list(spec.body),
            prefetch=bool(params.get("PREFETCH", 0)) and spec.layout == "cols",
            loads=[_split_load(line) for line in spec.body if _LOAD_LINE.match(line)],
            rest=[line for line in spec.body if not _LOAD_LINE.match(line)],
            result=spec.result,
            store_index=spec.store_index,
            reverse_lanes=spec.reverse_lanes,
            carry_of=spec.carry_of,
            shape=repr(tuple(spec.shape)),
            rank=len(spec.shape),
            dim=spec.dim,
            static_len=spec.static_len,
            out_dtype=spec.out_dtype,
            trailing=spec.trailing,
        )


class GatherCoder(TemplateGenerator[GatherSpec]):
    """Embedding-bag sums/means and per-segment sums/means of jagged rows."""

    name = "triton-gather"
    functions = TemplateFunctions(analyze_gather, gather_space, gather_seeds, gather_safer)
    dtypes = FLOAT_DTYPES

    def render(self, problem: Problem, spec: GatherSpec, target: Target, params: Params) -> str:
        """The ``ModelNew`` module for one configuration."""
        forward = forward_block(spec.forward_args, "_kv_bags", list(spec.call_args))
        return render_template(
            "gather.py.j2",
            **template_variables(
                problem, target, params, "triton.gather", f"Bag {spec.mode} kernel"
            ),
            model_block=model_new_block(problem.source, forward),
            spec=spec,
        )
