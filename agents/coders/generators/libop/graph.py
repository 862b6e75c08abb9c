"""A traced forward split at its library ops into kept calls and fused stages.

The forward is traced with the kit's tracer (``torch.fx`` on the meta device, shapes
propagated, captured constants written as code). Its nodes are walked in order:

- a library op (a convolution of any kind, a matrix product: ``kit.libops``) and every op
  no stage can take (pooling windows, gathers, sorts...) stays a torch call, as written;
- the rest is grouped into **stages**, each one Triton kernel: a *pre* chain of elementwise
  ops over one shape ``S``, at most one reduction-like op over a set of dims of ``S``, and a
  *post* chain of elementwise ops on its result. Reduction-like ops are reductions (sum,
  mean, amax/amin, max/min over a dim, logsumexp, global average pooling), which leave the
  reduced shape, and normalisations (softmax, log-softmax, group/layer/instance norm, batch
  norm with batch statistics), which keep ``S``.

A stage's value must be used only by the stage itself, except its last one; where a middle
value is used elsewhere the stage ends there. Elementwise ops come from the kit's chain
(``lower_node``) and its one formula table.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from agents.coders.kit.chain import BOOLEAN_OPS, Operand, Step
from agents.coders.kit.chain_trace import (
    ChainBuilder,
    is_pointwise_node,
    lower_node,
    trace_module,
)
from agents.coders.kit.libops import library_kind
from tools.errors import ProblemError

Kind = Literal["map", "sum", "mean", "max", "min", "lse", "softmax", "log_softmax", "norm"]
NORMALIZE: frozenset[str] = frozenset({"softmax", "log_softmax", "norm"})
"""Kinds whose result keeps the shape they read (the post chain runs per element)."""


@dataclass(frozen=True)
class Reduction:
    """A reduction-like node, read off the graph."""

    kind: Kind
    source: torch.fx.Node
    """The tensor it reads."""
    dims: tuple[int, ...]
    """Reduced dims of its input (non-negative)."""
    keepdim: bool = False
    groups: int = 0
    """Group norm: the number of groups (the logical shape splits the channel dim)."""
    eps: float = 0.0
    weight: Any = None
    bias: Any = None
    channel_affine: bool = False
    """The weight and bias are per channel (dim 1) rather than over the trailing dims."""


@dataclass(frozen=True)
class StageInput:
    """A tensor a stage reads: a graph value and how it lines up with the stage's shape."""

    node: str
    """The fx node (its name in the forward's code)."""
    channel: bool = False
    """A per-channel vector (shape ``[C]``) aligned with dim 1."""


@dataclass(frozen=True)
class Stage:
    """One fused kernel."""

    index: int
    kind: Kind
    rank: int
    """Rank of the shape ``S`` the pre chain runs over."""
    dims: tuple[int, ...]
    """Reduced dims of the logical shape (the tiled last dim for a map)."""
    keepdim: bool
    groups: int
    eps: float
    inputs: tuple[StageInput, ...]
    pre_operands: tuple[tuple[str, int], ...]
    """(kernel name, input index) of the tensors the pre chain loads."""
    pre_steps: tuple[Step, ...]
    pre_result: str
    post_operands: tuple[tuple[str, int], ...]
    post_steps: tuple[Step, ...]
    post_result: str
    output: str
    """The fx node whose value the stage computes."""
    out_rank: int
    summary: str

    @property
    def logical_rank(self) -> int:
        """Rank of the shape the kernel indexes (group norm splits channels and flattens)."""
        return 4 if self.groups else self.rank


@dataclass
class _Open:
    """A stage being built."""

    nodes: list[torch.fx.Node] = field(default_factory=list)
    red: Reduction | None = None
    red_node: torch.fx.Node | None = None
    post: list[torch.fx.Node] = field(default_factory=list)


def _meta(node: Any) -> Any:
    return node.meta.get("tensor_meta") if isinstance(node, torch.fx.Node) else None


def _shape(node: torch.fx.Node) -> tuple[int, ...]:
    return tuple(int(s) for s in _meta(node).shape)


def _float(node: Any) -> bool:
    meta = _meta(node)
    return meta is not None and hasattr(meta, "dtype") and meta.dtype.is_floating_point


def _dims(dim: Any, rank: int) -> tuple[int, ...] | None:
    if dim is None:
        return tuple(range(rank))
    if isinstance(dim, int):
        dim = (dim,)
    if not isinstance(dim, (list, tuple)) or not all(isinstance(d, int) for d in dim):
        return None
    out = tuple(sorted({d % rank for d in dim})) if rank else ()
    return out or None


