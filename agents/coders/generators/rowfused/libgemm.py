"""A library GEMM followed by a row program: keep cuBLAS/rocBLAS for the product, fuse the rest.

For a reference whose forward is one GEMM (``nn.Linear``, ``F.linear``, ``matmul``, ``mm``,
``addmm``) on its inputs and parameters, followed by elementwise ops and row reductions of its
result (GELU then softmax, a bias then LayerNorm, a scale then logsumexp...), the fastest
formulation on a chip whose BLAS beats generated GEMMs (fp32 on H100: generated tiles reach
0.4-0.85x of cuBLAS) is the library GEMM plus **one** fused pass over its output. This
generator writes exactly that:

1. the forward is traced with ``torch.fx`` and cut after the GEMM;
2. everything after it becomes an *epilogue problem* -- the reference's own ``__init__``
   (same parameters), a forward taking the GEMM output, and inputs computed by the
   reference's GEMM at the reference's sizes (so the size constants, and shape-generic
   kernels, carry over);
3. the row-fused generator writes that problem's kernel; ``ModelNew.forward`` computes the
   GEMM with the library call and hands its output to the kernel.

The draft's description says so ("library GEMM kept ..., epilogue fused into one pass").
"""

from __future__ import annotations

import ast
import logging
import operator
import types
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from agents.coders.base import CoderContext, Draft
from agents.coders.generators.rowfused.coder import TEMPLATE as ROW_TEMPLATE
from agents.coders.generators.rowfused.coder import RowFusedCoder
from agents.coders.kit.cache import cached_recogniser
from agents.coders.kit.reference import is_main_guard
from tools.errors import KevolveError, ProblemError
from tools.records import Candidate, Language, Problem, Target

logger = logging.getLogger(__name__)

TEMPLATE = "triton.libgemm_rows"
REFERENCE = "_LibGemmReference"
REFERENCE_INPUTS = "_libgemm_reference_inputs"
GEMM_OUT = "gemm_out"

GEMM_FUNCTIONS = {
    torch.matmul: "torch.matmul",
    torch.mm: "torch.mm",
    torch.bmm: "torch.bmm",
    torch.addmm: "torch.addmm",
    torch.nn.functional.linear: "torch.nn.functional.linear",
    operator.matmul: "torch.matmul",
}
GEMM_METHODS = {"matmul": "torch.matmul", "mm": "torch.mm", "bmm": "torch.bmm"}


@dataclass(frozen=True)
class Split:
    """A reference cut after its GEMM."""

    arg_names: tuple[str, ...]
    """The reference forward's positional arguments."""
    gemm_expr: str
    """The library GEMM in terms of ``self`` and the forward's arguments."""
    epilogue_forward: str
    """``def forward(self, gemm_out): ...`` -- the rest of the reference."""
    epilogue: Problem
    """The problem the row-fused generator writes a kernel for."""


def _load(source: str) -> types.ModuleType:
    module = types.ModuleType("kevolve_libgemm_reference")
    exec(compile(source, "<reference>", "exec"), module.__dict__)  # noqa: S102 - as the tracers do
    return module


def _arg_expr(arg: Any, names: dict[torch.fx.Node, str]) -> str:
    if isinstance(arg, torch.fx.Node):
        if arg not in names:
            raise ProblemError(f"the GEMM reads {arg.name}, which is computed before it.")
        return names[arg]
    if isinstance(arg, (int, float, bool)) or arg is None:
        return repr(arg)
    raise ProblemError(f"the GEMM takes an argument of type {type(arg).__name__}.")


def _gemm_expr(node: torch.fx.Node, gm: torch.fx.GraphModule, names: dict) -> str:
    """The GEMM node as a library call on ``self``'s parameters and the forward's inputs."""
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        if not isinstance(mod, torch.nn.Linear) or len(node.args) != 1 or node.kwargs:
            raise ProblemError(f"module {node.target} is not a plain nn.Linear call.")
        path = "self." + ".".join(
            p if p.isidentifier() else f"_modules[{p!r}]" for p in str(node.target).split(".")
        )
        bias = f"{path}.bias" if mod.bias is not None else "None"
        return (
            f"torch.nn.functional.linear({_arg_expr(node.args[0], names)}, {path}.weight, {bias})"
        )
    if node.op == "call_function":
        fn = GEMM_FUNCTIONS[node.target]  # type: ignore[index]
    else:
        fn = GEMM_METHODS[str(node.target)]
    args = [_arg_expr(a, names) for a in node.args]
    kwargs = [f"{k}={_arg_expr(v, names)}" for k, v in node.kwargs.items()]
    return f"{fn}({', '.join(args + kwargs)})"


