"""The library-op + fused-epilogue generator (``Coder``): render, seed, propose."""

from __future__ import annotations

import ast
import hashlib
from functools import reduce
from pathlib import Path

import torch
import torch.fx
from torch import nn

from agents.coders.base import CoderContext, Draft, fingerprint
from agents.coders.generators.libop.emit import kernel_source, wrapper_name, wrapper_source
from agents.coders.generators.libop.graph import Program, build_program
from agents.coders.kit.cache import RefusalCache
from agents.coders.kit.formulas import helpers_used
from agents.coders.kit.libops import library_kind
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import base_variables, render_template
from tools.errors import KevolveError, ProblemError
from tools.records import Language, Problem, Target

TEMPLATE = "triton.libop"
TEMPLATES = Path(__file__).parent / "templates"
LAUNCH_KEYS = ("num_warps", "num_stages")
DTYPES = frozenset({"float32", "float16", "bfloat16"})

CONFIGS: tuple[dict[str, int], ...] = (
    {"BLOCK": 4096, "MAX_ONE_PASS": 4096, "CHUNK": 1024, "num_warps": 8, "num_stages": 2},
    {"BLOCK": 2048, "MAX_ONE_PASS": 2048, "CHUNK": 512, "num_warps": 4, "num_stages": 2},
    {"BLOCK": 1024, "MAX_ONE_PASS": 1024, "CHUNK": 256, "num_warps": 4, "num_stages": 2},
    {"BLOCK": 4096, "MAX_ONE_PASS": 1024, "CHUNK": 1024, "num_warps": 4, "num_stages": 3},
    {"BLOCK": 8192, "MAX_ONE_PASS": 8192, "CHUNK": 2048, "num_warps": 8, "num_stages": 2},
    {"BLOCK": 1024, "MAX_ONE_PASS": 512, "CHUNK": 512, "num_warps": 2, "num_stages": 2},
)
"""The stage configurations tried, in order. The first tiles 4,096 elements a program (16 a
thread at 8 warps: wide enough for memory-bound stages, and few programs for the Triton
interpreter, which pays per program)."""
SEEDS = 2
BARE: tuple[dict[str, int], ...] = (
    {"channels_last": 1, "contiguous_out": 0},
    {"channels_last": 1, "contiguous_out": 1},
)
"""A convolution with nothing after it: cuDNN in channels-last layout, output as it comes
or made contiguous again."""


def configs(program: Program) -> list[dict[str, int]]:
    """Every configuration of a program, in the order seeded and proposed: stage configs in
    the default layout, then (where 2-D/3-D convolutions are kept) the same in channels-last,
    the first of which is the second seed."""
    if not program.stages:
        return [dict(c) for c in BARE]
    plain = [{**c, "channels_last": 0} for c in CONFIGS]
    if not program.conv_ranks:
        return plain
    last = [{**c, "channels_last": 1} for c in CONFIGS]
    return [plain[0], last[0], *plain[1:], *last[1:]]


_PROGRAMS: RefusalCache[str, Program] = RefusalCache("library-op epilogue")


def program_of(problem: Problem) -> Program:
    """The problem's program (cached per source, refusals included)."""
    key = hashlib.sha1(problem.source.encode()).hexdigest()
    return _PROGRAMS.get(key, lambda: build_program(problem.source))


MEMORY_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}


def forward_source(program: Program, channels_last: bool = False, contiguous: bool = False) -> str:
    """``forward``: the kept torch calls as traced, each stage one call of its wrapper.

    Args:
        program: The split forward.
        channels_last: Feed every 2-D/3-D convolution a channels-last input (its weights are
            converted once in ``__init__``); cuDNN then runs its NHWC kernels.
        contiguous: Return a contiguous output (the default layout) whatever the last op gave.
    """
    gm = program.gm
    graph = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    stage_nodes: dict[int, torch.fx.Node] = {}
    by_name = {n.name: n for n in gm.graph.nodes}
    root: dict[str, object] = dict(gm.named_modules())
    for stage in program.stages:
        root[f"_kv_stage{stage.index}"] = nn.Identity()
    for name, p in list(gm.named_parameters()) + list(gm.named_buffers()):
        root[name] = p
    for node in gm.graph.nodes:
        if node.op != "get_attr":
            continue
        # a dotted target (``v.0`` of a ParameterList) is a path, not one attribute name
        root.setdefault(str(node.target), reduce(getattr, str(node.target).split("."), gm))
    for node in gm.graph.nodes:
        index = program.members.get(node.name)
        if node.op == "output" and contiguous:
            result = graph.call_method("contiguous", (env[node.args[0]],))
            graph.output(result)
            continue
        if index is None:
            first = node.args[0] if node.args else None
            if channels_last and library_kind(node, gm) == "conv" and first is not None:
                converted = _as_conv_input(graph, env, first)
                remap = {**env, first: converted}
                env[node] = graph.node_copy(node, remap.__getitem__)
            else:
                env[node] = graph.node_copy(node, lambda n: env[n])
            continue
        stage = program.stages[index]
        if node.name != stage.output:
            continue
        args = []
        for inp in stage.inputs:
            if inp.node.startswith("self."):
                path = inp.node.removeprefix("self.")
                root.setdefault(path, gm.get_parameter(path))
                args.append(graph.get_attr(path))
            else:
                args.append(env[by_name[inp.node]])
        stage_nodes[index] = graph.call_module(f"_kv_stage{index}", tuple(args))
        env[node] = stage_nodes[index]
    code = torch.fx.GraphModule(root, graph).code
    tree = ast.parse(code.strip())
    fn = next(s for s in tree.body if isinstance(s, ast.FunctionDef))
    # fx writes the reference's annotations as its own globals (``_torch_Tensor_``): drop them
    fn.returns = None
    for a in fn.args.args:
        a.annotation = None
    return ast.unparse(fn)


