"""The head of a forward as code: the fx statements computing chosen values, and the trace.

The hybrid and remap generators keep part of a reference forward as plain PyTorch (a
vendor head, or views and shape arithmetic) and fuse the rest. Both render that part from
the same ``torch.fx`` trace, with its result bound to ``HEAD_VAR``.
"""

from __future__ import annotations

import ast

import torch
import torch.fx

from agents.coders.kit.chain_trace import trace_module as kit_trace_module
from agents.coders.kit.fx import ancestors
from tools.errors import ProblemError

HEAD_VAR = "_kv_h"
"""The name the rendered head binds its tuple of boundary values to."""


def trace_module(source: str) -> torch.fx.GraphModule:
    """``Model`` traced by the kit with buffer reads as nodes (see ``kit.chain_trace``).

    Raises:
        ProblemError: The reference does not build, trace or run on the meta device.
    """
    return kit_trace_module(source, proxy_buffers=True)[0]


def head_body_source(
    gm: torch.fx.GraphModule,
    boundary: list[torch.fx.Node],
    resized: dict[tuple[str, int], str] | None = None,
) -> str:
    """The fx-generated statements computing the boundary values, ending in ``_kv_h = (...)``.

    A literal in ``resized`` (``(node, argument position) -> self.attr``, see
    ``agents.coders.kit.resized``) is read from the model at run time, not written as its
    traced value.
    """
    resized = resized or {}
    graph = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    needed = ancestors(*boundary)
    attrs: dict[str, torch.fx.Node] = {}
    for node in gm.graph.nodes:
        if node.op == "placeholder" or node in needed:
            copy = graph.node_copy(node, lambda n: env[n])
            args = list(copy.args)
            for (name, pos), expr in resized.items():
                if name == node.name:
                    attr = expr.removeprefix("self.")
                    if attr not in attrs:
                        with graph.inserting_before(copy):
                            attrs[attr] = graph.get_attr(attr)
                    args[pos] = attrs[attr]
            copy.args = tuple(args)
            env[node] = copy
    graph.output(tuple(env[n] for n in boundary))
    root: torch.nn.Module | dict[str, object] = gm
    if attrs:  # the model's int attributes are not on the traced module: a dict root holds all
        root = {}
        for n in graph.nodes:
            if n.op == "get_attr":
                value: object = gm
                try:
                    for part in str(n.target).split("."):
                        value = getattr(value, part)
                except AttributeError:
                    value = 0
                root[str(n.target)] = value
    head = torch.fx.GraphModule(root, graph)
    tree = ast.parse(head.code.strip())
    fn = next(s for s in tree.body if isinstance(s, ast.FunctionDef))
    body = fn.body
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        raise ProblemError("The head of the forward could not be rendered as code.")
    body[-1] = ast.Assign(targets=[ast.Name(id=HEAD_VAR, ctx=ast.Store())], value=body[-1].value)
    # fx frees inputs after their last use in the head (``x = None``); the tail may still read
    # them, so those statements are dropped.
    kept = [s for s in body if not _is_none_assign(s)]
    module = ast.Module(body=kept, type_ignores=[])
    ast.fix_missing_locations(module)
    return ast.unparse(module)


def _is_none_assign(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is None
    )