def _is_gemm(node: torch.fx.Node, gm: torch.fx.GraphModule) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), torch.nn.Linear)
    if node.op == "call_function":
        return node.target in GEMM_FUNCTIONS
    return node.op == "call_method" and node.target in GEMM_METHODS


def _rename_reference(source: str) -> str:
    """The reference with ``Model`` -> ``_LibGemmReference`` (without its forward) and
    ``get_inputs`` renamed."""
    tree = ast.parse(source)
    renames = {"Model": REFERENCE, "get_inputs": REFERENCE_INPUTS}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in renames:
            node.id = renames[node.id]
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in renames:
            node.name = renames[node.name]
    for stmt in tree.body:  # its __init__ is kept (same parameters); its forward is not
        if isinstance(stmt, ast.ClassDef) and stmt.name == REFERENCE:
            kept = [
                s for s in stmt.body if not (isinstance(s, ast.FunctionDef) and s.name == "forward")
            ]
            stmt.body = kept or [ast.Pass()]
    tree.body = [s for s in tree.body if not is_main_guard(s)]
    return ast.unparse(tree)


def split_after_gemm(problem: Problem) -> Split:
    """Cut the reference after its one GEMM.

    Raises:
        ProblemError: The forward does not trace, has no GEMM or more than one, computes
            something before it, or its remainder reads an input other than the GEMM output.
    """
    try:
        ref = _load(problem.source)
        torch.manual_seed(0)
        model = ref.Model(*ref.get_init_inputs())
        gm = torch.fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001 - any tracing failure means "not this family"
        raise ProblemError(f"the forward does not trace with torch.fx ({e}).") from e
    nodes = list(gm.graph.nodes)
    gemms = [n for n in nodes if _is_gemm(n, gm)]
    if len(gemms) != 1:
        raise ProblemError(f"the forward has {len(gemms)} GEMMs; this family takes exactly one.")
    gemm = gemms[0]
    placeholders = [n for n in nodes if n.op == "placeholder"]
    names: dict[torch.fx.Node, str] = {n: str(n.target) for n in placeholders}
    for n in nodes[: nodes.index(gemm)]:
        if n.op == "get_attr":
            names[n] = f"self.{n.target}"
        elif n.op != "placeholder":
            raise ProblemError(
                f"{n.name} is computed before the GEMM; only the GEMM may come first."
            )
    gemm_expr = _gemm_expr(gemm, gm, names)
    after = nodes[nodes.index(gemm) + 1 :]
    if not any(n.op not in ("output",) for n in after):
        raise ProblemError("nothing follows the GEMM; the GEMM generators handle a bare GEMM.")
    graph = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {gemm: graph.placeholder(GEMM_OUT)}
    for n in after:
        for used in n.all_input_nodes:
            if used.op == "placeholder":
                raise ProblemError(
                    f"after the GEMM the forward reads input {used.name} again; only the GEMM "
                    "output may flow into the epilogue."
                )
        env[n] = graph.node_copy(n, lambda x: env[x])
    forward = torch.fx.GraphModule(gm, graph).code.strip()
    if "torch.fx" in forward:
        raise ProblemError("the epilogue's code needs torch.fx helpers at run time.")
    arg_names = tuple(str(n.target) for n in placeholders)
    gemm_of_ref = gemm_expr.replace("self.", "ref.")
    for i, name in enumerate(arg_names):
        gemm_of_ref = _replace_name(gemm_of_ref, name, f"inputs[{i}]")
    epilogue_source = (
        f"{_rename_reference(problem.source)}\n\n\n"
        f"class Model({REFERENCE}):\n"
        f"    \"\"\"The reference after its GEMM: it takes the GEMM's output.\"\"\"\n\n"
        + "\n".join("    " + line for line in _forward_def(forward).splitlines())
        + "\n\n\ndef get_inputs():\n"
        "    torch.manual_seed(0)\n"
        f"    ref = {REFERENCE}(*get_init_inputs())\n"
        f"    inputs = {REFERENCE_INPUTS}()\n"
        "    with torch.no_grad():\n"
        f"        return [{gemm_of_ref}]\n"
    )
    if "import torch\n" not in epilogue_source and not epilogue_source.startswith("import torch"):
        epilogue_source = "import torch\n" + epilogue_source
    epilogue = Problem(
        name=f"{problem.name}.epilogue",
        source=epilogue_source,
        dtype=problem.dtype,
    )
    return Split(arg_names, gemm_expr, _forward_def(forward), epilogue)