def _arg(node: torch.fx.Node, i: int, name: str, default: Any = None) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


_SUM = {torch.sum: "sum", torch.mean: "mean", torch.amax: "max", torch.amin: "min",
        torch.logsumexp: "lse"}  # fmt: skip
_SUM_METHODS = {"sum": "sum", "mean": "mean", "amax": "max", "amin": "min", "logsumexp": "lse"}
_SOFTMAX = {torch.softmax: "softmax", F.softmax: "softmax", torch.log_softmax: "log_softmax",
            F.log_softmax: "log_softmax"}  # fmt: skip
_ADAPTIVE = {F.adaptive_avg_pool1d: 1, F.adaptive_avg_pool2d: 2, F.adaptive_avg_pool3d: 3}
_ADAPTIVE_MODULES = {nn.AdaptiveAvgPool1d: 1, nn.AdaptiveAvgPool2d: 2, nn.AdaptiveAvgPool3d: 3}


def _global_size(size: Any, n: int) -> bool:
    sizes = size if isinstance(size, (list, tuple)) else (size,) * n
    return len(sizes) == n and all(s == 1 for s in sizes)


def _norm_module(node: torch.fx.Node, mod: nn.Module) -> Reduction | None:
    x = node.args[0] if node.args else None
    if not isinstance(x, torch.fx.Node) or _meta(x) is None:
        return None
    rank = len(_shape(x))
    path = f"self.{node.target}"
    if isinstance(mod, nn.GroupNorm) and rank >= 2:
        w = f"{path}.weight" if mod.affine else None
        b = f"{path}.bias" if mod.affine else None
        return Reduction("norm", x, (), groups=mod.num_groups, eps=mod.eps, weight=w, bias=b,
                         channel_affine=True)  # fmt: skip
    if isinstance(mod, nn.LayerNorm):
        k = len(mod.normalized_shape)
        w = f"{path}.weight" if mod.weight is not None else None
        b = f"{path}.bias" if mod.bias is not None else None
        return Reduction("norm", x, tuple(range(rank - k, rank)), eps=mod.eps, weight=w, bias=b)
    if isinstance(mod, (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)):
        if mod.track_running_stats and not mod.training:
            return None
        w = f"{path}.weight" if mod.affine else None
        b = f"{path}.bias" if mod.affine else None
        return Reduction("norm", x, tuple(range(2, rank)), eps=mod.eps, weight=w, bias=b,
                         channel_affine=True)  # fmt: skip
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        if not mod.training and mod.track_running_stats:
            return None  # running statistics: elementwise, not a reduction
        w = f"{path}.weight" if mod.affine else None
        b = f"{path}.bias" if mod.affine else None
        dims = (0, *range(2, rank))
        return Reduction("norm", x, dims, eps=mod.eps, weight=w, bias=b, channel_affine=True)
    return None


