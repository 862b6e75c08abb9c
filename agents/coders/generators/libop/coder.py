"""The library-op + fused-epilogue generator (``Coder``): render, seed, propose."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import torch
import torch.fx
from torch import nn

from agents.coders.base import CoderContext, Draft, fingerprint
from agents.coders.generators.libop.emit import kernel_source, wrapper_name, wrapper_source
from agents.coders.generators.libop.graph import Program, build_program
from agents.coders.kit.cache import RefusalCache
from agents.coders.kit.formulas import helpers_used
from agents.coders.kit.reference import model_new_block
from agents.coders.kit.render import base_variables, render_template
from tools.errors import KevolveError, ProblemError
from tools.records import Language, Problem, Target

TEMPLATE = "triton.libop"
TEMPLATES = Path(__file__).parent / "templates"
LAUNCH_KEYS = ("num_warps", "num_stages")
DTYPES = frozenset({"float32", "float16", "bfloat16"})

CONFIGS: tuple[dict[str, int], ...] = (
    {"BLOCK": 2048, "MAX_ONE_PASS": 2048, "CHUNK": 512, "num_warps": 4, "num_stages": 2},
    {"BLOCK": 4096, "MAX_ONE_PASS": 4096, "CHUNK": 1024, "num_warps": 8, "num_stages": 2},
    {"BLOCK": 1024, "MAX_ONE_PASS": 1024, "CHUNK": 256, "num_warps": 4, "num_stages": 2},
    {"BLOCK": 4096, "MAX_ONE_PASS": 1024, "CHUNK": 1024, "num_warps": 4, "num_stages": 3},
    {"BLOCK": 8192, "MAX_ONE_PASS": 8192, "CHUNK": 2048, "num_warps": 8, "num_stages": 2},
    {"BLOCK": 1024, "MAX_ONE_PASS": 512, "CHUNK": 512, "num_warps": 2, "num_stages": 2},
)
"""The configurations tried, in order: the first two are the seeds."""
SEEDS = 2

_PROGRAMS: RefusalCache[str, Program] = RefusalCache("library-op epilogue")


def program_of(problem: Problem) -> Program:
    """The problem's program (cached per source, refusals included)."""
    key = hashlib.sha1(problem.source.encode()).hexdigest()
    return _PROGRAMS.get(key, lambda: build_program(problem.source))


def forward_source(program: Program) -> str:
    """``forward``: the kept torch calls as traced, each stage one call of its wrapper."""
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
        root.setdefault(str(node.target), getattr(gm, str(node.target)))
    for node in gm.graph.nodes:
        index = program.members.get(node.name)
        if index is None:
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
    return ast.unparse(fn)


def _methods(program: Program) -> str:
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
        kernels = [kernel_source(s) for s in program.stages]
        wrappers = [
            wrapper_source(s, params["BLOCK"], params["MAX_ONE_PASS"], params["CHUNK"])
            for s in program.stages
        ]
        text = "\n\n\n".join(kernels + wrappers)
        helpers = "\n\n".join(helpers_used(text))
        forward = forward_source(program)
        block = model_new_block(problem.source, forward)
        tree = ast.parse(block)
        cls = next(s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == "ModelNew")
        cls.body.extend(ast.parse(_methods(program)).body)
        kept = ", ".join(program.kept) or "none"
        summary = "; ".join(f"stage {s.index}: {s.summary}" for s in program.stages)
        return render_template(
            TEMPLATES,
            "triton/libop.py.j2",
            **base_variables(
                f"{problem.name} on {target.display_name}: library calls kept as written "
                f"({kept}); everything after them fused into {len(program.stages)} Triton "
                f"kernel(s) ({summary}).",
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
        kept = ", ".join(program.kept) or "none"
        return Draft(
            language=self.language,
            source=self.render(problem, target, params),
            transformation=(
                f"library calls kept ({kept}); the rest fused into {len(program.stages)} "
                f"Triton kernel(s): " + "; ".join(s.summary for s in program.stages)
            ),
            template=TEMPLATE,
            params=dict(params),
        )

    def seed(self, problem: Problem, target: Target) -> list[Draft]:
        """The first configurations."""
        return [self._draft(problem, target, dict(c)) for c in CONFIGS[:SEEDS]]

    def propose(self, ctx: CoderContext) -> Draft:
        """The next configuration not yet tried (a fixed order: the same context, the same draft).

        Raises:
            KevolveError: Every configuration was tried.
        """
        for config in CONFIGS:
            if fingerprint(TEMPLATE, dict(config)) not in ctx.tried:
                return self._draft(ctx.problem, ctx.target, dict(config))
        raise KevolveError(f"every {TEMPLATE} configuration of {ctx.problem.name} was tried.")