def _replace_name(expr: str, name: str, new: str) -> str:
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            node.id = new
    return ast.unparse(tree)


def _forward_def(code: str) -> str:
    """fx's generated ``forward`` with its argument named ``gemm_out``, as one function."""
    tree = ast.parse(code)
    fn = next(s for s in tree.body if isinstance(s, ast.FunctionDef))
    return ast.unparse(fn)


def wrap_module(row_source: str, split: Split) -> str:
    """The row-fused module with ``forward`` renamed ``_epilogue`` and a new ``forward``
    that runs the library GEMM first."""
    tree = ast.parse(row_source)
    cls = next(s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == "ModelNew")
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "forward":
            stmt.name = "_epilogue"
    args = ", ".join(split.arg_names)
    forward = ast.parse(
        f"def forward(self, {args}):\n"
        "    # the GEMM stays a library call (cuBLAS/rocBLAS); the rest is one fused pass\n"
        f"    return self._epilogue({split.gemm_expr})\n"
    ).body[0]
    cls.body.append(forward)
    return ast.unparse(tree) + "\n"


cached_split = cached_recogniser(split_after_gemm, "library-GEMM split")
"""``split_after_gemm`` cached per problem content, refusals included."""


class LibGemmRowCoder:
    """Library GEMM + the row-fused generator's kernel for everything after it (``Coder``)."""

    language: Language = "triton"
    name = "triton-libgemm-rows"
    templates = (TEMPLATE,)

    def __init__(self) -> None:
        self.rows = RowFusedCoder()

    def supports(self, problem: Problem, target: Target) -> bool:
        """One GEMM then a row program the row-fused generator supports on ``target``."""
        try:
            split = cached_split(problem)
        except ProblemError:
            return False
        return self.rows.supports(split.epilogue, target)

    def _wrap(self, draft: Draft, split: Split) -> Draft:
        return Draft(
            language=self.language,
            source=wrap_module(draft.source, split),
            transformation=(
                f"library GEMM kept ({split.gemm_expr.split('(')[0]}, cuBLAS/rocBLAS); the "
                f"epilogue fused into one pass: {draft.transformation}"
            ),
            template=TEMPLATE,
            params=dict(draft.params),
            author=draft.author,
        )

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """The row-fused generator's seeds for the epilogue, each behind the library GEMM."""
        split = cached_split(problem)
        return [self._wrap(d, split) for d in self.rows.seed(split.epilogue, target)]

    def propose(self, ctx: CoderContext) -> Draft:
        """The row-fused generator's next move on the epilogue, behind the library GEMM."""
        split = cached_split(ctx.problem)

        def as_rows(cand: Candidate | None) -> Candidate | None:
            if cand is None or cand.template != TEMPLATE:
                return cand
            return cand.model_copy(update={"template": ROW_TEMPLATE})

        rows_ctx = ctx.model_copy(
            update={
                "problem": split.epilogue,
                "parent": as_rows(ctx.parent),
                "lineage": [(as_rows(c), r) for c, r in ctx.lineage],
                "siblings": [(as_rows(c), r) for c, r in ctx.siblings],
                "tried": [t.replace(TEMPLATE, ROW_TEMPLATE) for t in ctx.tried],
            }
        )
        try:
            return self._wrap(self.rows.propose(rows_ctx), split)
        except ProblemError as e:
            raise KevolveError(str(e)) from e