def reduction_of(node: torch.fx.Node, gm: torch.fx.GraphModule) -> Reduction | None:
    """The reduction-like op a node is, or ``None``."""
    x = node.args[0] if node.args else node.kwargs.get("input")
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        if type(mod) in _ADAPTIVE_MODULES and isinstance(x, torch.fx.Node):
            n = _ADAPTIVE_MODULES[type(mod)]
            rank = len(_shape(x))
            if _global_size(mod.output_size, n) and rank >= n + 1:
                return Reduction("mean", x, tuple(range(rank - n, rank)), keepdim=True)
            return None
        if isinstance(mod, nn.Softmax | nn.LogSoftmax) and isinstance(x, torch.fx.Node):
            kind: Kind = "softmax" if isinstance(mod, nn.Softmax) else "log_softmax"
            dims = _dims(mod.dim, len(_shape(x))) if mod.dim is not None else None
            return Reduction(kind, x, dims) if dims and len(dims) == 1 else None
        return _norm_module(node, mod)
    if not isinstance(x, torch.fx.Node) or not _float(x):
        return None
    rank = len(_shape(x))
    target = node.target
    if node.op == "call_method":
        name = str(target)
        if name in _SUM_METHODS:
            target = {v: k for k, v in _SUM.items()}[_SUM_METHODS[name]]
        elif name in ("max", "min"):
            target = torch.max if name == "max" else torch.min
        elif name in ("softmax", "log_softmax"):
            target = torch.softmax if name == "softmax" else torch.log_softmax
        else:
            return None
    elif node.op != "call_function":
        return None
    if target in _SUM:
        kind = _SUM[target]  # type: ignore[assignment]
        if kind != "lse" and (node.kwargs.get("dtype") is not None):
            return None
        dim = _arg(node, 1, "dim", None)
        if kind == "lse" and dim is None:
            return None
        dims = _dims(dim, rank)
        keep = bool(_arg(node, 2, "keepdim", False))
        return Reduction(kind, x, dims, keepdim=keep) if dims else None
    if target in (torch.max, torch.min):
        dim = _arg(node, 1, "dim", None)
        if isinstance(dim, torch.fx.Node):
            return None  # torch.max(x, y): elementwise, the chain's
        kind = "max" if target is torch.max else "min"
        dims = _dims(dim, rank)
        keep = bool(_arg(node, 2, "keepdim", False))
        return Reduction(kind, x, dims, keepdim=keep) if dims else None
    if target in _SOFTMAX:
        dims = _dims(_arg(node, 1, "dim", None), rank) if _arg(node, 1, "dim") is not None else None
        if node.kwargs.get("dtype") is not None or not dims or len(dims) != 1:
            return None
        return Reduction(_SOFTMAX[target], x, dims)  # type: ignore[arg-type]
    if target in _ADAPTIVE:
        n = _ADAPTIVE[target]
        if _global_size(_arg(node, 1, "output_size"), n) and rank >= n + 1:
            return Reduction("mean", x, tuple(range(rank - n, rank)), keepdim=True)
        return None
    if target is F.group_norm and rank >= 2:
        groups = _arg(node, 1, "num_groups")
        if not isinstance(groups, int):
            return None
        return Reduction("norm", x, (), groups=groups, eps=float(_arg(node, 4, "eps", 1e-5)),
                         weight=_arg(node, 2, "weight"), bias=_arg(node, 3, "bias"),
                         channel_affine=True)  # fmt: skip
    if target is F.layer_norm:
        shape = _arg(node, 1, "normalized_shape")
        k = len(shape) if isinstance(shape, (list, tuple)) else 1
        return Reduction("norm", x, tuple(range(rank - k, rank)),
                         eps=float(_arg(node, 4, "eps", 1e-5)),
                         weight=_arg(node, 2, "weight"), bias=_arg(node, 3, "bias"))  # fmt: skip
    return None


def _is_value_pick(node: torch.fx.Node, red_node: torch.fx.Node | None) -> bool:
    """``torch.max(x, dim)[0]`` / ``.values``: the values of a max/min over a dim."""
    if red_node is None or node.args[:1] != (red_node,):
        return False
    if node.op == "call_function" and node.target is operator.getitem:
        return node.args[1] == 0
    if node.op == "call_function" and node.target is getattr:
        return node.args[1] == "values"
    return False


@dataclass(frozen=True)
class Program:
    """A forward as kept torch calls and fused stages."""

    gm: torch.fx.GraphModule
    stages: tuple[Stage, ...]
    members: dict[str, int]
    """fx node name -> the stage computing it (every node a stage absorbs)."""
    kept: tuple[str, ...]
    """The ops kept as torch calls, as the report names them."""
    forward_args: tuple[str, ...]
    conv_ranks: tuple[int, ...] = ()
    """Input ranks (4, 5) of the 2-D/3-D convolutions: a channels-last layout applies."""


def _label(node: torch.fx.Node, gm: torch.fx.GraphModule) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__name__
    return str(getattr(node.target, "__name__", node.target))


def _constant(node: torch.fx.Node) -> bool:
    """A constant the tracer wrote as code (``torch.tensor(...)``, ``x.device``): no work."""
    return (
        node.op == "call_function"
        and node.target in (getattr, torch.tensor)
        and (node.target is torch.tensor or node.args[1:] == ("device",))
    )