def _as_conv_input(
    graph: torch.fx.Graph, env: dict[torch.fx.Node, torch.fx.Node], n: torch.fx.Node
) -> torch.fx.Node:
    """A 4-D/5-D convolution input in channels-last layout (other values as they are)."""
    meta = n.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape") or len(meta.shape) not in (4, 5):
        return env[n]
    fmt = MEMORY_FORMATS[len(meta.shape)]
    return graph.call_method("contiguous", (env[n],), {"memory_format": fmt})


def _methods(program: Program) -> str:
    if not program.stages:
        return ""
    return "\n".join(
        f"def _kv_stage{s.index}(self, *tensors):\n    return {wrapper_name(s)}(*tensors)\n"
        for s in program.stages
    )


class LibOpCoder:
    """Library ops kept as torch calls, everything after them fused into Triton stages."""

    language: Language = "triton"
    name = "triton-libop"
    templates = (TEMPLATE,)

    def supports(self, problem: Problem, target: Target) -> bool:
        """A float forward with a library op and at least one stage after it."""
        if problem.dtype not in DTYPES:
            return False
        try:
            program_of(problem)
        except ProblemError:
            return False
        return True

    def render(self, problem: Problem, target: Target, params: dict[str, int]) -> str:
        """The module for one configuration."""
        program = program_of(problem)
        channels_last = bool(params.get("channels_last", 0)) and bool(program.conv_ranks)
        if program.stages:
            kernels = [kernel_source(s) for s in program.stages]
            wrappers = [
                wrapper_source(s, params["BLOCK"], params["MAX_ONE_PASS"], params["CHUNK"])
                for s in program.stages
            ]
            text = "\n\n\n".join(kernels + wrappers)
        else:
            text = "# no kernel: the convolution stays cuDNN's, only its memory layout changes"
        helpers = "\n\n".join(helpers_used(text))
        forward = forward_source(program, channels_last, bool(params.get("contiguous_out", 0)))
        block = model_new_block(problem.source, forward)
        tree = ast.parse(block)
        cls = next(s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == "ModelNew")
        cls.body.extend(ast.parse(_methods(program)).body)
        if channels_last:
            init = next(
                s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"
            )
            for rank in program.conv_ranks:  # the weights once, in the convolutions' layout
                fmt = "channels_last" if rank == 4 else "channels_last_3d"
                init.body.append(ast.parse(f"self.to(memory_format=torch.{fmt})").body[0])
        return render_template(
            TEMPLATES,
            "triton/libop.py.j2",
            **base_variables(
                f"{problem.name} on {target.display_name}: {_describe(program, channels_last)}.",
                TEMPLATE,
                params,
                target,
                LAUNCH_KEYS,
            ),
            helpers=helpers,
            kernels=text,
            model_block=ast.unparse(tree),
        )

    def _draft(self, problem: Problem, target: Target, params: dict[str, int]) -> Draft:
        program = program_of(problem)
        channels_last = bool(params.get("channels_last", 0)) and bool(program.conv_ranks)
        return Draft(
            language=self.language,
            source=self.render(problem, target, params),
            transformation=_describe(program, channels_last),
            template=TEMPLATE,
            params=dict(params),
        )

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """The first configurations."""
        program = program_of(problem)
        return [self._draft(problem, target, c) for c in configs(program)[:SEEDS]]

    def propose(self, ctx: CoderContext) -> Draft:
        """The next configuration not yet tried (a fixed order: the same context, the same draft).

        Raises:
            KevolveError: Every configuration was tried.
        """
        for config in configs(program_of(ctx.problem)):
            if fingerprint(TEMPLATE, config) not in ctx.tried:
                return self._draft(ctx.problem, ctx.target, config)
        raise KevolveError(f"every {TEMPLATE} configuration of {ctx.problem.name} was tried.")


def _describe(program: Program, channels_last: bool) -> str:
    """What the module does, for its docstring and the report."""
    kept = ", ".join(program.kept) or "none"
    layout = " (convolutions in channels-last layout)" if channels_last else ""
    if not program.stages:
        return f"no Triton kernel: library calls kept as written ({kept}){layout}"
    stages = "; ".join(s.summary for s in program.stages)
    return (
        f"library calls kept ({kept}){layout}; the rest fused into {len(program.stages)} "
        f"Triton kernel(s): {stages}"
    )