def _partition(gm: torch.fx.GraphModule, cuts: set[torch.fx.Node]) -> list[_Open]:
    groups: list[_Open] = []
    cur: _Open | None = None
    owner: dict[torch.fx.Node, _Open] = {}

    def close() -> None:
        nonlocal cur
        if cur is not None and cur.nodes:
            groups.append(cur)
        cur = None

    def inputs_ok(node: torch.fx.Node, allowed: set[torch.fx.Node]) -> bool:
        return all(owner.get(a) is None or a in allowed for a in node.all_input_nodes)

    for node in gm.graph.nodes:
        if node.op in ("placeholder", "get_attr", "output") or _constant(node):
            continue
        if library_kind(node, gm) is not None:
            close()
            continue
        red = reduction_of(node, gm)
        if red is not None:
            if cur is None or cur.red is not None or not inputs_ok(node, set(cur.nodes)):
                close()
                cur = _Open()
            if cur.nodes and red.source not in cur.nodes:
                close()
                cur = _Open()
            cur.nodes.append(node)
            cur.red, cur.red_node = red, node
            owner[node] = cur
        elif cur is not None and _is_value_pick(node, cur.red_node):
            cur.nodes.append(node)
            owner[node] = cur
        elif is_pointwise_node(node, gm):
            if cur is not None and cur.red is not None:
                post_ok = set(cur.post) | {cur.nodes[-1]}
                same = cur.red.kind in NORMALIZE or _shape(node) == _shape(cur.nodes[-1])
                if not (same and inputs_ok(node, post_ok)):
                    close()
            if cur is not None and not inputs_ok(node, set(cur.nodes)):
                close()
            if cur is None:
                cur = _Open()
            cur.nodes.append(node)
            if cur.red is not None:
                cur.post.append(node)
            owner[node] = cur
        else:
            close()
            continue
        if node in cuts:
            close()
    close()
    return groups


def _leaks(groups: list[_Open]) -> set[torch.fx.Node]:
    """Middle values of a stage used outside it: the stage must end there."""
    found = set()
    for g in groups:
        members = set(g.nodes)
        for node in g.nodes[:-1]:
            if any(u not in members for u in node.users):
                found.add(node)
    return found


def build_program(source: str) -> Program:
    """The forward of ``source`` as kept torch calls and fused stages.

    Raises:
        ProblemError: It does not trace, has no library op, or no stage to fuse.
    """
    gm, _ = trace_module(source)
    nodes = list(gm.graph.nodes)
    if not any(library_kind(n, gm) for n in nodes):
        raise ProblemError("the forward has no convolution or matrix product to keep.")
    cuts: set[torch.fx.Node] = set()
    for _ in range(len(nodes)):
        groups = _partition(gm, cuts)
        leaks = _leaks(groups) - cuts
        if not leaks:
            break
        cuts |= leaks
    stages = []
    members: dict[str, int] = {}
    for g in groups:
        try:
            stage = _lower(len(stages), g, gm)
        except ProblemError:
            continue
        stages.append(stage)
        for n in g.nodes:
            members[n.name] = stage.index
    conv_ranks = _conv_ranks(gm)
    if not stages and not conv_ranks:
        raise ProblemError("nothing after the library op fuses into a kernel.")
    kept = tuple(dict.fromkeys(
        _label(n, gm) for n in nodes
        if n.op in ("call_function", "call_method", "call_module") and n.name not in members
        and not (n.op == "call_function" and n.target in (getattr, torch.tensor))
    ))  # fmt: skip
    forward_args = tuple(str(n.target) for n in nodes if n.op == "placeholder")
    if any(a.startswith("*") for a in forward_args):
        raise ProblemError("forward takes *args; cannot split it.")
    return Program(gm, tuple(stages), members, kept, forward_args, conv_ranks)


def _conv_ranks(gm: torch.fx.GraphModule) -> tuple[int, ...]:
    """Ranks of the 2-D/3-D convolutions' inputs (the ones a channels-last layout applies to)."""
    ranks = []
    for n in gm.graph.nodes:
        if library_kind(n, gm) != "conv" or not n.args or not isinstance(n.args[0], torch.fx.Node):
            continue
        meta = _meta(n.args[0])
        if meta is not None and hasattr(meta, "shape") and len(meta.shape) in (4, 5):
            ranks.append(len(meta.shape))
    return tuple(sorted(set(ranks)))


class _Inputs:
    """The external tensors of one stage, each loaded under a kernel name."""

    def __init__(self) -> None:
        self.inputs: list[StageInput] = []
        self.pre: list[tuple[str, int]] = []
        self.post: list[tuple[str, int]] = []
        self.count = 0

    def add(self, b: ChainBuilder, key: str, expr: str, post: bool, channel: bool = False) -> str:
        entry = StageInput(expr, channel)
        if entry not in self.inputs:
            self.inputs.append(entry)
        index = self.inputs.index(entry)
        name = f"in{self.count}"
        self.count += 1
        (self.post if post else self.pre).append((name, index))
        b.operands.append(Operand(name=name, expr=expr, kind="full"))
        b.names[key] = name
        return name


def _bind(b: ChainBuilder, ins: _Inputs, node: torch.fx.Node, members: set, post: bool) -> None:
    """Give every outside tensor a node reads a kernel name (post: loaded after the reduce)."""
    for a in node.all_input_nodes:
        if a in members or (a.name in b.names and not post):
            continue
        if post and a.name in b.names and b.names[a.name] in {n for n, _ in ins.post}:
            continue
        if not _float(a) or not hasattr(_meta(a), "shape"):
            raise ProblemError(f"{a.name} is not a float tensor; the stage cannot load it.")
        ins.add(b, a.name, a.name, post)


def _affine(b: ChainBuilder, ins: _Inputs, red: Reduction, value: str) -> str:
    """Weight and bias of a norm, as post-chain steps over loaded vectors."""
    for attr, op in ((red.weight, "mul"), (red.bias, "add")):
        if attr is None:
            continue
        if isinstance(attr, torch.fx.Node):
            expr = attr.name
        elif isinstance(attr, str):
            expr = attr
        else:
            raise ProblemError("a norm's weight is neither a tensor nor a parameter.")
        operand = ins.add(b, f"__{op}_{expr}", expr, True, channel=red.channel_affine)
        value = b.emit(op, value, operand)
    return value


def _lower(index: int, g: _Open, gm: torch.fx.GraphModule) -> Stage:
    members = set(g.nodes)
    red, red_node = g.red, g.red_node
    pre_nodes = g.nodes if red_node is None else g.nodes[: g.nodes.index(red_node)]
    last = g.nodes[-1]
    if red is None:
        shape = _shape(last)
    else:
        if red.source in members and red.source not in pre_nodes:
            raise ProblemError("the reduction reads a value computed after it.")
        shape = _shape(red.source)
    if not shape:
        raise ProblemError("a 0-d stage is not worth a kernel.")
    b = ChainBuilder(shape)
    ins = _Inputs()
    for node in pre_nodes:
        _bind(b, ins, node, members, post=False)
        b.names[node.name] = lower_node(b, node, gm)
    if red is None:
        pre_result = b.names[last.name]
        if len(g.nodes) < 2:
            raise ProblemError("one elementwise op alone saves nothing over eager.")
        kind: Kind = "map"
        dims: tuple[int, ...] = (len(shape) - 1,)
    else:
        source = red.source
        if source.name not in b.names:
            if source in members:
                raise ProblemError("the reduction's input has no value in the stage.")
            ins.add(b, source.name, source.name, False)
        pre_result = b.names[source.name]
        kind = red.kind
        dims = (2, 3) if red.groups else red.dims
    if not isinstance(pre_result, str):
        raise ProblemError("the stage's input is a constant.")
    if pre_result in {o.name for o in b.operands}:
        pre_result = b.emit("identity", pre_result)
    n_pre = len(b.steps)
    post_result = pre_result
    if red is not None:
        value = _affine(b, ins, red, "red") if red.kind == "norm" else "red"
        for pick in g.nodes[g.nodes.index(red_node) :]:  # type: ignore[arg-type]
            if pick is red_node or _is_value_pick(pick, red_node):
                b.names[pick.name] = value
        for node in g.post:
            _bind(b, ins, node, members, post=True)
            b.names[node.name] = lower_node(b, node, gm)
        post_result = b.names[last.name]  # type: ignore[assignment]
        if not isinstance(post_result, str):
            raise ProblemError("the stage's result is a constant.")
        if post_result == "red":
            post_result = b.emit("identity", "red")
    if any(s.var == post_result and s.op in BOOLEAN_OPS for s in b.steps):
        raise ProblemError("the stage yields a boolean tensor.")
    if not _float(last) or not hasattr(_meta(last), "shape"):
        raise ProblemError("the stage yields no float tensor.")
    return Stage(
        index=index,
        kind=kind,
        rank=len(shape),
        dims=dims,
        keepdim=red.keepdim if red else False,
        groups=red.groups if red else 0,
        eps=red.eps if red else 0.0,
        inputs=tuple(ins.inputs),
        pre_operands=tuple(ins.pre),
        pre_steps=tuple(b.steps[:n_pre]),
        pre_result=pre_result,
        post_operands=tuple(ins.post),
        post_steps=tuple(b.steps[n_pre:]),
        post_result=post_result if red is not None else pre_result,
        output=last.name,
        out_rank=len(_shape(last)),
        summary=" -> ".join(b.ops[:n_pre] + ([kind] if red else []) + b.ops[n_pre:]),
    )
